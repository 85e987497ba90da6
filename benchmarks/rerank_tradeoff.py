"""Reranking quality vs latency: backends (torch fp32, ONNX fp32, ONNX int8 per-channel) x token limits.

    python benchmarks/rerank_tradeoff.py --reranker runs/scifact-reranker --index build/bench-scifact \
        [--data ../shared/data/scifact] [--depth 50] [--queries 300]

Each configuration runs `hybrid+rerank` on SciFact test through the evaluation harness (same index,
same first stage) and records nDCG@10 and the reranking stage's p50/p95 latency for `--depth`
candidates. Writes benchmarks/results/rerank_tradeoff.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reranker", required=True)
    ap.add_argument("--index", default="build/bench-scifact")
    ap.add_argument("--data", default="../shared/data/scifact")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--lengths", type=int, nargs="*", default=[256, 192, 128])
    ap.add_argument("--backends", nargs="*", default=["torch", "onnx", "onnx-int8"])
    args = ap.parse_args()

    from encoderkit.evaluation.retrieval import evaluate_retrieval
    from encoderkit.models.export import export_onnx

    for b in args.backends:
        if b != "torch":
            export_onnx(args.reranker, kind="cross-encoder", quantize="int8" if b == "onnx-int8" else None)
    rows = []
    out_root = ROOT / "benchmarks" / "results" / "rerank-tradeoff"
    for backend in args.backends:
        for length in args.lengths:
            out = out_root / f"{backend}-{length}"
            res = evaluate_retrieval(
                args.data,
                ["hybrid", "hybrid+rerank"],
                out_dir=out,
                index_dir=args.index,
                n_queries=args.queries,
                rerank_model=args.reranker,
                rerank_depth=args.depth,
                rerank_max_length=length,
                rerank_backend=backend,
                show_progress=False,
            )
            p = res["pipelines"]["hybrid+rerank"]
            runs = json.loads((out / "results.json").read_text())
            rows.append(
                {
                    "backend": backend,
                    "max_length": length,
                    "ndcg@10": p["metrics"]["ndcg@10"],
                    "hybrid_ndcg@10": res["pipelines"]["hybrid"]["metrics"]["ndcg@10"],
                    "rerank_p50_ms": p["stage_latency_ms_p50"]["rerank"],
                    "end_to_end_p50_ms": p["latency_ms"]["p50"],
                    "end_to_end_p95_ms": p["latency_ms"]["p95"],
                    "machine": runs["machine"],
                }
            )
            print(rows[-1], flush=True)
    (ROOT / "benchmarks" / "results" / "rerank_tradeoff.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        f"Reranking the hybrid top {args.depth} on SciFact test ({rows[0]['machine']['cores_available']} cores):",
        "",
        "| backend | max tokens | nDCG@10 | rerank p50 ms | end-to-end p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['max_length']} | {r['ndcg@10']:.4f} | {r['rerank_p50_ms']} | "
            f"{r['end_to_end_p50_ms']} | {r['end_to_end_p95_ms']} |"
        )
    lines.append(f"\nhybrid without reranking: nDCG@10 {rows[0]['hybrid_ndcg@10']:.4f}")
    (ROOT / "benchmarks" / "results" / "rerank_tradeoff.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for backend in args.backends:
        sub = [r for r in rows if r["backend"] == backend]
        ax.plot([r["rerank_p50_ms"] for r in sub], [r["ndcg@10"] for r in sub], marker="o", label=backend)
        for r in sub:
            ax.annotate(str(r["max_length"]), (r["rerank_p50_ms"], r["ndcg@10"]), textcoords="offset points", xytext=(4, 4))
    ax.axhline(rows[0]["hybrid_ndcg@10"], color="grey", ls="--", lw=1, label="hybrid, no reranker")
    ax.axvline(400, color="red", ls=":", lw=1, label="400 ms target")
    ax.set_xlabel(f"rerank p50 latency, {args.depth} candidates (ms)")
    ax.set_ylabel("nDCG@10")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / "benchmarks" / "results" / "rerank_tradeoff.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
