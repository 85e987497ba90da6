"""Sharded search on SciFact: identical answers to one index, and what 2 and 4 shards cost per query.

    python benchmarks/sharded_search.py --data ../shared/data/scifact --source build/bench-scifact

``--source``: a SciFact index built with the default settings (`encoderkit index corpus.jsonl --index
build/bench-scifact`, built first when missing). The sharded copies (2 and 4 shards) index the same
corpus file and take each chunk's vector from the source index instead of encoding it again (the same
model, chunking and text, so the same vectors), so this script spends its time on searching. For each
of bm25, dense and hybrid, all 300 test queries are searched through: the single index, the sharded
index in this process (shards scored one after another), and the sharded index through one Ray actor per
shard (when Ray is installed). Top-10 document ids must be identical and scores equal to 1e-5; latency
p50/p95 includes query encoding (ONNX Runtime, the indexes' default).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, percentiles, write_result

MODES = ("bm25", "dense", "hybrid")


class SourceVectors:
    """An ``encode_with`` strategy for an index build: chunk here, take payloads from another index with
    the same model and chunking (checked chunk by chunk against its stored texts)."""

    def __init__(self, source):
        self.source = source
        store, gen = source.store, source.generation
        self.by_doc: dict[str, list] = {}
        docs = store.visible_documents(gen)
        rowid_to_id = {int(r["id"]): d for d, r in docs.items()}
        for row in store.conn.execute("SELECT id, doc, ord, text FROM chunks ORDER BY doc, ord"):
            doc_id = rowid_to_id.get(int(row["doc"]))
            if doc_id is not None:
                self.by_doc.setdefault(doc_id, []).append((int(row["id"]), row["text"]))

    def encoded(self, docs, manifest, path, names, progress=None):
        from encoderkit.index.write.encode import chunk_document
        from encoderkit.index.write.plan import ChunkSettings

        tok = self.source.encoder.raw_tokenizer()
        chunking = ChunkSettings.from_dict(manifest["chunking"])
        window = min(chunking.size, int(manifest["model"]["max_length"]) - 2)
        for doc in docs:
            rows = chunk_document(doc, tok, chunking, window)
            held = self.by_doc[doc.doc_id]
            if [t for _, t in held] != [r["text"] for r in rows]:
                raise SystemExit(f"chunks of {doc.doc_id} differ from the source index's: rebuild the source")
            payloads = {}
            for name in names:
                got = self.source.store.payloads_of(name, [c for c, _ in held])
                payloads[name] = [got[c][1] for c, _ in held]
            yield doc, rows, payloads


def timed(index, queries: list[str], mode: str) -> tuple[list, list[float]]:
    out, ms = [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, mode=mode, k=10)
        ms.append((time.perf_counter() - t) * 1000)
        out.append([(h.doc_id, float(h.score)) for h in hits])
    return out, ms


def compare(a: list, b: list) -> dict:
    same_ids = sum(1 for x, y in zip(a, b) if [d for d, _ in x] == [d for d, _ in y])
    diffs = [abs(s - t) for x, y in zip(a, b) for (_, s), (_, t) in zip(x, y)]
    return {"queries_identical_top10": same_ids, "queries": len(a), "max_score_diff": float(max(diffs, default=0.0))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--source", type=Path, default=Path("build/bench-scifact"))
    ap.add_argument("--work", type=Path, default=Path("build/sharded-search"))
    ap.add_argument("--shards", default="2,4")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()

    from encoderkit import Index
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.index.shards.sharded import ShardedIndex

    corpus = args.data / "corpus.jsonl"
    if not (args.source / "manifest.json").is_file():
        src = Index.create(args.source, encoder="default")
        src.sync([corpus])
        src.close()
    source = Index.open(args.source, readonly=True)
    queries = list(load_beir(args.data, "test").queries.values())
    result = {
        "benchmark": "sharded_search",
        "machine": machine(),
        "queries": len(queries),
        "source": str(args.source),
        "runs": [],
    }
    reference = {}
    for mode in MODES:
        timed(source, queries[:20], mode)  # warm-up
        reference[mode], ms = timed(source, queries, mode)
        result["runs"].append({"index": "one index", "shards": 1, "mode": mode, **percentiles(ms)})
        print(json.dumps(result["runs"][-1]), flush=True)
    vectors = SourceVectors(source)
    for n in [int(s) for s in args.shards.split(",")]:
        folder = args.work / f"shards-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        chunking = source.manifest["chunking"]
        six = ShardedIndex.create(
            folder, n, encoder=source.encoder, chunk_size=chunking["size"], chunk_overlap=chunking["overlap"]
        )
        t = time.perf_counter()
        six.sync([corpus], encode_with=vectors, show_progress=False)
        build_s = time.perf_counter() - t
        six.close()
        for where in ("in process", "ray actors"):
            if where == "ray actors" and args.no_ray:
                continue
            six = ShardedIndex.open(folder, readonly=True)
            if where == "ray actors":
                six.use_ray("local")
            for mode in MODES:
                timed(six, queries[:20], mode)
                got, ms = timed(six, queries, mode)
                row = {
                    "index": f"{n} shards, {where}",
                    "shards": n,
                    "mode": mode,
                    **percentiles(ms),
                    **compare(reference[mode], got),
                }
                row["build_seconds_without_encoding"] = round(build_s, 1)
                result["runs"].append(row)
                print(json.dumps(row), flush=True)
            six.close()
        if not args.no_ray:
            from encoderkit.runtime.ray_cluster import disconnect

            disconnect()
    base = {r["mode"]: r for r in result["runs"] if r["shards"] == 1}
    for r in result["runs"]:
        r["p50_overhead_ms"] = round(r["p50_ms"] - base[r["mode"]]["p50_ms"], 2)
    (RESULTS / "sharded-search").mkdir(parents=True, exist_ok=True)
    out = write_result("sharded-search/results", result)
    (RESULTS / "sharded-search" / "results.md").write_text(table(result))
    print(table(result))
    print(f"wrote {out}")


def table(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Sharded search, SciFact test ({result['queries']} queries), {m['cores_available']} cores ({m['cpu']}), {m['date']}",
        "",
        "| index | mode | p50 ms | p95 ms | p50 overhead ms | identical top-10 | max score diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        same = f"{r['queries_identical_top10']}/{r['queries']}" if "queries_identical_top10" in r else "reference"
        diff = f"{r['max_score_diff']:.1e}" if "max_score_diff" in r else ""
        lines.append(
            f"| {r['index']} | {r['mode']} | {r['p50_ms']} | {r['p95_ms']} | {r['p50_overhead_ms']:+} | {same} | {diff} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
