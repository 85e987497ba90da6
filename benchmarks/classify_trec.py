"""TREC-6 question classification (5,452 train / 500 test; coarse labels): test accuracy of the
linear probe, full fine-tune, 8-shot SetFit (5 seeds) and zero-shot. No dev split: the fine-tune
holds out 10% of train (stratified) for model selection, and zero-shot prompts are chosen on it.

    PYTHONPATH=src /work/bin/heavy python benchmarks/classify_trec.py [--model default]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from classify_common import DATA, supervised_dataset

DESCRIPTIONS = {
    "names": {
        "ABBR": "abbreviation",
        "DESC": "description",
        "ENTY": "entity",
        "HUM": "person",
        "LOC": "location",
        "NUM": "number",
    },
    "descriptive": {
        "ABBR": "an abbreviation or acronym and what it stands for",
        "DESC": "a description, definition, reason or manner",
        "ENTY": "an entity such as an object, animal, color, event, food, product or term",
        "HUM": "a person, group or organization",
        "LOC": "a location such as a city, country, state or mountain",
        "NUM": "a number, date, count, amount, distance, price or time",
    },
}
TEMPLATES = ["{label}", "A question asking for {label}.", "The answer is {label}."]

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=5e-4)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--max-minutes", type=float, default=None, help="training-time budget of the fine-tune")
    a = ap.parse_args()
    name = "classify-trec" + ("" if a.model == "default" else "-" + Path(a.model).name)
    supervised_dataset(
        name,
        DATA / "trec_qc",
        Path(a.runs),
        a.model,
        DESCRIPTIONS,
        TEMPLATES,
        0.96,
        lr=a.lr,
        head_lr=a.head_lr,
        epochs=a.epochs,
        max_minutes=a.max_minutes,
    )
