"""Issue 9 compression table: residual bits x token pooling factor for the colbert retriever on SciFact.

    python benchmarks/colbert_compression.py [--index build/colbert-scifact] [--data ../shared/data/scifact]

For each configuration the colbert artifacts are rebuilt from the index's stored float16 payloads (no
re-encoding; k-means centroids, residual buckets and pooling redone) with ``Index.reconfigure``; then the
300 test queries are searched with ``--mode colbert`` one at a time (query encoding included, model
loaded). Reported: nDCG@10 (loss against float16 = uncompressed), bytes per token (centroid id +
residual; and with the centroids and inverted file), the colbert folder's size, build time, query
p50/p95. The index is left at the default configuration (2 bits, no pooling).
Writes benchmarks/results/colbert-compression/{results.json,results.md,tradeoff.png}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, dir_size, machine, percentiles

OUT = RESULTS / "colbert-compression"
CONFIGS = [(0, 1), (4, 1), (2, 1), (1, 1), (4, 2), (2, 2), (1, 2)]  # (nbits, pool factor); 0 bits = float16


def run(index_dir: Path, data: Path, nbits: int, pool: int) -> dict:
    from encoderkit import Index
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.retrieval.metrics import evaluate

    idx = Index.open(index_dir)
    idx.reconfigure(retriever_settings={"colbert": {"nbits": nbits, "pool_factor": pool}})
    t = time.perf_counter()
    report = idx.sync([], show_progress=False, export_onnx=False, recluster=True)
    build_s = time.perf_counter() - t
    assert report.chunks_encoded == 0 and report.payloads_filled == 0
    stats = idx.manifest["build"]["retriever_stats"]["colbert"]
    folders = [idx.path / seg["name"] / "colbert" for seg in idx.manifest["segments"]]
    test = load_beir(data, "test")
    ids = idx.doc_ids()
    idx.search("warm up", mode="colbert")
    ms, run_ = [], {}
    for qid, text in test.queries.items():
        t = time.perf_counter()
        r = idx.rank_many([text], mode="colbert", depth=100)[0]
        ms.append((time.perf_counter() - t) * 1000)
        run_[qid] = [ids[k] for k in r.final.keys[:100]]
    metrics = evaluate(test.qrels, run_, metrics=("ndcg@10", "recall@100"))["mean"]
    idx.close()
    return {
        "nbits": nbits,
        "pool_factor": pool,
        "ndcg@10": round(metrics["ndcg@10"], 4),
        "recall@100": round(metrics["recall@100"], 4),
        "tokens": stats["tokens"],
        "bytes_per_token": stats["bytes_per_token"],
        "total_bytes_per_token": stats["total_bytes_per_token"],
        "bytes_per_original_token": None,
        "colbert_mb": round(sum(dir_size(f) for f in folders) / 2**20, 1),
        "build_seconds": round(build_s, 1),
        "latency": percentiles(ms),
    }


def markdown(res: dict) -> str:
    rows = res["rows"]
    ref = next((r for r in rows if r["nbits"] == 0 and r["pool_factor"] == 1), None)
    L = [
        "# ColBERT compression on SciFact test (300 queries)",
        "",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}",
        "",
    ]
    L += [
        "| bits | pool | nDCG@10 | loss vs fp16 | R@100 | vectors stored | bytes/token (stored) | bytes per original token "
        "| with centroids + IVF | colbert folder MB | build s | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        loss = f"{ref['ndcg@10'] - r['ndcg@10']:+.4f}" if ref else "—"
        L.append(
            f"| {r['nbits'] or 'fp16'} | {r['pool_factor']} | {r['ndcg@10']:.4f} | {loss} | {r['recall@100']:.4f} | "
            f"{r['tokens']:,} | {r['bytes_per_token']} | {r['bytes_per_original_token']} | {r['total_bytes_per_token']} | "
            f"{r['colbert_mb']} | {r['build_seconds']} | {r['latency']['p50_ms']} | {r['latency']['p95_ms']} |"
        )
    return "\n".join(L) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in res["rows"]:
        x = r["bytes_per_original_token"]
        ax.scatter(x, r["ndcg@10"], color="C0" if r["pool_factor"] == 1 else "C1")
        ax.annotate(f"{r['nbits'] or 'fp16'}b/p{r['pool_factor']}", (x, r["ndcg@10"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("bytes per original token (log)")
    ax.set_ylabel("SciFact test nDCG@10")
    ax.set_title("ColBERT: quality vs storage")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("build/colbert-scifact"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument(
        "--configs", nargs="*", default=None, help="BITS:POOL pairs to measure, e.g. 0:1 1:2 2:1 [all seven; fp16 first]"
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    res = {"machine": machine(), "index": str(args.index), "rows": []}
    full = None
    configs = [tuple(int(x) for x in c.split(":")) for c in args.configs] if args.configs else CONFIGS
    for nbits, pool in configs:
        row = run(args.index, args.data, nbits, pool)
        if pool == 1 and full is None:
            full = row["tokens"]
        row["bytes_per_original_token"] = round(row["bytes_per_token"] * row["tokens"] / full, 2) if full else None
        res["rows"].append(row)
        print(row, flush=True)
        (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
        (OUT / "results.md").write_text(markdown(res))
    plot(res, OUT / "tradeoff.png")
    if configs[-1] != (2, 1):
        run(args.index, args.data, 2, 1)  # leave the index at the default configuration
    print("wrote", OUT)


if __name__ == "__main__":
    main()
