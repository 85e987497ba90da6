"""Experiment 4: fill-mask sanity check after training an MLM head on general English text.

    nice -n 19 python benchmarks/pretrain_fill_mask.py

all-MiniLM-L6-v2 ships without an MLM head. (i) attach one and train only the head (encoder frozen)
on general.jsonl (AG News, CoNLL-2003 Reuters, STS-B and SemEval sentences; see pretrain_common.py);
(ii) continue from (i) with the whole model for a few hundred steps. Then `encoderkit fill-mask` on a
fixed set of prompts, for (i), (ii) and, where they exist, the SciFact-adapted model of experiment 1
and a tiny from-scratch model of experiment 2. Writes benchmarks/results/pretrain_fill_mask.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_common import WORK, build_corpora, encoderkit, machine, read_log, write_outputs

NAME = "pretrain_fill_mask"
PROMPTS = [
    "The capital of France is [MASK].",
    "Paris is the [MASK] of France.",
    "The cat sat on the [MASK].",
    "She poured herself a cup of [MASK].",
    "Shares of the company [MASK] sharply after the report.",
    "The team won the [MASK] on Sunday.",
    "Water boils at 100 degrees [MASK].",
    "The patients were treated with [MASK] for two weeks.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--head-steps", type=int, default=300)
    ap.add_argument("--full-steps", type=int, default=200)
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--retrain", action="store_true")
    args = ap.parse_args()

    corpus = build_corpora()["general"]
    head_dir, full_dir = WORK / "general-head", WORK / "general-full"
    common = [
        "--corpus",
        corpus,
        "--batch-size",
        32,
        "--max-length",
        128,
        "--eval-fraction",
        0.05,
        "--max-eval-examples",
        500,
        "--json",
        "-q",
        "--overwrite",
    ]
    if args.retrain or not (head_dir / "train_log.json").is_file():
        encoderkit(
            [
                "pretrain",
                "mlm",
                "--model",
                "default",
                "--out",
                head_dir,
                "--head-only-steps",
                args.head_steps,
                "--max-steps",
                args.head_steps,
                "--head-lr",
                1e-3,
                *common,
            ],
            log_file=WORK / "logs" / "general-head.txt",
        )
    if args.retrain or not (full_dir / "train_log.json").is_file():
        # continue from (i): its head is now part of the checkpoint, so no head is attached this time
        encoderkit(
            ["pretrain", "mlm", "--model", head_dir, "--out", full_dir, "--max-steps", args.full_steps, "--lr", 5e-5, *common],
            log_file=WORK / "logs" / "general-full.txt",
        )
    models = {
        "(i) MiniLM + head trained alone (general English)": head_dir,
        "(ii) = (i) + full MLM training (general English)": full_dir,
        "SciFact-adapted MiniLM (experiment 1, arm b)": WORK / "scifact-b_full",
        "tiny BERT from scratch (experiment 2, dynamic, seed 0)": WORK / "ablation" / "dynamic-s0",
    }
    result = {"machine": machine(), "corpus": str(corpus), "prompts": PROMPTS, "models": {}}
    for name, path in models.items():
        if not (path / "train_log.json").is_file():
            continue
        log = read_log(path)
        entry = {"path": str(path), "steps": log["step"], "held_out": log["evals"][-1], "predictions": {}}
        for prompt in PROMPTS:
            _, out = encoderkit(["fill-mask", prompt, "--model", path, "-k", args.k, "--json"])
            entry["predictions"][prompt] = [(p["token"], round(p["score"], 4)) for p in json.loads(out)["masks"][0]]
        result["models"][name] = entry
    write_outputs(NAME, result, markdown(result))


def markdown(res) -> str:
    lines = ["### Fill-mask sanity check (top-5 with probabilities)", ""]
    for name, e in res["models"].items():
        h = e["held_out"]
        lines += [
            f"**{name}** ({e['steps']} steps; held-out perplexity {h['perplexity']:.1f}, "
            f"masked-token accuracy {h['accuracy']:.3f} on its own held-out split)",
            "",
            "| prompt | top-5 |",
            "|---|---|",
        ]
        for prompt, preds in e["predictions"].items():
            lines.append(f"| {prompt} | " + ", ".join(f"{t} ({s:.2f})" for t, s in preds) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
