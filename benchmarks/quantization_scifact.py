"""Issue 13 quantization table on SciFact: fp32 vs int8 encoder vs int8 and binary embeddings.

    python benchmarks/quantization_scifact.py [--index build/bench-scifact-whole] [--data ../shared/data/scifact]

Starts from a copy of a whole-document SciFact index built with the bundled MiniLM (the BEIR protocol:
``title + " " + text``, one chunk per document; make it with ``bash benchmarks/eval_scifact.sh`` or
``encoderkit index ../shared/data/scifact/corpus.jsonl --index build/bench-scifact-whole --chunk-size 0``).
An older-format copy is migrated to segments by its first update (nothing re-encoded). Rows:

- embeddings: float32 (exact), int8 scalar codes, binary codes searched by Hamming distance and
  rescored (float vectors from disk / int8 codes / not rescored) — switched with
  ``Index.reconfigure(dense=...)``, which rebuilds the segments' structures from the stored vectors;
- encoder: the int8 (per-channel ONNX Runtime) and, where the CPU has it, the bf16 chunk encoder, each
  through the quality gate on SciFact's *train* queries (a dev set; the table reports test), then every
  chunk re-encoded with it (timed: the encode throughput column).

Per row: SciFact test nDCG@10 (dense, every test query), the dense retriever's resident vector memory
and bytes on disk, the index folder's size, query p50/p95 with query encoding (fp32 queries, ONNX
Runtime when exported), and chunk-encoding throughput where the row re-encoded.
Writes benchmarks/results/quantization-scifact/{results.json,results.md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, dir_size, machine, percentiles

OUT = RESULTS / "quantization-scifact"


def measure(idx, data, label: str, extra: dict | None = None) -> dict:
    from encoderkit.retrieval.metrics import evaluate

    qids = sorted(data.queries)
    ids = idx.doc_ids()
    idx.search("warm up", mode="dense")
    run, ms = {}, []
    for q in qids:
        t = time.perf_counter()
        r = idx.rank_many([data.queries[q]], mode="dense", depth=100)[0]
        ms.append((time.perf_counter() - t) * 1000)
        run[q] = [ids[k] for k in r.final.keys[:100]]
    ndcg = evaluate(data.qrels, run, metrics=("ndcg@10",))["mean"]["ndcg@10"]
    fp = idx.footprint()["components"]["dense"]
    row = {
        "row": label,
        "ndcg@10": round(float(ndcg), 4),
        "dense_resident_bytes": int(fp["memory"]),
        "dense_mapped_bytes": int(fp["mapped"]),
        "dense_disk_bytes": int(fp["disk"]),
        "index_bytes": dir_size(idx.path),
        "query": percentiles(ms),
        **(extra or {}),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("build/bench-scifact-whole"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--work", type=Path, default=Path("build/quantization-scifact"))
    args = ap.parse_args()
    from encoderkit import Index
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.index.precision_gate import beir_dev_set, choose_precision
    from encoderkit.runtime import cpu_has_bf16

    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(args.index, args.work)
    (args.work / "write.lock").unlink(missing_ok=True)
    data = load_beir(args.data, "test")
    idx = Index.open(args.work)
    idx.sync([], export_onnx=True, show_progress=False)  # an older format migrates here (nothing re-encoded)
    res = {"machine": machine(), "index": str(args.index), "chunks": int(idx.manifest["counts"]["chunks"]), "rows": []}
    rows = res["rows"]
    embeddings = [
        ("float32 embeddings, exact", {"quantization": "none", "rescore": "auto"}),
        ("int8 embeddings", {"quantization": "int8", "rescore": "none"}),
        ("binary embeddings, rescored with float vectors", {"quantization": "binary", "rescore": "float"}),
        ("binary embeddings, rescored with int8 codes", {"quantization": "binary", "rescore": "int8"}),
        ("binary embeddings, no rescoring", {"quantization": "binary", "rescore": "none"}),
    ]
    for label, dense in embeddings[::-1]:  # float32 last: the encoder rows below start from copies of it
        idx.reconfigure(retriever_settings={"dense": dense})
        idx.sync([], export_onnx=False, show_progress=False)
        rows.append(measure(idx, data, label, {"dense": dense}))
    rows.sort(key=lambda r: [e[0] for e in embeddings].index(r["row"]))
    model = dict(idx.manifest["model"])
    idx.close()
    dev = beir_dev_set(args.data, "train", max_passages=1500)  # train qrels: a dev set, never the test split
    for precision in ["int8"] + (["bf16"] if cpu_has_bf16() else []):
        chosen, gate, _ = choose_precision(model, precision, dev)
        extra = {"gate": {k: gate[k] for k in ("mean_cosine", "ndcg_drop", "speedup", "passed", "dev_queries")}}
        if not gate["passed"]:
            rows.append({"row": f"{precision} encoder", "refused_by_gate": True, **extra})
            continue
        work = args.work.with_name(f"{args.work.name}-{precision}")  # a fresh fp32 copy: nothing to re-encode back
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(args.work, work)
        enc_idx = Index.open(work)
        enc_idx.set_encode_precision(precision, gate)
        t = time.perf_counter()
        report = enc_idx.sync([], export_onnx=False, show_progress=False)
        extra["reencode_seconds"] = round(time.perf_counter() - t, 1)
        extra["chunks_per_second"] = round(report.payloads_filled / max(1e-9, report.encode_seconds.get("dense", 0.0)), 1)
        rows.append(measure(enc_idx, data, f"{precision} encoder, float32 embeddings", extra))
        enc_idx.close()
    base = rows[0]
    for r in rows:
        if "ndcg@10" in r:
            r["ndcg_share_of_fp32"] = round(r["ndcg@10"] / base["ndcg@10"], 4)
            r["vectors_smaller_by"] = round(base["dense_resident_bytes"] / max(1, r["dense_resident_bytes"]), 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    lines = [
        f"# Quantization on SciFact ({res['chunks']:,} whole-document chunks, all-MiniLM-L6-v2, dense search)",
        "",
        f"Machine: {m['cpu']}, {m['cores_available']} cores; {m['date']}.",
        "",
        "| row | nDCG@10 | share of fp32 | resident vectors | smaller by | dense on disk | index size | query p50 / p95 ms "
        "| encode chunks/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("refused_by_gate"):
            lines.append(f"| {r['row']} | refused by the quality gate: {r['gate']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['row']} | {r['ndcg@10']} | {r['ndcg_share_of_fp32']:.1%} | {r['dense_resident_bytes'] / 2**20:.2f} MB | "
            f"{r['vectors_smaller_by']}x | {r['dense_disk_bytes'] / 2**20:.1f} MB | {r['index_bytes'] / 2**20:.1f} MB | "
            f"{r['query']['p50_ms']} / {r['query']['p95_ms']} | {r.get('chunks_per_second', '–')} |"
        )
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
