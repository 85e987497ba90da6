"""Experiment 2: RoBERTa's masking ablation at small scale: static vs dynamic masking, with and without NSP.

    nice -n 19 python benchmarks/pretrain_masking_ablation.py --seeds 0 1     # add seeds later: --seeds 2

The same tiny BERT (L2/H128, MiniLM's uncased WordPiece vocabulary) from random initialisation, the
same corpus (news.jsonl: AG News + CoNLL-2003 Reuters articles, see pretrain_common.py), the same
steps, batch and learning rate. Arms:

* static: one mask per training sequence, reused every epoch (BERT's original preprocessing with
  dupe_factor 1); dynamic: a fresh mask each epoch (RoBERTa, section 4.1);
* NSP: BERT's segment pairs (50% IsNext / 50% NotNext) + the NSP loss; no NSP: sequences packed with
  whole sentences of one document (RoBERTa's DOC-SENTENCES).

Reported: held-out MLM loss (the same held-out documents and masks for every arm: single segments,
static evaluation masks) and linear probes on frozen mean-pooled vectors: SST-2 (train 6,920 ->
test 1,821) and TREC-6 (train 5,452 -> test 500). Neither probe set is in the pretraining corpus.
A random-initialisation row (no pretraining) shows what the probe gets from the architecture alone.
Arms already trained are reused, so seeds can be added in later runs.
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

NAME = "pretrain_masking_ablation"
ARMS = {"static": ["--static-masking"], "dynamic": [], "static+nsp": ["--static-masking", "--nsp"], "dynamic+nsp": ["--nsp"]}


def run_arm(arm: str, seed: int, corpus: Path, args, tasks) -> dict:
    out = WORK / "ablation" / f"{arm}-s{seed}"
    probe_file = out / "probe.json"
    if not (out / "train_log.json").is_file() or args.retrain:
        extra = ARMS[arm] if arm in ARMS else ["--max-minutes", 0]
        encoderkit(
            [
                "pretrain",
                "mlm",
                "--model",
                "default",
                "--from-scratch",
                "--size",
                args.size,
                "--corpus",
                corpus,
                "--out",
                out,
                "--max-steps",
                args.steps,
                "--batch-size",
                args.batch_size,
                "--max-length",
                args.max_length,
                "--lr",
                args.lr,
                "--seed",
                seed,
                "--split-seed",
                0,
                "--eval-fraction",
                0.1,
                "--eval-every",
                max(1, args.steps // 4),
                "--max-eval-examples",
                1000,
                "--json",
                "-q",
                "--overwrite",
                *extra,
            ],
            log_file=WORK / "logs" / f"ablation-{arm}-s{seed}.txt",
        )
        probe_file.unlink(missing_ok=True)
    log = read_log(out)
    if not probe_file.is_file():
        probe_file.write_text(json.dumps(probe(out, tasks, seed=seed)))
    fin = log["evals"][-1]
    d = log["data"]
    return {
        "arm": arm,
        "seed": seed,
        "steps": log["step"],
        "mlm_loss": fin["mlm_loss"],
        "perplexity": fin["perplexity"],
        "accuracy": fin["accuracy"],
        "nsp_accuracy": fin.get("nsp_accuracy"),
        "epochs": log["step"] * log["config"]["batch_size"] / max(1, d["train_examples"]),
        "train_examples": d["train_examples"],
        "train_seconds": log["train_seconds"],
        "curve": [(e["step"], e["mlm_loss"]) for e in log["evals"]],
        **json.loads(probe_file.read_text()),
    }


def summarise(runs: list[dict]) -> dict:
    out = {}
    for arm in ["random-init", *ARMS]:
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        out[arm] = {
            k: {
                "mean": float(np.mean([r[k] for r in rs])),
                "sd": float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else 0.0,
                "values": [r[k] for r in rs],
            }
            for k in ("mlm_loss", "accuracy", "sst2", "trec6", "train_seconds")
        }
        out[arm]["seeds"] = [r["seed"] for r in rs]
        if rs[0].get("nsp_accuracy") is not None:
            out[arm]["nsp_accuracy"] = float(np.mean([r["nsp_accuracy"] for r in rs]))
        out[arm]["epochs"] = rs[0]["epochs"]
    return out


def plot(runs: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in ARMS if a in summary]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for arm in arms:
        for r in (r for r in runs if r["arm"] == arm):
            steps, loss = zip(*[(s, v) for s, v in r["curve"] if s > 0])
            axes[0].plot(
                steps,
                loss,
                marker=".",
                label=f"{arm} (seed {r['seed']})",
                color=f"C{arms.index(arm)}",
                alpha=0.8,
                ls=["-", "--", ":"][r["seed"] % 3],
            )
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("held-out MLM loss")
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    for ax, key, title in ((axes[1], "mlm_loss", "held-out MLM loss (final)"), (axes[2], "sst2", "SST-2 probe accuracy")):
        names = ([a for a in ["random-init"] if a in summary and key != "mlm_loss"]) + arms
        means = [summary[a][key]["mean"] for a in names]
        sds = [summary[a][key]["sd"] for a in names]
        ax.bar(range(len(names)), means, yerr=sds, capsize=4, color=[f"C{i}" for i in range(len(names))])
        for i, a in enumerate(names):
            ax.scatter([i] * len(summary[a][key]["values"]), summary[a][key]["values"], color="k", s=10, zorder=3)
        ax.set_xticks(range(len(names)), names, rotation=20)
        lo = min(min(summary[a][key]["values"]) for a in names)
        hi = max(max(summary[a][key]["values"]) for a in names)
        ax.set_ylim(lo - (hi - lo) * 0.6 - 1e-3, hi + (hi - lo) * 0.4 + 1e-3)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Static vs dynamic masking, with/without NSP: tiny BERT from scratch (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(res: dict) -> str:
    s = res["summary"]
    m = res["machine"]
    first = next(iter(a for a in ARMS if a in s))
    lines = [
        "### Masking ablation (RoBERTa section 4.1-4.2), tiny BERT from scratch",
        "",
        f"{m['cpu']}, {m['cores_available']} cores, {m['date']}. Model {res['settings']['size']} "
        f"(L2/H128), {res['settings']['steps']} steps x {res['settings']['batch_size']} sequences of <= "
        f"{res['settings']['max_length']} tokens (about {s[first]['epochs']:.1f} epochs of the training split), "
        f"lr {res['settings']['lr']}; seeds {s[first]['seeds']}; mean ± sd over seeds.",
        "",
        "| arm | held-out MLM loss | masked-token acc. | SST-2 acc. (test) | TREC-6 acc. (test) | NSP acc. | train time |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm, x in s.items():

        def f(k, x=x):
            return f"{x[k]['mean']:.4f} ± {x[k]['sd']:.4f}" if len(x[k]["values"]) > 1 else f"{x[k]['mean']:.4f}"

        mlm = "—" if arm == "random-init" else f("mlm_loss")
        acc = "—" if arm == "random-init" else f("accuracy")
        nsp = f"{x['nsp_accuracy']:.3f}" if x.get("nsp_accuracy") is not None else "—"
        t = "—" if arm == "random-init" else f"{x['train_seconds']['mean'] / 60:.1f} min"
        lines.append(f"| {arm} | {mlm} | {acc} | {f('sst2')} | {f('trec6')} | {nsp} | {t} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--arms", nargs="+", default=list(ARMS))
    ap.add_argument("--retrain", action="store_true")
    args = ap.parse_args()

    corpus = build_corpora()["news"]
    tasks = probe_tasks()
    seeds = sorted(
        set(args.seeds)
        | {
            int(p.name.rsplit("-s", 1)[1])
            for p in (WORK / "ablation").glob("*-s*")
            if (p / "probe.json").is_file() and p.name.rsplit("-s", 1)[0] in args.arms
        }
    )
    runs = []
    for seed in seeds:
        runs.append(run_arm("random-init", seed, corpus, args, tasks))
        for arm in args.arms:
            runs.append(run_arm(arm, seed, corpus, args, tasks))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "curve"}), flush=True)
    summary = summarise(runs)
    res = {"machine": machine(), "corpus": str(corpus), "settings": vars(args), "runs": runs, "summary": summary}
    plot(runs, summary, RESULTS / f"{NAME}.png")
    write_outputs(NAME, res, markdown(res))


if __name__ == "__main__":
    main()
