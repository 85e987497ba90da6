"""Issue 2 figures: build, size, memory, latency, incremental re-index and cold start on SciFact.

    python benchmarks/index_scifact.py --data ../shared/data/scifact --index build/bench-scifact \
        [--encode-precision fp32|bf16|int8|auto]

Builds the index with the CLI in a child process (to read its peak RSS), then, in this process with
the model loaded, times every test query per mode; re-runs the index command on the unchanged corpus;
and times `encoderkit search` from process start to first result. Writes
benchmarks/results/index_scifact.json (``index_scifact-<precision>.json`` with another
``--encode-precision``: the build then includes that precision's quality gate, on the indexed documents).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import dir_size, machine, percentiles, write_result


def run_cli(args: list[str]) -> tuple[float, int, str]:
    """Run `encoderkit ARGS` in a child; return (wall seconds, peak RSS MB of the child, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "encoderkit.cli", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"encoderkit {' '.join(args)} failed:\n{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) // 1024, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--index", type=Path, default=Path("build/bench-scifact"))
    ap.add_argument("--keep", action="store_true", help="reuse an existing index instead of rebuilding it")
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--encode-precision", default="fp32", help="passed to `encoderkit index` (fp32: the option is left out)")
    args = ap.parse_args()
    result_name = "index_scifact" if args.encode_precision == "fp32" else f"index_scifact-{args.encode_precision}"
    precision = [] if args.encode_precision == "fp32" else ["--encode-precision", args.encode_precision]

    corpus = args.data / "corpus.jsonl"
    result: dict = {"machine": machine(), "data": str(args.data)}
    previous = Path(__file__).resolve().parent / "results" / f"{result_name}.json"
    if args.keep and args.index.exists() and previous.is_file():  # keep the build figures of the run that built it
        old = json.loads(previous.read_text())
        if "build" in old:
            result["build"] = old["build"] | {"measured": old["build"].get("measured", old["machine"]["date"])}
    if not args.keep and args.index.exists():
        shutil.rmtree(args.index)
    if not args.index.exists():
        wall, rss, out = run_cli(["index", str(corpus), "--index", str(args.index), "--json", *precision])
        report = json.loads(out)
        result["build"] = {
            "encode_precision": args.encode_precision,
            "seconds": round(wall, 1),
            "documents": report["totals"]["documents"],
            "chunks": report["totals"]["chunks"],
            "docs_per_s": round(report["totals"]["documents"] / wall, 1),
            "chunks_per_s": round(report["totals"]["chunks"] / wall, 1),
            "peak_rss_mb": rss,
            "index_size_mb": round(dir_size(args.index) / 2**20, 1),
        }
        print("build", result["build"], flush=True)
    # incremental: unchanged corpus
    times = []
    for _ in range(3):
        wall, rss, out = run_cli(["index", str(corpus), "--index", str(args.index), "--json"])
        rep = json.loads(out)
        assert rep["chunks_encoded"] == 0 and rep["unchanged"] == rep["totals"]["documents"], rep
        times.append(wall)
    result["incremental_unchanged"] = {
        "seconds_median": round(sorted(times)[1], 2),
        "runs": [round(t, 2) for t in times],
        "peak_rss_mb": rss,
    }
    if "build" in result:
        result["incremental_unchanged"]["speedup_vs_build"] = round(result["build"]["seconds"] / sorted(times)[1], 1)
    print("incremental", result["incremental_unchanged"], flush=True)

    # warm latency per mode and query backend, model loaded, one query at a time
    from encoderkit import Index
    from encoderkit.models.export import export_onnx

    export_onnx("default")  # fp32 ONNX export of the bundled model (cached; same vectors as torch)
    queries = {}
    for line in open(args.data / "queries.jsonl"):
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    test_ids = sorted({line.split("\t")[0] for line in list(open(args.data / "qrels" / "test.tsv"))[1:]}, key=int)
    texts = [queries[q] for q in test_ids]
    result["latency"] = {}
    for backend in ("torch", "onnx"):
        idx = Index.open(args.index, backend=backend)
        idx.search("warm up", mode="hybrid")
        lat = {}
        for mode in ("bm25", "dense", "hybrid"):
            ms = []
            for q in texts:
                t = time.perf_counter()
                idx.search(q, mode=mode, k=10)
                ms.append((time.perf_counter() - t) * 1000)
            lat[mode] = percentiles(ms)
        ms = []
        for q in texts:
            t = time.perf_counter()
            idx.encoder.encode([q])
            ms.append((time.perf_counter() - t) * 1000)
        lat["query_encoding_only"] = percentiles(ms)
        result["latency"][backend] = lat
        print(backend, lat, flush=True)

    # cold start: process start to first printed result
    cold = {}
    for name, extra in (
        ("bm25", ["--mode", "bm25"]),
        ("hybrid (torch)", ["--backend", "torch"]),
        ("hybrid (onnx)", ["--backend", "onnx"]),
    ):
        runs = []
        for _ in range(args.cold_runs):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "encoderkit.cli", "search", texts[0], "--index", str(args.index), "-k", "1", *extra],
                check=True,
                capture_output=True,
            )
            runs.append(time.perf_counter() - t)
        cold[name] = {"median_s": round(sorted(runs)[len(runs) // 2], 2), "runs": [round(r, 2) for r in runs]}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "encoderkit.cli", "--help"], check=True, capture_output=True)
    cold["help_s"] = round(time.perf_counter() - t, 2)
    result["cold_start"] = cold
    print("cold start", cold, flush=True)
    print("wrote", write_result(result_name, result))


if __name__ == "__main__":
    main()
