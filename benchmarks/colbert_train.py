"""Issue 9 recipe: train ColBERT models from the bundled MiniLM on SciFact *train* qrels only.

    python benchmarks/colbert_train.py [--data ../shared/data/scifact] [--runs runs] [--only NAME ...] [--force]

Each run is `encoderkit train colbert` in a child process under /usr/bin/time (wall time and peak RSS
of the whole run: mining, teacher scoring, training, validation, export). A run whose output folder
holds a finished model is skipped unless --force. Writes benchmarks/results/colbert-train/results.json
and results.md (validation curve, best epoch, time, memory, options).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

COMMON = ["--dim", "128", "--query-length", "32", "--train-doc-length", "256", "--batch-size", "32", "--bf16"]
RUNS = {
    # contrastive only: in-batch + 3 hard negatives per query from a pool of 8 mined with BM25 and MiniLM
    "colbert": ["--negatives", "3", "--pool", "8", "--epochs", "4", "--lr", "3e-5", "--head-lr-mult", "10"],
    # the same plus KL distillation from the project's fused first stage (BM25 + MiniLM, min-max normalised)
    "colbert-fused": [
        "--negatives", "3", "--pool", "8", "--epochs", "4", "--lr", "3e-5", "--head-lr-mult", "10",
        "--teacher", "fused", "--distill-weight", "0.5",
    ],
}  # fmt: skip


def run(name: str, args, force: bool) -> dict:
    out = Path(args.runs) / name
    if (out / "colbert_config.json").is_file() and (out / "train_log.json").is_file() and not force:
        log = json.loads((out / "train_log.json").read_text())
        if log.get("completed"):
            print(f"{name}: done already ({out})", flush=True)
            prev = RESULTS / "colbert-train" / "results.json"
            old = json.loads(prev.read_text())["runs"].get(name, {}) if prev.is_file() else {}
            return {**old, **summary(log)}
    cmd = [
        sys.executable,
        "-m",
        "encoderkit.cli",
        "train",
        "colbert",
        "--data",
        str(args.data),
        "--out",
        str(out),
        *COMMON,
        *RUNS[name],
    ]
    cmd += ["--quiet"] + (["--resume"] if (out / "checkpoint").is_dir() and not force else [])
    print("running:", " ".join(cmd[2:]), flush=True)
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    log = json.loads((out / "train_log.json").read_text())
    return {
        "command": "encoderkit " + " ".join(cmd[3:]),
        "process_wall_seconds": round(wall, 1),
        "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
        **summary(log),
    }


def summary(log: dict) -> dict:
    return {
        "train_seconds": log["train_seconds"],
        "loop_wall_seconds": log["wall_seconds"],
        "steps": log["step"],
        "best": log["best"],
        "evals": [{k: e[k] for k in ("step", "epoch", "ndcg@10", "mrr@10", "recall@100")} for e in log["evals"]],
        "card": log.get("card"),
    }


def markdown(res: dict) -> str:
    lines = [
        "# ColBERT training on SciFact train (CPU)",
        "",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}",
        "",
        "| run | validation nDCG@10 by epoch | best | steps | training s | whole run s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in res["runs"].items():
        curve = " → ".join(f"{e['ndcg@10']:.3f}" for e in r["evals"])
        lines.append(
            f"| {name} | {curve} | {r['best']['ndcg@10']:.4f} (epoch {r['best']['epoch']}) | {r['steps']} | "
            f"{r['train_seconds']} | {r.get('process_wall_seconds')} | {r.get('peak_rss_mb')} |"
        )
    lines += ["", "Commands:", ""] + [f"- {n}: `{r.get('command', '')}`" for n, r in res["runs"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--only", nargs="*", choices=sorted(RUNS))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    folder = RESULTS / "colbert-train"
    folder.mkdir(parents=True, exist_ok=True)
    prev = json.loads((folder / "results.json").read_text()) if (folder / "results.json").is_file() else {"runs": {}}
    res = {"machine": machine(), "data": str(args.data), "runs": dict(prev.get("runs") or {})}
    for name in args.only or list(RUNS):
        res["runs"][name] = run(name, args, args.force)
        (folder / "results.json").write_text(json.dumps(res, indent=2) + "\n")
        (folder / "results.md").write_text(markdown(res))
        print(name, res["runs"][name]["best"], flush=True)


if __name__ == "__main__":
    main()
