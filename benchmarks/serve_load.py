"""Issue 12 figures: `encoderkit serve` under load, with and without micro-batching, in one run.

    python benchmarks/serve_load.py --index build/bench-scifact [--duration 60] [--client auto|wrk|python]

Starts the server in a child process on 127.0.0.1 and drives it from another process (wrk when
installed: `apt-get install wrk`; otherwise a bounded async httpx client in a child Python process) at
concurrency 1, 8 and 32 for --duration seconds each: POST /v1/embeddings with one short sentence per
request (SciFact queries, rotated) and POST /v1/search hybrid k=10. Records requests/s, p50/p99 latency,
errors, mean texts per forward pass (from /metrics) and the server's RSS before and after. Then starts
the same server with --no-batching and repeats the embeddings runs, so the batching speed-up at
concurrency 32 is measured in the same run on the same machine. Writes
benchmarks/results/serve-load/{results.json, results.md, serve_load.png}.

The index: --index DIR if it exists; otherwise one is built there from --data (SciFact corpus).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

REPO = Path(__file__).resolve().parents[1]
OUT = RESULTS / "serve-load"

WRK_SCRIPT = r"""
local bodies = {}
for line in io.lines(os.getenv("EK_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f, '
    .. '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

PY_CLIENT = r"""
import asyncio, json, sys, time
import httpx
url, bodies_path, conc, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
bodies = [l.encode() for l in open(bodies_path, encoding="utf-8").read().splitlines() if l]
lat, errors = [], 0
async def worker(client, start, k):
    global errors
    i = k
    while time.perf_counter() - start < duration:
        i = (i + 1) % len(bodies)
        t = time.perf_counter()
        try:
            r = await client.post(url, content=bodies[i], headers={"content-type": "application/json"})
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        lat.append((time.perf_counter() - t) * 1e6)
        errors += not ok
async def main():
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=conc)) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client, start, k) for k in range(conc)))
        return time.perf_counter() - start
dur = asyncio.run(main())
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("RESULT " + json.dumps({"requests": len(lat), "duration_us": dur * 1e6, "p50_us": pick(0.5), "p99_us": pick(0.99),
      "mean_us": sum(lat) / len(lat), "err_status": errors, "err_connect": 0, "err_read": 0, "err_write": 0, "err_timeout": 0}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_index(index: Path, data: Path) -> None:
    if (index / "manifest.json").is_file():
        return
    print(f"building {index} from {data} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "encoderkit.cli", "index", str(data / "corpus.jsonl"), "--index", str(index)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )


class Server:
    def __init__(self, index: Path, *extra: str):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "encoderkit.cli",
                "serve",
                "--index",
                str(index),
                "--port",
                str(self.port),
                "--no-access-log",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )
        self.base = f"http://127.0.0.1:{self.port}"
        import httpx

        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"server failed to start:\n{self.log.read().decode(errors='replace')[-3000:]}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not start in 180 s")
            time.sleep(0.5)

    def rss_mb(self) -> float:
        import psutil

        return round(psutil.Process(self.proc.pid).memory_info().rss / 2**20, 1)

    def batch_stats(self) -> tuple[float, float]:
        import httpx

        text = httpx.get(self.base + "/metrics", timeout=10).text
        vals = {}
        for line in text.splitlines():
            for name in ("encoderkit_batch_size_sum", "encoderkit_batch_size_count"):
                if line.startswith(name + " "):
                    vals[name] = float(line.split()[-1])
        return vals.get("encoderkit_batch_size_sum", 0.0), vals.get("encoderkit_batch_size_count", 0.0)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(client: str, url: str, bodies: Path, concurrency: int, duration: float) -> dict:
    if client == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(WRK_SCRIPT)
        threads = str(min(2, concurrency))
        cmd = ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{duration:g}s", "--timeout", "30s", "-s", f.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "EK_BODIES": str(bodies)})
        os.unlink(f.name)
    else:
        cmd = [sys.executable, "-c", PY_CLIENT, url, str(bodies), str(concurrency), str(duration)]
        out = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"load client failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    r = json.loads(line[len("RESULT ") :])
    errors = sum(r[k] for k in r if k.startswith("err_"))
    return {
        "concurrency": concurrency,
        "requests": int(r["requests"]),
        "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
        "p50_ms": round(r["p50_us"] / 1000, 2),
        "p99_ms": round(r["p99_us"] / 1000, 2),
        "mean_ms": round(r["mean_us"] / 1000, 2),
        "errors": int(errors),
    }


def run_endpoint(server: Server, client: str, path: str, bodies: Path, levels, duration: float) -> list[dict]:
    rows = []
    for c in levels:
        s0, n0 = server.batch_stats()
        row = load(client, server.base + path, bodies, c, duration)
        row["loadavg_1m_after"] = round(os.getloadavg()[0], 2)  # other work on the machine shows here
        s1, n1 = server.batch_stats()
        row["mean_batch"] = round((s1 - s0) / (n1 - n0), 2) if n1 > n0 else None
        print(f"  {path} c={c}: {row}", flush=True)
        rows.append(row)
    return rows


def warm(server: Server, embed: Path, search: Path) -> None:
    import httpx

    with httpx.Client(base_url=server.base, timeout=60) as c:
        for body in embed.read_text().splitlines()[:20] + search.read_text().splitlines()[:20]:
            path = "/v1/embeddings" if '"input"' in body else "/v1/search"
            c.post(path, content=body, headers={"content-type": "application/json"}).raise_for_status()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("build/bench-scifact"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--out", type=Path, default=OUT, help="where results go (default: benchmarks/results/serve-load)")
    args = ap.parse_args()
    client = ("wrk" if shutil.which("wrk") else "python") if args.client == "auto" else args.client
    levels = [int(x) for x in args.concurrency.split(",")]
    ensure_index(args.index, args.data)

    queries = [json.loads(x)["text"] for x in (args.data / "queries.jsonl").read_text().splitlines() if x.strip()][:200]
    tmp = Path(tempfile.mkdtemp())
    embed_bodies, search_bodies = tmp / "embed.jsonl", tmp / "search.jsonl"
    embed_bodies.write_text("\n".join(json.dumps({"input": q, "model": "all-MiniLM-L6-v2"}) for q in queries) + "\n")
    search_bodies.write_text("\n".join(json.dumps({"query": q, "mode": "hybrid", "k": 10}) for q in queries) + "\n")

    result = {
        "machine": machine(),
        "index": str(args.index),
        "client": client,
        "duration_s": args.duration,
        "server": "encoderkit serve (uvicorn, 1 process), ENCODERKIT_THREADS unset (all cores)",
    }
    print(f"client: {client}; batching on", flush=True)
    srv = Server(args.index)
    try:
        warm(srv, embed_bodies, search_bodies)
        rss0 = srv.rss_mb()
        result["batched"] = {
            "embeddings": run_endpoint(srv, client, "/v1/embeddings", embed_bodies, levels, args.duration),
            "search": run_endpoint(srv, client, "/v1/search", search_bodies, levels, args.duration),
        }
        result["batched"]["rss_mb"] = {"before": rss0, "after": srv.rss_mb()}
    finally:
        srv.stop()
    print("batching off", flush=True)
    srv = Server(args.index, "--no-batching")
    try:
        warm(srv, embed_bodies, search_bodies)
        rss0 = srv.rss_mb()
        result["unbatched"] = {"embeddings": run_endpoint(srv, client, "/v1/embeddings", embed_bodies, levels, args.duration)}
        result["unbatched"]["rss_mb"] = {"before": rss0, "after": srv.rss_mb()}
    finally:
        srv.stop()
    b32 = next(r for r in result["batched"]["embeddings"] if r["concurrency"] == max(levels))
    u32 = next(r for r in result["unbatched"]["embeddings"] if r["concurrency"] == max(levels))
    result["speedup_embeddings_at_max_concurrency"] = round(b32["rps"] / u32["rps"], 2)
    write_outputs(result, levels, args.out)


def write_outputs(result: dict, levels, out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    lines = [
        "# encoderkit serve under load",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores_available']} cores · client `{result['client']}` on the same machine · "
        f"{result['duration_s']:g} s per row · index `{result['index']}`",
        "",
        "| endpoint | batching | concurrency | requests/s | p50 ms | p99 ms | errors | texts per forward pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in ("batched", "unbatched"):
        for ep in ("embeddings", "search"):
            for r in result.get(mode, {}).get(ep, []):
                lines.append(
                    f"| /v1/{ep} | {'on' if mode == 'batched' else 'off'} | {r['concurrency']} | {r['rps']} | {r['p50_ms']} | "
                    f"{r['p99_ms']} | {r['errors']} | {r['mean_batch'] if r['mean_batch'] is not None else '-'} |"
                )
    lines += [
        "",
        f"Micro-batching speed-up for /v1/embeddings at concurrency {max(levels)}: "
        f"**{result['speedup_embeddings_at_max_concurrency']}x** (target >= 3x).",
        "",
        f"Server RSS (MB), batching on: {result['batched']['rss_mb']['before']} before -> {result['batched']['rss_mb']['after']} "
        f"after all runs; batching off: {result['unbatched']['rss_mb']['before']} -> {result['unbatched']['rss_mb']['after']}.",
        "",
        "Command: `python benchmarks/serve_load.py --index build/bench-scifact` (under /work/bin/heavy here). "
        "1-minute load average after each row: "
        + ", ".join(
            str(r.get("loadavg_1m_after"))
            for mode in ("batched", "unbatched")
            for ep in ("embeddings", "search")
            for r in result.get(mode, {}).get(ep, [])
        )
        + " (2 would mean only this benchmark ran).",
    ]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for mode, style in (("batched", "-o"), ("unbatched", "--s")):
            for ep in ("embeddings", "search"):
                rows = result.get(mode, {}).get(ep)
                if not rows:
                    continue
                label = f"/v1/{ep}, batching {'on' if mode == 'batched' else 'off'}"
                axes[0].plot([r["concurrency"] for r in rows], [r["rps"] for r in rows], style, label=label)
                axes[1].plot([r["concurrency"] for r in rows], [r["p99_ms"] for r in rows], style, label=label)
        for ax, title in zip(axes, ("requests/s", "p99 latency (ms)")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(levels, [str(c) for c in levels])
            ax.set_xlabel("concurrent clients")
            ax.set_title(title)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"encoderkit serve, {m['cores_available']} cores ({m['date']})")
        fig.tight_layout()
        fig.savefig(out / "serve_load.png", dpi=120)
    except ImportError:
        pass
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
