"""Issue 13 at scale: one index of a million chunks on this machine — build time, size on disk, hybrid
query latency with query encoding, peak RSS while serving, approximate-index recall@10 against exact.

    python benchmarks/million_chunks.py [--data ../shared/data/scifact] [--chunks 1000000]
        [--work build/million] [--dense ivf --vectors int8 --nprobe 16 32 64] [--steps build structure serve]

**How the corpus is made.** SciFact's 5,183 abstracts (real text), chunked at 64 tokens with an overlap
of 8 (about 10.6 chunks per abstract, ~55k chunks), then repeated: copy ``c`` of every abstract gets id
``<id>~c`` and every 7th word (from word ``c % 7`` on) replaced by a word of another abstract, so copies
are not identical and BM25's statistics (document frequencies, lengths) stay those of real text. Copies
are added one per update (segments written per update, merged by the automatic policy) until the index
holds ``--chunks`` chunks, then ``optimize`` merges everything into one segment.

**Where the vectors come from (a fast path, as the issue allows).** Copy 0 — the real abstracts — is
encoded by the bundled MiniLM (bf16 autocast on CPUs that have it; cosine 0.99998 to fp32, BENCHMARKS
section 11). Encoding the other ~945k chunks would take about an hour and a half here, so each chunk of
copy ``c`` gets the vector of the same chunk of the real abstract, moved towards the vector of a random
other chunk and by Gaussian noise, then L2-normalised (cosine ~0.9 to the original, the similarity a
7th-word replacement gives): a realistic spread of near-duplicates on the real embedding manifold. The
vectors enter through :meth:`Index.add`'s ``encode_with`` hook (the one Ray builds use), so chunking,
storage, segments, merges and the dense structure are the index's own code. Queries are SciFact's real
test + train claims encoded by the real MiniLM at query time (ONNX Runtime, as the server does).

**Measured.** Build: wall time split into real encoding, fast-path vectors, and the rest (store, BM25
postings, segments, merges), ``optimize``, and building the dense structure (IVF over int8 codes by
default; ``--dense``/``--vectors``/``--nprobe`` choose). Size on disk (whole folder, and per component
from ``Index.footprint``). Then, in a **fresh child process** that only opens the index and answers
queries (what a server does): hybrid (BM25 + dense, RRF) queries one at a time with query encoding,
p50/p95/p99 over 1,109 queries after 20 warm-up ones, and the process's peak RSS (VmHWM, which counts
the memory-mapped pages the searches touched). Recall@10 of the approximate dense index against exact
search (the same stored float vectors scanned whole, in this parent process) on the 300 test queries.
Writes benchmarks/results/million-chunks/{results.json,results.md}.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, dir_size, machine, percentiles
from segments_update import corpus_copy

OUT = RESULTS / "million-chunks"
CHUNK_SIZE, CHUNK_OVERLAP = 64, 8


class FastPathVectors:
    """An ``encode_with`` object for :meth:`Index.add`: chunks with the index's own chunker; copy 0's chunks
    are encoded by the real model, copy ``c``'s get copy 0's vector of the same chunk, perturbed."""

    def __init__(self, encoder, seed: int = 0, pull: float = 0.3, noise: float = 0.3):
        self.encoder = encoder
        self.tokenizer = encoder.raw_tokenizer()
        self.base: dict[str, np.ndarray] = {}  # abstract id -> vectors of its chunks (real encoder)
        self.rng = np.random.default_rng(seed)
        self.pull, self.noise = pull, noise
        self.seconds = {"real_encoding": 0.0, "fast_path": 0.0}
        self.real_chunks = self.fast_chunks = 0
        self.cosines: list[float] = []

    def encoded(self, docs, manifest, path, names, progress=None):
        from encoderkit.index.write.encode import chunk_document
        from encoderkit.index.write.plan import ChunkSettings

        chunking = ChunkSettings.from_dict(manifest["chunking"])
        window = min(chunking.size, int(manifest["model"]["max_length"]) - 2)
        encodings = self.tokenizer.encode_batch([d.text for d in docs], add_special_tokens=False)
        rows = [chunk_document(d, self.tokenizer, chunking, window, e) for d, e in zip(docs, encodings)]
        if progress is not None:
            progress.reset(total=sum(len(r) for r in rows))
        for start in range(0, len(docs), 256):
            part = list(zip(docs[start : start + 256], rows[start : start + 256]))
            vectors = self._vectors(part)
            at = 0
            for d, r in part:
                v = vectors[at : at + len(r)]
                at += len(r)
                yield d, r, {n: [np.ascontiguousarray(x, np.float32).tobytes() for x in v] for n in names}
                if progress is not None:
                    progress.update(len(r))

    def _vectors(self, part) -> np.ndarray:
        base_id = [d.doc_id.rsplit("~", 1)[0] for d, _ in part]
        if all(d.doc_id.endswith("~0") for d, _ in part):  # the real abstracts: the real model
            t = time.perf_counter()
            texts = [c["index_text"] for _, r in part for c in r]
            vecs = encode_real(self.encoder, texts)
            self.seconds["real_encoding"] += time.perf_counter() - t
            self.real_chunks += len(texts)
            at = 0
            for b, (_, r) in zip(base_id, part):
                self.base[b] = vecs[at : at + len(r)]
                at += len(r)
            return vecs
        t = time.perf_counter()
        pool = np.concatenate([self.base[b] for b in self.base][:2000:7]) if self.base else None
        out = []
        for b, (_, r) in zip(base_id, part):
            src = self.base[b]
            own = src[np.minimum(np.arange(len(r)), len(src) - 1)]
            other = pool[self.rng.integers(0, len(pool), len(r))]
            g = self.rng.standard_normal(own.shape).astype(np.float32)
            g /= np.linalg.norm(g, axis=1, keepdims=True)
            v = own + self.pull * other + self.noise * g
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            if len(self.cosines) < 20000:
                self.cosines.extend(np.sum(v * own, axis=1).tolist())
            out.append(v.astype(np.float32))
        self.seconds["fast_path"] += time.perf_counter() - t
        vecs = np.concatenate(out)
        self.fast_chunks += len(vecs)
        return vecs


def encode_real(encoder, texts: list[str]) -> np.ndarray:
    """The bundled model's vectors (the index's bf16 chunk encoder where the CPU has bf16: token-budget
    batches under torch autocast; fp32 otherwise)."""
    return np.asarray(encoder.encode(texts, token_budget=8192, show_progress=False), np.float32)


def build(args, docs: list[dict]) -> dict:
    from encoderkit import Index
    from encoderkit.models.heads.encoder import Encoder
    from encoderkit.retrieval.dense import DenseParams

    shutil.rmtree(args.work / "index", ignore_errors=True)
    from encoderkit.runtime import cpu_has_bf16

    encoder = Encoder.load("default")
    fast = FastPathVectors(Encoder.load("default", backend="torch-bf16") if cpu_has_bf16() else encoder)
    # built exact (flat): merges copy vectors, nothing trains; the approximate structure is built once below
    idx = Index.create(
        args.work / "index", encoder=encoder, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, dense=DenseParams()
    )
    words = [w for d in docs[:500] for w in d["text"].split()]
    rng = random.Random(0)
    t0, copies, merges = time.perf_counter(), 0, 0
    while int(idx.manifest["counts"]["chunks"]) < args.chunks:
        report = idx.add(
            corpus_copy(docs, words, copies, rng), show_progress=not args.quiet, export_onnx=copies == 0, encode_with=fast
        )
        merges += len(getattr(report, "merges", []) or [])
        copies += 1
        print(f"copy {copies}: {int(idx.manifest['counts']['chunks']):,} chunks, {time.perf_counter() - t0:.0f} s", flush=True)
    added = time.perf_counter() - t0
    t = time.perf_counter()
    idx.optimize(1, show_progress=not args.quiet)
    optimize_s = time.perf_counter() - t
    out = {
        "copies": copies,
        "documents": len(idx),
        "chunks": int(idx.manifest["counts"]["chunks"]),
        "adds_seconds": round(added, 1),
        "real_encoding_seconds": round(fast.seconds["real_encoding"], 1),
        "real_chunks": fast.real_chunks,
        "fast_path_seconds": round(fast.seconds["fast_path"], 1),
        "fast_path_chunks": fast.fast_chunks,
        "fast_path_mean_cosine_to_original": round(float(np.mean(fast.cosines)), 4) if fast.cosines else None,
        "store_and_segments_seconds": round(added - fast.seconds["real_encoding"] - fast.seconds["fast_path"], 1),
        "automatic_merges": merges,
        "optimize_seconds": round(optimize_s, 1),
    }
    idx.close()
    return out


def configure_dense(args, nprobe: int, ef_search: int) -> dict:
    """Set the dense structure (and its search-time settings) and commit: a new kind or quantization
    rebuilds the segments' structures from the stored vectors; nprobe / ef_search alone rebuild nothing."""
    from encoderkit import Index
    from encoderkit.retrieval.dense import DenseParams

    idx = Index.open(args.work / "index")
    t = time.perf_counter()
    idx.reconfigure(dense=DenseParams(kind=args.dense, quantization=args.quantize, nprobe=nprobe, ef_search=ef_search))
    idx.add([], show_progress=False, export_onnx=False)  # the commit that applies it
    out = {"seconds": round(time.perf_counter() - t, 1), "settings": idx.manifest["retrievers"]}
    idx.close()
    return out


