"""LoRA vs full fine-tuning of the MiniLM classifier on SST-2: test accuracy, trainable parameters,
peak RSS and time per epoch. Each run is its own `encoderkit train classify` process (so peak RSS is
that run's alone), same data, same schedule, same machine.

    PYTHONPATH=src /work/bin/heavy python benchmarks/classify_lora.py [--ranks 8] [--reuse-full runs/bench/classify-sst2-finetune]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from classify_common import DATA, log, write


def run(out: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "encoderkit",
        "train",
        "classify",
        "--data",
        str(DATA / "sst2"),
        "--out",
        str(out),
        "--method",
        "finetune",
        "--quiet",
        *extra,
    ]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, env={**os.environ, "ENCODERKIT_QUIET": "1"})
    return json.loads((out / "train_summary.json").read_text())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--ranks", default="8")
    ap.add_argument("--reuse-full", default=None, help="a full fine-tune's folder from classify_sst2.py (same settings)")
    ap.add_argument("--max-minutes", type=float, default=None, help="training-time budget of each fine-tune")
    a = ap.parse_args()
    runs = Path(a.runs)
    budget = ["--max-minutes", str(a.max_minutes)] if a.max_minutes else []
    results = {}
    if a.reuse_full and (Path(a.reuse_full) / "train_summary.json").is_file():
        results["full"] = json.loads((Path(a.reuse_full) / "train_summary.json").read_text()) | {"reused_from": a.reuse_full}
    else:
        results["full"] = run(runs / "sst2-full", budget)
    for r in [int(x) for x in a.ranks.split(",")]:
        results[f"lora-r{r}"] = run(runs / f"sst2-lora-r{r}", ["--lora", str(r), *budget])
    rows = {}
    for name, s in results.items():
        f = s["finetune"]
        rows[name] = {
            "test_accuracy": f["test"]["accuracy"],
            "dev_accuracy": (f.get("dev") or {}).get("accuracy"),
            "trainable_parameters": f["parameters"]["trainable"],
            "total_parameters": f["parameters"]["total"],
            "peak_rss_mb": f["peak_rss_mb"],
            "rss_before_training_mb": f["peak_rss_mb_before_training"],
            "training_rss_increase_mb": round(f["peak_rss_mb"] - f["peak_rss_mb_before_training"], 1),
            "seconds_per_epoch": f["seconds_per_epoch"],
            "epochs": f["epochs"],
            "lr": s["train_config"]["lr"],
            "head_lr": s["train_config"]["head_lr"],
            "lora": f.get("lora"),
        }
        log(name, rows[name])
    md = [
        "# LoRA vs full fine-tuning, MiniLM on SST-2",
        "",
        "| run | test acc | trainable params | peak RSS MB | RSS growth in training MB | s/epoch | epochs | lr (encoder/head) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, r in rows.items():
        md.append(
            f"| {n} | {r['test_accuracy']:.4f} | {r['trainable_parameters']:,} "
            f"({100 * r['trainable_parameters'] / r['total_parameters']:.2f}%) | {r['peak_rss_mb']} | "
            f"{r['training_rss_increase_mb']} | {r['seconds_per_epoch']} | {r['epochs']} | {r['lr']}/{r['head_lr']} |"
        )
    write("classify-lora", {"runs": rows}, "\n".join(md) + "\n")
