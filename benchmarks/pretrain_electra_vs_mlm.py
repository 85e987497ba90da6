"""Experiment 3: ELECTRA's sample-efficiency claim at small scale: MLM vs RTD from scratch, equal wall clock.

    nice -n 19 python benchmarks/pretrain_electra_vs_mlm.py --minutes 8 --seeds 0 1

Both arms train the same tiny BERT encoder (L2/H128, MiniLM's vocabulary) from random initialisation
on the same corpus (general.jsonl + SciFact abstracts, see pretrain_common.py), same batch, sequence
length and learning rate. The RTD arm adds ELECTRA's generator (1/4 of the width, same depth, shared
embeddings; loss = MLM_gen + 50·RTD). Equal budget: the seconds per step of each objective are
measured first (a short calibration run), then each arm gets ``minutes * 60 / seconds_per_step``
steps so that both finish their learning-rate schedule in about the same training time (eval time
excluded); the measured training time of every run is reported.

Compared on what both produce, the encoder: linear probes on frozen mean-pooled vectors, SST-2
(train -> test) and TREC-6 (train -> test); neither set is in the pretraining corpus. (The paper's
evaluation is GLUE fine-tuning of much larger models trained for days; this is a small-scale check.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_common import (
    RESULTS,
    WORK,
    build_corpora,
    encoderkit,
    machine,
    probe,
    probe_tasks,
    read_log,
    write_outputs,
)

NAME = "pretrain_electra_vs_mlm"


def common(args, corpora) -> list:
    return [
        "--model",
        "default",
        "--from-scratch",
        "--size",
        args.size,
        "--corpus",
        corpora["general"],
        "--corpus",
        corpora["scifact"],
        "--batch-size",
        args.batch_size,
        "--max-length",
        args.max_length,
        "--lr",
        args.lr,
        "--split-seed",
        0,
        "--eval-fraction",
        0.05,
        "--max-eval-examples",
        500,
        "--json",
        "-q",
        "--overwrite",
    ]


def calibrate(args, corpora) -> dict:
    """Seconds per training step of each objective (mean over steps 10-40 of a short run)."""
    cal_file = WORK / "electra" / "calibration.json"
    if cal_file.is_file() and not args.recalibrate:
        return json.loads(cal_file.read_text())
    res = {}
    for obj in ("mlm", "rtd"):
        out = WORK / "electra" / f"calibrate-{obj}"
        encoderkit(
            ["pretrain", obj, *common(args, corpora), "--out", out, "--max-steps", 40, "--eval-every", 0, "--seed", 99],
            log_file=WORK / "logs" / f"electra-calibrate-{obj}.txt",
        )
        curve = read_log(out)["loss_curve"]
        t = {r["step"]: r["train_seconds"] for r in curve}
        res[obj] = (t[40] - t[10]) / 30
    cal_file.parent.mkdir(parents=True, exist_ok=True)
    cal_file.write_text(json.dumps(res))
    return res


def run_arm(obj: str, seed: int, steps: int, args, corpora, tasks) -> dict:
    out = WORK / "electra" / f"{obj}-s{seed}"
    probe_file = out / "probe.json"
    if not (out / "train_log.json").is_file() or args.retrain or read_log(out)["config"]["max_steps"] != steps:
        extra = ["--generator-size", args.generator_size] if obj == "rtd" else []
        encoderkit(
            [
                "pretrain",
                obj,
                *common(args, corpora),
                "--out",
                out,
                "--max-steps",
                steps,
                "--seed",
                seed,
                "--eval-every",
                max(1, steps // 4),
                "--max-minutes",
                args.minutes * 1.5,
                *extra,
            ],
            log_file=WORK / "logs" / f"electra-{obj}-s{seed}.txt",
        )
        probe_file.unlink(missing_ok=True)
    log = read_log(out)
    if not probe_file.is_file():
        probe_file.write_text(json.dumps(probe(out, tasks, seed=seed)))
    fin = log["evals"][-1]
    return {
        "objective": obj,
        "seed": seed,
        "steps": log["step"],
        "train_seconds": log["train_seconds"],
        "stopped_early": log["stopped_early"],
        "tokens_seen": log["step"] * log["config"]["batch_size"],
        "final_eval": fin,
        "parameters": log["model"]["parameters"],
        **json.loads(probe_file.read_text()),
    }


def plot(runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "sst2", "SST-2 probe accuracy (test)"), (axes[1], "trec6", "TREC-6 probe accuracy (test)")):
        names = ["random-init", "mlm", "rtd"]
        vals = [[r[key] for r in runs if r["objective"] == n] for n in names]
        ax.bar(
            range(3),
            [np.mean(v) if v else 0 for v in vals],
            yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals],
            capsize=4,
            color=["grey", "C0", "C1"],
        )
        for i, v in enumerate(vals):
            ax.scatter([i] * len(v), v, color="k", s=12, zorder=3)
        flat = [x for v in vals for x in v]
        ax.set_ylim(min(flat) - 0.03, max(flat) + 0.02)
        ax.set_xticks(range(3), ["random init", "MLM", "ELECTRA RTD"])
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Equal training time: tiny encoder from scratch, MLM vs replaced-token detection")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(res) -> str:
    m = res["machine"]
    s = res["settings"]
    lines = [
        "### ELECTRA vs MLM at equal training time (tiny encoder from scratch)",
        "",
        f"{m['cpu']}, {m['cores_available']} cores, {m['date']}. Encoder {s['size']} (L2/H128); budget "
        f"{s['minutes']} min of training per run; measured s/step: MLM {res['calibration']['mlm']:.3f}, "
        f"RTD {res['calibration']['rtd']:.3f}; batch {s['batch_size']} x <= {s['max_length']} tokens, lr {s['lr']}.",
        "",
        "| objective | seed | steps | train time | SST-2 acc. | TREC-6 acc. | own held-out metric |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        f = r["final_eval"]
        own = (
            f"MLM ppl {f['perplexity']:.1f}, acc {f['accuracy']:.3f}"
            if r["objective"] == "mlm"
            else f"RTD acc {f['disc_accuracy']:.3f}, replaced P/R {f['replaced_precision']:.2f}/{f['replaced_recall']:.2f}, "
            f"gen ppl {f['gen_perplexity']:.1f}"
            if r["objective"] == "rtd"
            else "—"
        )
        t = "—" if r["objective"] == "random-init" else f"{r['train_seconds'] / 60:.1f} min"
        lines.append(f"| {r['objective']} | {r['seed']} | {r['steps']} | {t} | {r['sst2']:.4f} | {r['trec6']:.4f} | {own} |")
    lines += ["", "| objective | SST-2 mean ± sd | TREC-6 mean ± sd |", "|---|---|---|"]
    for obj, x in res["summary"].items():
        lines.append(
            f"| {obj} | {x['sst2']['mean']:.4f} ± {x['sst2']['sd']:.4f} | {x['trec6']['mean']:.4f} ± {x['trec6']['sd']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.0, help="training-time budget per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--generator-size", type=float, default=0.25)
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--recalibrate", action="store_true")
    args = ap.parse_args()

    corpora = build_corpora()
    tasks = probe_tasks()
    cal = calibrate(args, corpora)
    steps = {obj: int(args.minutes * 60 / cal[obj]) for obj in ("mlm", "rtd")}
    print("steps per arm:", steps, flush=True)
    runs = []
    for seed in args.seeds:
        for obj in ("mlm", "rtd"):
            runs.append(run_arm(obj, seed, steps[obj], args, corpora, tasks))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "final_eval"}), flush=True)
        rnd = WORK / "ablation" / f"random-init-s{seed}"  # the same random tiny encoder, probed in experiment 2
        if (rnd / "probe.json").is_file():
            runs.append(
                {
                    "objective": "random-init",
                    "seed": seed,
                    "steps": 0,
                    "train_seconds": 0.0,
                    "final_eval": {},
                    **json.loads((rnd / "probe.json").read_text()),
                }
            )
    summary = {}
    for obj in ("random-init", "mlm", "rtd"):
        rs = [r for r in runs if r["objective"] == obj]
        if rs:
            summary[obj] = {
                k: {
                    "mean": float(np.mean([r[k] for r in rs])),
                    "sd": float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else 0.0,
                }
                for k in ("sst2", "trec6", "train_seconds", "steps")
            }
    res = {"machine": machine(), "settings": vars(args), "calibration": cal, "steps": steps, "runs": runs, "summary": summary}
    plot(runs, RESULTS / f"{NAME}.png")
    write_outputs(NAME, res, markdown(res))


if __name__ == "__main__":
    main()