def queries(data: Path) -> tuple[list[str], list[str]]:
    test_ids = {line.split("\t")[0] for line in open(data / "qrels" / "test.tsv") if not line.startswith("query-id")}
    rows = [json.loads(line) for line in open(data / "queries.jsonl")]
    test = [r["text"] for r in rows if r["_id"] in test_ids]
    return test, [r["text"] for r in rows]


def serve_child(index: Path, data: Path, out: Path) -> None:
    """In a fresh process: open the index read-only, answer hybrid queries one at a time, report latency,
    the dense top-10 of the test queries, and peak RSS."""
    from encoderkit import Index
    from encoderkit.runtime import configure_torch

    configure_torch()
    t = time.perf_counter()
    idx = Index.open(index, readonly=True)
    test, every = queries(data)
    for q in every[:20]:
        idx.search(q, mode="hybrid", k=10)
    opened = time.perf_counter() - t
    ms = {"hybrid": [], "dense": [], "bm25": []}
    for q in every:
        t = time.perf_counter()
        idx.search(q, mode="hybrid", k=10)
        ms["hybrid"].append((time.perf_counter() - t) * 1000)
    for mode in ("dense", "bm25"):
        for q in test:
            t = time.perf_counter()
            idx.search(q, mode=mode, k=10)
            ms[mode].append((time.perf_counter() - t) * 1000)
    dense_top = [[[h.doc_id, h.start] for h in idx.search(q, mode="dense", by="chunk", k=10)] for q in test]
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    res = {
        "open_and_warm_seconds": round(opened, 1),
        "latency": {m: percentiles(v) for m, v in ms.items()},
        "peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "backend": idx.backend,
        "dense_top10": dense_top,
    }
    out.write_text(json.dumps(res))


