"""Issue 9 incremental figures: adding 1% new documents to a ColBERT index vs a full build, and the
result after add + delete against a rebuild with the same centroids.

    python benchmarks/colbert_incremental.py [--index build/colbert-scifact] [--data ../shared/data/scifact]

On a copy of the index (bm25, dense, colbert):
1. full build cost of the ColBERT index: encoding every chunk with the ColBERT model (timed when the
   index was built, benchmarks/colbert_scifact.py) plus its full build from the stored payloads
   (k-means, compression, inverted file), timed here; every retriever rebuilt from payloads too;
2. remove 1% of the documents (a seeded sample: deletion markers), then add them back as new documents
   (they get new chunk ids; automatic merges off, so they land in one new segment with its own
   centroids): the add is timed end to end (chunking, encoding with both models, SQLite, commit of all
   three retrievers) and per retriever (encoding, segment files);
3. `optimize` merges the two segments into one, keeping the large segment's centroids (timed); the
   merged colbert segment is compared with one built from every live chunk's stored payload with the
   same centroids: arrays and the top 100 of every test query must be identical.
Writes benchmarks/results/colbert-incremental/{results.json,results.md}.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

OUT = RESULTS / "colbert-incremental"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("build/colbert-scifact"))
    ap.add_argument("--work", type=Path, default=Path("build/colbert-incremental"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--share", type=float, default=0.01)
    args = ap.parse_args()
    import numpy as np

    from encoderkit import Index
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.index.write.commit import ChunkReader
    from encoderkit.retrieval.base import ChunkSet
    from encoderkit.retrieval.colbert.retriever import ColBERTRetriever

    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(args.index, args.work)
    (args.work / "write.lock").unlink(missing_ok=True)
    idx = Index.open(args.work)
    idx.set_merge_policy(auto=False)
    res = {"machine": machine(), "index": str(args.index), "documents": len(idx)}
    t = time.perf_counter()
    idx.sync([], recluster=True, export_onnx=False, show_progress=False)
    res["all_retrievers_full_build_from_payloads_seconds"] = round(time.perf_counter() - t, 2)
    idx.optimize(show_progress=False)
    colbert = idx.snapshot().retrievers["colbert"]

    def live_chunks(retriever) -> ChunkSet:
        ids = np.array([r[0] for r in idx.store.chunk_rows(idx.generation, limit=10**9)], np.int64)
        return ChunkReader(idx.store).chunk_set(retriever, ids)

    chunks = live_chunks(colbert.template)
    t = time.perf_counter()
    ColBERTRetriever(colbert.settings, idx.context).build(chunks)
    res["colbert_full_build_seconds"] = round(time.perf_counter() - t, 2)

    corpus = {}
    for line in open(args.data / "corpus.jsonl"):
        d = json.loads(line)
        corpus[d["_id"]] = d
    picked = random.Random(0).sample(sorted(corpus), int(round(len(corpus) * args.share)))
    res["changed_documents"] = len(picked)
    idx.remove(picked)  # delete 1% ...
    t = time.perf_counter()
    report = idx.add(
        [
            {
                "id": d,
                "title": corpus[d]["title"],
                "text": corpus[d]["text"],
                "path": str(args.data / "corpus.jsonl"),
                "fmt": "beir",
            }
            for d in picked
        ],
        show_progress=False,
        export_onnx=False,
    )  # ... and add them as new documents
    res["add_seconds_end_to_end"] = round(time.perf_counter() - t, 2)
    res["add_report"] = {k: getattr(report, k) for k in ("added", "chunks_encoded", "incremental", "encode_seconds")}
    res["add_retriever_seconds"] = idx.manifest["build"]["last_update"]["retriever_seconds"]
    t = time.perf_counter()
    idx.remove(picked[: len(picked) // 2])
    res["delete_half_of_them_seconds"] = round(time.perf_counter() - t, 2)
    res["segments_before_optimize"] = len(idx.manifest["segments"])
    t = time.perf_counter()
    idx.optimize(show_progress=False)
    res["optimize_seconds"] = round(time.perf_counter() - t, 2)
    # ColBERT's share: its encoding + its artifacts, for the add and for a full build of the index
    full = json.loads((RESULTS / "colbert-scifact" / "results.json").read_text())["index"]
    full_encode = (full.get("encode_seconds") or {}).get("colbert")
    add_cost = report.encode_seconds.get("colbert", 0.0) + res["add_retriever_seconds"]["colbert"]
    res["colbert_add_seconds"] = round(add_cost, 2)
    if full_encode:
        res["colbert_full_build_seconds_with_encoding"] = round(full_encode + res["colbert_full_build_seconds"], 1)
        res["colbert_add_share_of_full_build"] = round(add_cost / res["colbert_full_build_seconds_with_encoding"], 4)

    # the merged segment against a build from its payloads with the same centroids
    live = idx.snapshot().retrievers["colbert"].parts[0].retriever
    fresh = ColBERTRetriever(live.settings, idx.context)
    fresh.build(live_chunks(fresh), codec=live.index.codec)
    same_arrays = all(
        np.array_equal(np.asarray(getattr(fresh.index, n)), np.asarray(getattr(live.index, n)))
        for n in ("codes", "residuals", "doclens", "ivf_docs", "ivf_offsets")
    )
    queries = list(load_beir(args.data, "test").queries.values())
    same_results = all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for a, b in zip(fresh.search(queries, 100), live.search(queries, 100))
    )
    res["identical_to_rebuild_with_same_centroids"] = {"arrays": bool(same_arrays), "top100_of_300_queries": bool(same_results)}
    res["drift_after_update"] = live.stats()["drift"]
    idx.close()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    L = [
        "# ColBERT incremental updates on SciFact",
        "",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for k, v in res.items():
        if k != "machine":
            L.append(f"| {k} | {json.dumps(v)} |")
    (OUT / "results.md").write_text("\n".join(L) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
