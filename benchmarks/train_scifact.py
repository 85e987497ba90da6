"""Issue 4 recipe: train on SciFact train qrels only, evaluate every step on SciFact test.

    python benchmarks/train_scifact.py [--data ../shared/data] [--runs runs] [--only STEP ...] [--force]

Steps (each skipped when its output exists, so the recipe can be resumed):
  embed       train embed: MNRL + mined hard negatives on SciFact train           -> runs/scifact-embed
  ict         train embed --unsupervised: inverse-cloze pairs from the corpus only -> runs/scifact-ict
  rerank      train rerank: cross-encoder from the MiniLM backbone                 -> runs/scifact-reranker
  distill     train distill: the reranker's scores into a fresh MiniLM             -> runs/scifact-distilled
  sts         train embed --loss cosent on STS-B train                              -> runs/stsb-cosent
  eval        encoderkit eval retrieval / eval sts for every model above
Writes benchmarks/results/train_scifact.json and .md (table of every step, wall times, machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# The recipe: every option is explicit so the table can be reproduced exactly.
TRAIN = {
    # fine-tuned dense: MNRL (in-batch negatives) + one BM25-mined hard negative per query
    "embed": [
        "train",
        "embed",
        "--data",
        "{data}/scifact",
        "--out",
        "{runs}/scifact-embed",
        "--loss",
        "mnrl",
        "--hard-negatives",
        "bm25",
        "--negatives",
        "1",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--lr",
        "3e-5",
        "--bf16",
    ],
    # unsupervised: inverse-cloze pairs from the corpus only (no qrels used for training)
    "ict": [
        "train",
        "embed",
        "--data",
        "{data}/scifact",
        "--unsupervised",
        "--out",
        "{runs}/scifact-ict",
        "--loss",
        "mnrl",
        "--hard-negatives",
        "none",
        "--max-steps",
        "100",
        "--batch-size",
        "32",
        "--lr",
        "2e-5",
        "--bf16",
    ],
    # cross-encoder from the MiniLM backbone: listwise (ListNet) over 1 positive + 7 mined negatives
    "rerank": [
        "train",
        "rerank",
        "--data",
        "{data}/scifact",
        "--out",
        "{runs}/scifact-reranker",
        "--loss",
        "listwise",
        "--hard-negatives",
        "both",
        "--negatives",
        "7",
        "--neg-range",
        "0:30",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--lr",
        "5e-5",
        "--head-lr-mult",
        "20",
        "--max-length",
        "256",
        "--bf16",
    ],
    "distill": [
        "train",
        "distill",
        "--teacher",
        "{runs}/scifact-reranker",
        "--data",
        "{data}/scifact",
        "--out",
        "{runs}/scifact-distilled",
        "--hard-negatives",
        "both",
        "--negatives",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--lr",
        "3e-5",
        "--bf16",
    ],
    "sts": [
        "train",
        "embed",
        "--data",
        "{data}/stsbenchmark",
        "--out",
        "{runs}/stsb-cosent",
        "--loss",
        "cosent",
        "--epochs",
        "4",
        "--batch-size",
        "32",
        "--lr",
        "2e-5",
        "--val-fraction",
        "0.1",
        "--bf16",
    ],
}
OUTPUT = {
    "embed": "scifact-embed",
    "ict": "scifact-ict",
    "rerank": "scifact-reranker",
    "distill": "scifact-distilled",
    "sts": "stsb-cosent",
}


def ek(args: list[str], fmt: dict) -> float:
    cmd = [PY, "-m", "encoderkit", *[a.format(**fmt) for a in args]]
    print("$", " ".join(cmd[2:]), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return round(time.perf_counter() - t, 1)


def evaluate(
    name: str, pipelines: list[str], fmt: dict, *, model: str | None = None, rerank: str | None = None, index: str, force: bool
) -> dict:
    out = Path(fmt["results"]) / f"train-eval-{name}"
    if force or not (out / "results.json").is_file():
        args = ["eval", "retrieval", "{data}/scifact", "--out", str(out), "--index", index, "-q"]
        for p in pipelines:
            args += ["-p", p]
        if model:
            args += ["--model", model]
        if rerank:
            args += ["--rerank-model", rerank]
        ek(args, fmt)
    return json.loads((out / "results.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    fmt = {"data": args.data, "runs": args.runs, "results": str(ROOT / "benchmarks" / "results")}
    steps = args.only or ["embed", "ict", "rerank", "distill", "sts", "eval"]
    wall = {}
    wall_file = ROOT / "benchmarks" / "results" / "train_scifact_walltimes.json"
    if wall_file.is_file():
        wall = json.loads(wall_file.read_text())
    for step in steps:
        if step == "eval":
            continue
        done = (ROOT / args.runs / OUTPUT[step] / "train_log.json").is_file()
        if args.force or not done:
            wall[step] = ek(TRAIN[step], fmt)
            wall_file.write_text(json.dumps(wall, indent=1))
    if "eval" not in steps:
        return
    runs = args.runs
    for step in OUTPUT:  # steps run by hand (or in an earlier session): their training time from the run's log
        log_file = ROOT / runs / OUTPUT[step] / "train_log.json"
        if step not in wall and log_file.is_file():
            wall[step] = json.loads(log_file.read_text()).get("wall_seconds")
    rr = f"{runs}/scifact-reranker"
    rows = []
    base = evaluate("base", ["bm25", "dense", "hybrid"], fmt, index="build/bench-scifact", force=args.force)
    ft = evaluate(
        "finetuned",
        ["dense", "hybrid", "hybrid+rerank", "hybrid+rerank-rrf"],
        fmt,
        model=f"{runs}/scifact-embed",
        rerank=rr,
        index=f"{runs}/index-scifact-embed",
        force=args.force,
    )
    ict = evaluate(
        "ict", ["dense", "hybrid"], fmt, model=f"{runs}/scifact-ict", index=f"{runs}/index-scifact-ict", force=args.force
    )
    dist = evaluate(
        "distilled",
        ["dense", "hybrid"],
        fmt,
        model=f"{runs}/scifact-distilled",
        index=f"{runs}/index-scifact-distilled",
        force=args.force,
    )

    def row(label, res, pipeline, train_s=None):
        p = res["pipelines"][pipeline]
        rows.append(
            {
                "step": label,
                "pipeline": pipeline,
                "ndcg@10": p["metrics"]["ndcg@10"],
                "recall@100": p["metrics"]["recall@100"],
                "p50_ms": p["latency_ms"]["p50"],
                "rerank_p50_ms": p.get("stage_latency_ms_p50", {}).get("rerank"),
                "train_seconds": train_s,
            }
        )

    row("BM25", base, "bm25")
    row("base dense (all-MiniLM-L6-v2)", base, "dense")
    row("base hybrid", base, "hybrid")
    row("fine-tuned dense", ft, "dense", wall.get("embed"))
    row("fine-tuned hybrid", ft, "hybrid")
    row("fine-tuned hybrid + trained reranker (top 50 re-scored)", ft, "hybrid+rerank", wall.get("rerank"))
    row("fine-tuned hybrid + reranker, RRF of both orders", ft, "hybrid+rerank-rrf")
    row("unsupervised-adapted dense (ICT)", ict, "dense", wall.get("ict"))
    row("unsupervised-adapted hybrid", ict, "hybrid")
    row("distilled dense (student: MiniLM, teacher: the reranker)", dist, "dense", wall.get("distill"))
    row("distilled hybrid", dist, "hybrid")
    sts_out = Path(fmt["results"]) / "train-eval-sts"
    if args.force or not (sts_out / "sts.json").is_file():
        ek(["eval", "sts", "{data}/stsbenchmark", "-m", "default", "-m", f"{runs}/stsb-cosent", "--out", str(sts_out)], fmt)
    sts = json.loads((sts_out / "sts.json").read_text())
    payload = {"rows": rows, "sts": sts["results"], "train_wall_seconds": wall, "machine": base["machine"]}
    (Path(fmt["results"]) / "train_scifact.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = ["| step | pipeline | nDCG@10 | R@100 | p50 ms | rerank p50 ms | training s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['step']} | {r['pipeline']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} | {r['p50_ms']} | "
            f"{r['rerank_p50_ms'] if r['rerank_p50_ms'] is not None else ''} | {r['train_seconds'] or ''} |"
        )
    lines += ["", "| STS-B test | Spearman | Pearson |", "|---|---|---|"]
    for s in sts["results"]:
        lines.append(f"| {s['model']} | {s['spearman']:.4f} | {s['pearson']:.4f} |")
    (Path(fmt["results"]) / "train_scifact.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