def exact_top10(index: Path, data: Path) -> list[list[list]]:
    """Dense top-10 by chunk while the index is still exact (built flat): every stored float vector scanned."""
    from encoderkit import Index

    idx = Index.open(index, readonly=True)
    assert all(e["settings"]["kind"] == "flat" for e in idx.manifest["retrievers"] if e["name"] == "dense")
    test, _ = queries(data)
    out = [[[h.doc_id, h.start] for h in idx.search(q, mode="dense", by="chunk", k=10)] for q in test]
    idx.close()
    return out


def recall(approx: list, exact: list) -> float:
    return float(np.mean([len({tuple(h) for h in a} & {tuple(h) for h in e}) / max(1, len(e)) for a, e in zip(approx, exact)]))


def run_child(args, tag: str) -> dict:
    path = args.work / f"serve-{tag}.json"
    cmd = [
        sys.executable,
        __file__,
        "--serve-child",
        str(args.work / "index"),
        "--data",
        str(args.data),
        "--child-out",
        str(path),
    ]
    subprocess.run(cmd, check=True)
    return json.loads(path.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("build/million"))
    ap.add_argument("--dense", default="ivf", help="flat | hnsw | ivf | ivfpq")
    ap.add_argument("--vectors", dest="quantize", default="int8", help="none | int8 | binary")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64], help="IVF cells probed (each measured)")
    ap.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256], help="HNSW search breadth (each measured)")
    ap.add_argument("--docs", type=int, default=0, help="use only the first N abstracts (smoke runs; 0 = all)")
    ap.add_argument(
        "--steps",
        nargs="+",
        choices=["build", "structure", "serve"],
        default=["build", "structure", "serve"],
        help="build the index; exact reference + dense structure; serving measurements (each step's figures "
        "are kept in results.json, so steps can run apart — the serving step needs an otherwise idle machine)",
    )
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--serve-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_child:
        return serve_child(args.serve_child, args.data, args.child_out)
    from encoderkit import Index
    from encoderkit.retrieval.dense import DenseParams
    from encoderkit.runtime import configure_torch

    configure_torch()
    args.work.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    results_json, exact_json = OUT / "results.json", args.work / "exact-top10.json"
    res: dict = json.loads(results_json.read_text()) if results_json.is_file() and "build" not in args.steps else {}
    res.update(machine=machine(), chunking={"size": CHUNK_SIZE, "overlap": CHUNK_OVERLAP})

    def save() -> None:
        results_json.write_text(json.dumps(res, indent=2) + "\n")

    if "build" in args.steps:
        exact_json.unlink(missing_ok=True)
        docs = [json.loads(line) for line in open(args.data / "corpus.jsonl")][: args.docs or None]
        res["build"] = build(args, docs)
        print("built:", json.dumps(res["build"]), flush=True)
        save()
    if "structure" in args.steps:
        if not exact_json.is_file():  # the exact reference, once per build (delete the file to recompute)
            idx = Index.open(args.work / "index")
            if any(e["settings"]["kind"] != "flat" for e in idx.manifest["retrievers"] if e["name"] == "dense"):
                idx.reconfigure(dense=DenseParams())  # back to exact for the reference (nothing re-encoded)
                idx.add([], show_progress=False, export_onnx=False)
            idx.close()
            t = time.perf_counter()
            exact_json.write_text(json.dumps(exact_top10(args.work / "index", args.data)))
            res["exact_search_seconds"] = round(time.perf_counter() - t, 1)
        res["dense_structure"] = configure_dense(args, args.nprobe[0], args.ef_search[0])
        res["disk_bytes"] = dir_size(args.work / "index")
        idx = Index.open(args.work / "index", readonly=True)
        res["footprint"] = idx.footprint()
        idx.close()
        print("structure:", res["dense_structure"]["seconds"], "s", flush=True)
        save()
    if "serve" in args.steps:
        exact = json.loads(exact_json.read_text())
        ivf = args.dense.startswith("ivf")
        res["serving"] = []
        for value in args.nprobe if ivf else args.ef_search:
            configure_dense(args, value if ivf else args.nprobe[0], args.ef_search[0] if ivf else value)
            child = run_child(args, f"{args.dense}-{value}")
            child["recall_at_10_vs_exact"] = round(recall(child.pop("dense_top10"), exact), 4)
            child["search_setting"] = {"nprobe" if ivf else "ef_search": value}
            print(json.dumps(child), flush=True)
            res["serving"].append(child)
        save()
        write_markdown(res, args)


