"""Experiment 1: domain-adaptive MLM pretraining of the bundled all-MiniLM-L6-v2 on SciFact.

    nice -n 19 python benchmarks/pretrain_domain_scifact.py                 # train both arms, then evaluate
    nice -n 19 python benchmarks/pretrain_domain_scifact.py --only-eval     # re-run only the retrieval step

10% of the SciFact corpus documents are held out (deterministic, --split-seed 0). MiniLM has no MLM
head, so one is attached (tied to the input embeddings) and both arms run the same number of steps
on the same data order:

  (a) head only: the encoder stays frozen for all steps (its vectors stay bit-identical to MiniLM's);
  (b) full continued pretraining: the same head warm-up for --warmup-steps, then encoder + head.

Reports held-out masked-token perplexity and accuracy at each checkpoint (same masks every time),
then SciFact test nDCG@10 of the dense retriever (mean pooling, whole documents as in BEIR/MTEB) of
(a)'s and (b)'s encoders through `encoderkit eval retrieval`. Writes
benchmarks/results/pretrain_domain_scifact.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_common import DATA, RESULTS, WORK, encoderkit, machine, read_log, write_outputs

NAME = "pretrain_domain_scifact"


def train(args) -> dict:
    corpus = args.data / "corpus.jsonl"
    common = [
        "--model",
        "default",
        "--corpus",
        corpus,
        "--max-steps",
        args.steps,
        "--batch-size",
        args.batch_size,
        "--max-length",
        args.max_length,
        "--eval-fraction",
        0.1,
        "--split-seed",
        0,
        "--seed",
        0,
        "--eval-every",
        args.eval_every,
        "--max-eval-examples",
        args.eval_examples,
        "--lr",
        args.lr,
        "--head-lr",
        args.head_lr,
        "--json",
        "-q",
    ]
    arms = {"a_head_only": ["--head-only-steps", args.steps], "b_full": ["--head-only-steps", args.warmup_steps]}
    walls = {}
    for arm, extra in arms.items():
        out = WORK / f"scifact-{arm}"
        if (out / "train_log.json").is_file() and not args.retrain:
            print(f"{arm}: reusing {out}")
            continue
        walls[arm], _ = encoderkit(
            ["pretrain", "mlm", *common, *extra, "--out", out, "--overwrite"], log_file=WORK / "logs" / f"scifact-{arm}.txt"
        )
    return walls


def encoder_unchanged(model_dir: Path) -> bool:
    """True when every encoder tensor of model_dir equals the bundled MiniLM's."""
    from safetensors.torch import load_file

    from encoderkit.models.ref import bundled_model_path

    base = load_file(str(bundled_model_path() / "model.safetensors"))
    new = load_file(str(model_dir / "model.safetensors"))
    import torch

    return all(torch.equal(new["bert." + k], v) for k, v in base.items() if "pooler" not in k and "position_ids" not in k)


def retrieval(args, arm: str) -> dict:
    model = WORK / f"scifact-{arm}"
    out = WORK / f"eval-{arm}"
    base = RESULTS / "eval-scifact-wholedoc" / "results.json"  # written by benchmarks/eval_scifact.sh
    if arm == "a_head_only" and base.is_file() and encoder_unchanged(model):
        # (a)'s encoder is bit-identical to the bundled MiniLM: its dense run is the base whole-document run
        res = json.loads(base.read_text())
        if res["index"]["model"]["spec"] == "default" and res["index"]["chunking"]["size"] == 0:
            dense = res["pipelines"]["dense"]
            return {
                "ndcg@10": dense["metrics"]["ndcg@10"],
                "recall@100": dense["metrics"]["recall@100"],
                "mrr@10": dense["metrics"]["mrr@10"],
                "per_query": dense["per_query_ndcg@10"],
                "eval_wall_s": None,
                "reused": str(base.relative_to(RESULTS.parent.parent)),
            }
    wall, _ = encoderkit(
        [
            "eval",
            "retrieval",
            args.data,
            "--pipeline",
            "dense",
            "--model",
            model,
            "--out",
            out,
            "--index",
            WORK / f"index-{arm}",
            "--chunk-size",
            0,
            "-q",
        ],
        log_file=WORK / "logs" / f"eval-{arm}.txt",
    )
    res = json.loads((out / "results.json").read_text())
    dense = res["pipelines"]["dense"]
    return {
        "ndcg@10": dense["metrics"]["ndcg@10"],
        "recall@100": dense["metrics"]["recall@100"],
        "mrr@10": dense["metrics"]["mrr@10"],
        "per_query": dense["per_query_ndcg@10"],
        "eval_wall_s": round(wall, 1),
    }


def paired_bootstrap(a: dict, b: dict, n: int = 10000, seed: int = 0) -> dict:
    keys = sorted(set(a) & set(b))
    d = np.array([b[k] - a[k] for k in keys])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return {
        "mean_diff": float(d.mean()),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "queries_better": int((d > 0).sum()),
        "queries_worse": int((d < 0).sum()),
        "n": len(d),
    }


