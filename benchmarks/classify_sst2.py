"""SST-2 (sentence-level, 6,920 / 872 / 1,821): test accuracy of the linear probe, full fine-tune,
8-shot SetFit (5 seeds) and zero-shot, with training times on this machine.

    PYTHONPATH=src /work/bin/heavy python benchmarks/classify_sst2.py [--model default] [--runs runs/bench]

Writes benchmarks/results/classify-sst2[-<model>]/ (results.json, results.md, accuracy.png).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from classify_common import DATA, supervised_dataset

DESCRIPTIONS = {
    "names": {"negative": "negative", "positive": "positive"},
    "word lists": {"negative": ["negative", "bad", "terrible", "boring"], "positive": ["positive", "good", "great", "wonderful"]},
}
TEMPLATES = ["{label}", "This movie review is {label}.", "a {label} movie", "It was {label}."]

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=5e-4)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--max-minutes", type=float, default=None, help="training-time budget of the fine-tune")
    a = ap.parse_args()
    name = "classify-sst2" + ("" if a.model == "default" else "-" + Path(a.model).name)
    supervised_dataset(
        name,
        DATA / "sst2",
        Path(a.runs),
        a.model,
        DESCRIPTIONS,
        TEMPLATES,
        0.915,
        lr=a.lr,
        head_lr=a.head_lr,
        epochs=a.epochs,
        max_minutes=a.max_minutes,
    )
