"""Issue 31 item 3: `/v1/embeddings` under concurrency against what the same encoder does offline.

    python benchmarks/serve_vs_offline.py --index DIR [--data ../shared/data/scifact] [--duration 30] [--per-request 1,8,32]

1. Offline: a child process loads the encoder the server uses for `/v1/embeddings` (the index's query
   model on the same runtime: ONNX Runtime fp32 once exported, else torch) and encodes the request texts
   (SciFact queries, rotated) in batches of the server's token budget, on all cores: texts/s.
2. Served: `encoderkit serve --index DIR` in a child process, driven by wrk (else a bounded httpx client)
   at concurrency 32 for ``--duration`` seconds per row, with 1, 8 and 32 texts per request: texts/s,
   p50/p99 latency, texts per forward pass. The load client runs on the same 2 cores (it is counted in
   what the server gets).

Writes benchmarks/results/serve-vs-offline/{results.json, results.md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine
from serve_load import Server, ensure_index, load

OUT = RESULTS / "serve-vs-offline"

OFFLINE = r"""
import json, sys, time
from encoderkit.index.storage.manifest import read_manifest
from encoderkit.index.storage.model import load_index_encoder
from encoderkit.runtime import configure_torch
configure_torch()
index, texts_file = sys.argv[1], sys.argv[2]
enc = load_index_encoder(read_manifest(index), index)
texts = json.load(open(texts_file))
enc.encode(texts[:64], batch_size=64, token_budget=8192)
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    enc.encode(texts, batch_size=256, token_budget=8192)
    best = max(best, len(texts) / (time.perf_counter() - t))
print(json.dumps({"texts_per_s": best, "backend": enc.backend, "texts": len(texts)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=Path("build/bench-scifact"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--per-request", default="1,8,32")
    args = ap.parse_args()
    ensure_index(args.index, args.data)
    queries = [json.loads(x)["text"] for x in (args.data / "queries.jsonl").read_text().splitlines() if x.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="ek-serve-offline-"))
    (tmp / "texts.json").write_text(json.dumps(queries[:2048]))
    proc = subprocess.run(
        [sys.executable, "-c", OFFLINE, str(args.index), str(tmp / "texts.json")], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    offline = json.loads(proc.stdout.strip().splitlines()[-1])
    print("offline:", offline, flush=True)
    client = "wrk" if shutil.which("wrk") else "python"
    rows = []
    srv = Server(args.index)
    try:
        for n in [int(x) for x in args.per_request.split(",")]:
            bodies = tmp / f"bodies-{n}.jsonl"
            groups = [queries[i : i + n] for i in range(0, min(len(queries), 200 * n), n)]
            bodies.write_text("\n".join(json.dumps({"input": g if n > 1 else g[0], "model": "all-MiniLM-L6-v2"}) for g in groups))
            load(client, srv.base + "/v1/embeddings", bodies, args.concurrency, 5)  # warm-up
            s0, c0 = srv.batch_stats()
            row = load(client, srv.base + "/v1/embeddings", bodies, args.concurrency, args.duration)
            s1, c1 = srv.batch_stats()
            row |= {
                "texts_per_request": n,
                "texts_per_s": round(row["rps"] * n, 1),
                "share_of_offline": round(row["rps"] * n / offline["texts_per_s"], 3),
                "texts_per_forward_pass": round((s1 - s0) / (c1 - c0), 1) if c1 > c0 else None,
            }
            print(row, flush=True)
            rows.append(row)
    finally:
        srv.stop()
    result = {"machine": machine(), "offline": offline, "client": client, "concurrency": args.concurrency, "rows": rows,
              "duration_s": args.duration, "index": str(args.index)}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    m = result["machine"]
    md = [
        f"# /v1/embeddings under load vs offline — {m['cpu']}, {m['cores_available']} cores, {m['date']}",
        "",
        f"Offline, same encoder ({offline['backend']}), all cores, batches of 8,192 padded tokens: "
        f"**{offline['texts_per_s']:.0f} texts/s** (SciFact queries). Served: concurrency {args.concurrency}, "
        f"client `{client}` on the same cores, {args.duration:g} s per row.",
        "",
        "| texts per request | requests/s | texts/s | share of offline | p50 ms | p99 ms | texts per forward pass | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['texts_per_request']} | {r['rps']} | {r['texts_per_s']} | **{r['share_of_offline']:.0%}** | {r['p50_ms']} | "
            f"{r['p99_ms']} | {r['texts_per_forward_pass']} | {r['errors']} |"
        )
    md += ["", "Command: `python benchmarks/serve_vs_offline.py " + " ".join(sys.argv[1:]) + "`"]
    (OUT / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