def write_markdown(res: dict, args) -> None:
    b, m = res["build"], res["machine"]
    total = b["adds_seconds"] + b["optimize_seconds"] + res["dense_structure"]["seconds"]
    lines = [
        f"# {b['chunks']:,} chunks on one machine",
        "",
        f"Machine: {m['cpu']}, {m['cores_available']} cores, {m['ram_gb']} GB; {m['date']}.",
        "",
        f"Corpus: SciFact abstracts × {b['copies']} perturbed copies = {b['documents']:,} documents, "
        f"{b['chunks']:,} chunks of {CHUNK_SIZE} tokens (overlap {CHUNK_OVERLAP}). Vectors: {b['real_chunks']:,} "
        f"chunks by the real MiniLM, {b['fast_path_chunks']:,} by the fast path (mean cosine "
        f"{b['fast_path_mean_cosine_to_original']} to the original chunk).",
        "",
        f"Build: {total:,.0f} s in all = adds {b['adds_seconds']:,} s (real encoding {b['real_encoding_seconds']} s, "
        f"fast-path vectors {b['fast_path_seconds']} s, store + BM25 + segments + {b['automatic_merges']} automatic "
        f"merges {b['store_and_segments_seconds']:,} s) + optimize {b['optimize_seconds']} s + dense structure "
        f"({args.dense}, {args.quantize}) {res['dense_structure']['seconds']} s. "
        f"Index on disk: {res['disk_bytes'] / 2**30:.2f} GiB.",
        "",
        "| dense search setting | hybrid p50 / p95 / p99 ms | dense p50 ms | bm25 p50 ms | peak RSS serving "
        "| recall@10 vs exact |",
        "|---|---|---|---|---|---|",
    ]
    for s in res["serving"]:
        h = s["latency"]["hybrid"]
        ((key, value),) = s["search_setting"].items()
        lines.append(
            f"| {args.dense} {args.quantize}, {key} {value} | {h['p50_ms']} / {h['p95_ms']} / {h['p99_ms']} | "
            f"{s['latency']['dense']['p50_ms']} | {s['latency']['bm25']['p50_ms']} | {s['peak_rss_mb']:,} MB | "
            f"{s['recall_at_10_vs_exact']} |"
        )
    lines += ["", "Targets: hybrid p50 ≤ 20 ms, p99 ≤ 60 ms with query encoding; peak RSS ≤ 2 GB; recall@10 ≥ 0.95."]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
