"""Issue 13 build-speed figures: chunk-encoding throughput against sentence-transformers fp32, and what
the faster encoders cost in quality on SciFact.

    python benchmarks/encode_throughput.py [--data ../shared/data/scifact] [--passages 2000] [--no-scifact]

1. The same ``--passages`` SciFact passages (title + abstract, max length 256), the same thread count
   (one per core), one run each, in this order: sentence-transformers fp32 (``encode``, batch 32), then
   encoderkit's chunk encoders with token-budget batches (8,192 padded tokens): fp32 (torch), bf16
   (torch CPU autocast; only where the CPU has AVX512-BF16/AMX), ONNX Runtime fp32 and per-channel int8.
   Each: passages/s, speed-up over sentence-transformers, mean and minimum cosine to its vectors.
2. Unless ``--no-scifact``: each variant's SciFact test nDCG@10 with exact dense search over the whole
   corpus (5,183 documents; queries always fp32, as the index encodes them), against fp32's; this is
   the issue's "nDCG@10 within 0.005" and also what a full SciFact build spends encoding.
Writes benchmarks/results/encode-throughput/{results.json,results.md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine
from _common import corpus_passages as passages

OUT = RESULTS / "encode-throughput"
BUDGET = 8192


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--no-scifact", action="store_true")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.models.export import export_onnx
    from encoderkit.models.heads.encoder import Encoder
    from encoderkit.models.ref import resolve_model
    from encoderkit.retrieval.metrics import evaluate
    from encoderkit.runtime import configure_torch, cpu_has_bf16, n_threads

    configure_torch()
    ids, texts = passages(args.data)
    sample = texts[: args.passages]
    path = resolve_model("default").path
    res = {"machine": machine(), "threads": n_threads(), "torch_threads": torch.get_num_threads(), "passages": len(sample)}
    st = SentenceTransformer(str(path), device="cpu")
    st.max_seq_length = 256
    st.encode(sample[:32], batch_size=32)  # warm-up
    t = time.perf_counter()
    ref = st.encode(sample, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    st_speed = len(sample) / (time.perf_counter() - t)
    rows = {"sentence-transformers fp32": {"passages_per_second": round(st_speed, 1), "speedup": 1.0, "mean_cosine": 1.0}}
    print(rows, flush=True)
    export_onnx("default")
    export_onnx("default", quantize="int8")
    variants = {"fp32 (torch)": "torch", "ONNX Runtime fp32": "onnx", "ONNX Runtime int8 per-channel": "onnx-int8"}
    if cpu_has_bf16():
        variants = {"fp32 (torch)": "torch", "bf16 (torch autocast)": "torch-bf16", **dict(list(variants.items())[1:])}
    encoders = {}
    for name, backend in variants.items():
        enc = Encoder.load("default", backend=backend, max_length=256)
        encoders[name] = enc
        enc.encode(sample[:32], token_budget=BUDGET)
        t = time.perf_counter()
        got = enc.encode(sample, batch_size=32, token_budget=BUDGET)
        speed = len(sample) / (time.perf_counter() - t)
        cos = np.sum(got * ref, axis=1)
        rows[name] = {
            "backend": backend,
            "passages_per_second": round(speed, 1),
            "speedup": round(speed / st_speed, 2),
            "mean_cosine": round(float(cos.mean()), 5),
            "min_cosine": round(float(cos.min()), 5),
        }
        print(name, rows[name], flush=True)
    res["throughput"] = rows
    if not args.no_scifact:
        data = load_beir(args.data, "test")
        qids = sorted(data.queries)
        queries = encoders["fp32 (torch)"].encode([data.queries[q] for q in qids], batch_size=64)
        for name, enc in encoders.items():
            if name == "ONNX Runtime fp32":
                continue  # the same vectors as torch fp32 to ~1e-6 (checked at export)
            t = time.perf_counter()
            vecs = enc.encode(texts, batch_size=32, token_budget=BUDGET)
            secs = time.perf_counter() - t
            top = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
            run = {q: [ids[j] for j in row] for q, row in zip(qids, top)}
            ndcg = evaluate(data.qrels, run, metrics=("ndcg@10",))["mean"]["ndcg@10"]
            rows[name]["scifact_ndcg@10"] = round(float(ndcg), 4)
            rows[name]["scifact_corpus_encode_seconds"] = round(secs, 1)
            print(name, ndcg, secs, flush=True)
        base = rows["fp32 (torch)"]["scifact_ndcg@10"]
        for r in rows.values():
            if "scifact_ndcg@10" in r:
                r["ndcg_drop_vs_fp32"] = round(base - r["scifact_ndcg@10"], 4)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    lines = [
        f"# Chunk-encoding throughput, all-MiniLM-L6-v2, {len(sample)} SciFact passages (max length 256)",
        "",
        f"Machine: {m['cpu']}, {m['cores_available']} cores, {res['threads']} threads; {m['date']}. One run each.",
        "",
        "| encoder | passages/s | vs sentence-transformers | mean cosine | min cosine | SciFact nDCG@10 | drop "
        "| corpus encode s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['passages_per_second']} | {r['speedup']:.2f}x | {r['mean_cosine']} | {r.get('min_cosine', 1.0)} | "
            f"{r.get('scifact_ndcg@10', '–')} | {r.get('ndcg_drop_vs_fp32', '–')} | "
            f"{r.get('scifact_corpus_encode_seconds', '–')} |"
        )
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