def plot(logs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = {"a_head_only": "(a) head only", "b_full": "(b) head warm-up + full"}
    for arm, log in logs.items():
        ev = [e for e in log["evals"] if e["step"] > 0]
        axes[0].plot([e["step"] for e in ev], [e["perplexity"] for e in ev], marker="o", label=labels[arm])
        axes[1].plot([e["step"] for e in ev], [e["accuracy"] for e in ev], marker="o", label=labels[arm])
    w = logs["b_full"]["config"]["head_only_steps"]
    for ax in axes:
        ax.axvline(w, color="grey", ls=":", lw=1)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("held-out perplexity (masked tokens)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("held-out masked-token accuracy")
    fig.suptitle("MiniLM-L6 MLM domain adaptation on SciFact (10% of documents held out)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA / "scifact")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--warmup-steps", type=int, default=100, help="head-only warm-up of arm (b)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate of arm (b)")
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-examples", type=int, default=1000)
    ap.add_argument("--only-eval", action="store_true", help="skip training; (re-)run the retrieval evaluation")
    ap.add_argument("--skip-eval", action="store_true", help="train only")
    ap.add_argument("--retrain", action="store_true", help="train even if the arm's output exists")
    args = ap.parse_args()

    walls = {} if args.only_eval else train(args)
    logs = {arm: read_log(WORK / f"scifact-{arm}") for arm in ("a_head_only", "b_full")}
    prev = json.loads((RESULTS / f"{NAME}.json").read_text()) if (RESULTS / f"{NAME}.json").is_file() else {}
    result = {
        "machine": machine(),
        "data": str(args.data),
        "settings": vars(args) | {"data": str(args.data)},
        "arms": {},
        "retrieval": prev.get("retrieval", {}),
    }
    for arm, log in logs.items():
        fin = log["evals"][-1]
        result["arms"][arm] = {
            "steps": log["step"],
            "head_only_steps": log["config"]["head_only_steps"],
            "perplexity": fin["perplexity"],
            "mlm_loss": fin["mlm_loss"],
            "accuracy": fin["accuracy"],
            "masked_tokens": fin["masked_tokens"],
            "step0_perplexity": log["evals"][0]["perplexity"],
            "train_seconds": log["train_seconds"],
            "wall_seconds": log["wall_seconds"],
            "evals": [{k: e[k] for k in ("step", "perplexity", "accuracy", "mlm_loss")} for e in log["evals"]],
            "data": {k: v for k, v in log["data"].items() if k != "eval_document_ids"},
        }
        if arm in walls:
            result["arms"][arm]["cli_wall_seconds"] = round(walls[arm], 1)
    result["arms"]["a_head_only"]["encoder_bit_identical_to_minilm"] = encoder_unchanged(WORK / "scifact-a_head_only")
    a, b = result["arms"]["a_head_only"], result["arms"]["b_full"]
    result["relative_perplexity_reduction"] = 1 - b["perplexity"] / a["perplexity"]
    result["target_25pct_reached"] = result["relative_perplexity_reduction"] >= 0.25
    if not args.skip_eval:
        for arm in ("a_head_only", "b_full"):
            result["retrieval"][arm] = retrieval(args, arm)
    if len(result["retrieval"]) == 2:
        result["retrieval_paired"] = paired_bootstrap(
            result["retrieval"]["a_head_only"]["per_query"], result["retrieval"]["b_full"]["per_query"]
        )
    plot(logs, RESULTS / f"{NAME}.png")
    write_outputs(NAME, result, markdown(result))


def markdown(r: dict) -> str:
    a, b = r["arms"]["a_head_only"], r["arms"]["b_full"]
    m = r["machine"]
    lines = [
        "### MLM domain adaptation on SciFact (all-MiniLM-L6-v2 + attached tied MLM head)",
        "",
        f"{m['cpu']}, {m['cores_available']} cores, {m['date']}. Held out: {a['data']['eval_documents']} of "
        f"{a['data']['documents']} documents; {a['masked_tokens']} masked tokens evaluated (same masks for "
        "every checkpoint and arm).",
        "",
        "| arm | steps (head-only) | held-out perplexity | masked-token acc. | train time |",
        "|---|---|---|---|---|",
    ]
    for name, x in (("(a) head only", a), ("(b) warm-up + full", b)):
        lines.append(
            f"| {name} | {x['steps']} ({x['head_only_steps']}) | {x['perplexity']:.2f} | {x['accuracy']:.4f} | "
            f"{x['train_seconds'] / 60:.1f} min |"
        )
    lines += [
        "",
        f"Relative held-out perplexity reduction of (b) vs (a): **{r['relative_perplexity_reduction']:.1%}** "
        f"(target >= 25%: {'reached' if r['target_25pct_reached'] else 'NOT reached'}). "
        f"Random head before training: perplexity {a['step0_perplexity']:.0f}.",
        "",
    ]
    if r.get("retrieval"):
        lines += ["| encoder | SciFact test nDCG@10 | MRR@10 | R@100 |", "|---|---|---|---|"]
        for arm, name in (("a_head_only", "(a) = MiniLM unchanged"), ("b_full", "(b) MLM-adapted")):
            x = r["retrieval"].get(arm)
            if x:
                lines.append(f"| {name} | {x['ndcg@10']:.4f} | {x['mrr@10']:.4f} | {x['recall@100']:.4f} |")
        if r.get("retrieval_paired"):
            p = r["retrieval_paired"]
            lines += [
                "",
                f"(b) - (a) nDCG@10: {p['mean_diff']:+.4f} (paired bootstrap 95% CI "
                f"[{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}]; {p['queries_better']} queries better, "
                f"{p['queries_worse']} worse of {p['n']}).",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
