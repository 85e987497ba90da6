"""Issue 34 item 10: one client must not starve another. `encoderkit serve` on an index, two API keys:
client A keeps --flood searches in flight at once (an async loop per slot), client B sends one search at
a time; B's p50/p99 latency and A's throughput, with the per-client share off (0) and at each value of
--shares, in one run on one machine.

    python benchmarks/serve_fairness.py --index build/bench-scifact [--duration 30] [--flood 32] [--shares 0,4,8]

Writes benchmarks/results/serve-fairness/{results.json, results.md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, percentiles

OUT = RESULTS / "serve-fairness"
QUERIES = [
    "vitamin D deficiency and multiple sclerosis",
    "aspirin lowers colorectal cancer risk",
    "telomere length and aging",
    "insulin resistance before diabetes",
    "antibiotics change the infant gut microbiome",
    "sleep deprivation and memory",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def drive(base: str, keys: tuple[str, str], flood: int, duration: float, mode: str) -> dict:
    import httpx

    stop = time.monotonic() + duration
    a_done, b_ms, errors = [0], [], [0]

    async def one(client, key, i):
        r = await client.post(
            "/v1/search",
            json={"query": QUERIES[i % len(QUERIES)], "mode": mode, "k": 10},
            headers={"authorization": f"Bearer {key}"},
        )
        if r.status_code != 200:
            errors[0] += 1
        return r

    async def flooder(client, slot):
        i = slot
        while time.monotonic() < stop:
            await one(client, keys[0], i)
            a_done[0] += 1
            i += flood

    async def polite(client):
        i = 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            await one(client, keys[1], i)
            b_ms.append((time.perf_counter() - t) * 1000)
            i += 1

    limits = httpx.Limits(max_connections=flood + 4, max_keepalive_connections=flood + 4)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await asyncio.gather(*(flooder(client, s) for s in range(flood)), polite(client))
    return {"b_latency": percentiles(b_ms), "b_requests": len(b_ms), "a_requests_per_s": round(a_done[0] / duration, 1),
            "errors": errors[0]}  # fmt: skip


def run_one(index: str, share: int, keys: tuple[str, str], args) -> dict:
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
        f.write("\n".join(keys) + "\n")
    env = {**os.environ, "ENCODERKIT_QUIET": "1"}
    cmd = [sys.executable, "-m", "encoderkit", "serve", "--index", index, "--port", str(port), "--api-key-file", f.name,
           "--max-in-flight-per-client", str(share), "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"server did not start: {server.stderr.read() if server.poll() is not None else ''}")
            time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(drive(base, keys, 2, 5, args.mode))  # warm-up: models loaded, caches filled
        alone = asyncio.run(drive(base, keys, 0, args.duration / 2, args.mode))
        loaded = asyncio.run(drive(base, keys, args.flood, args.duration, args.mode))
        return {"share": share, "b_alone": alone["b_latency"], **loaded}
    finally:
        server.terminate()
        server.wait(30)
        os.unlink(f.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--flood", type=int, default=32)
    ap.add_argument("--shares", default="0,4,8")
    ap.add_argument("--mode", default="bm25+dense")
    args = ap.parse_args()
    keys = ("fairness-client-a-0123456789abcdef", "fairness-client-b-0123456789abcdef")
    rows = [run_one(args.index, int(s), keys, args) for s in args.shares.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "index": args.index, "mode": args.mode, "flood": args.flood, "duration_s": args.duration,
              "runs": rows}  # fmt: skip
    (OUT / "results.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# One client flooding, another searching (`{args.mode}`, A: {args.flood} in flight, B: one at a time, "
        f"{args.duration:g} s each)",
        "",
        "| per-client share | B p50 alone (ms) | B p50 under flood (ms) | B p99 under flood (ms) | A requests/s | errors |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = "off" if r["share"] == 0 else r["share"]
        lines.append(
            f"| {share} | {r['b_alone']['p50_ms']} | {r['b_latency']['p50_ms']} | {r['b_latency']['p99_ms']} | "
            f"{r['a_requests_per_s']} | {r['errors']} |"
        )
    m = result["machine"]
    command = f"python benchmarks/serve_fairness.py --index {args.index} --duration {args.duration:g} --flood {args.flood}"
    lines += ["", f"Machine: {m['cpu']}, {m['cores_available']} cores, {m['date']}. Command: `{command} --shares {args.shares}`"]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
