"""Issue 35 item 11: what `encoderkit train ner` gives a user with little annotated data, at the defaults.
Trains on the first 500 / 2,000 / 14,041 (all) sentences of CoNLL-2003 eng.train, validates on the first
300 sentences of eng.testa and tests on the first 600 of eng.testb (entity F1, seqeval strict), each run
with the command's defaults and nothing else; with ``--old`` also the schedule before the fix (5 epochs,
no minimum of steps: ``--min-steps 0 --patience 0``) for comparison.

    python benchmarks/ner_small_data.py [--sizes 500,2000,14041] [--old 500,2000] [--data ../shared/data/conll2003] [--resume]

Writes benchmarks/results/ner-small-data/{results.json, results.md, f1.png}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

OUT = RESULTS / "ner-small-data"


def first_sentences(src: Path, dst: Path, n: int) -> int:
    """Copy the first ``n`` sentences of a CoNLL file (document markers kept); returns how many were kept."""
    blocks = [b for b in src.read_text().split("\n\n") if b.strip()]
    kept, count = [], 0
    for b in blocks:
        if b.lstrip().startswith("-DOCSTART-"):
            kept.append(b)
            continue
        if count == n:
            break
        kept.append(b)
        count += 1
    dst.write_text("\n\n".join(kept) + "\n\n")
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/conll2003")
    ap.add_argument("--sizes", default="500,2000,14041")
    ap.add_argument("--old", default="500,2000", help="sizes also trained with the previous schedule ('' for none)")
    ap.add_argument("--runs", default="runs/ner-small")
    ap.add_argument("--resume", action="store_true", help="keep the rows already measured and train only what is missing")
    args = ap.parse_args()
    from encoderkit.tasks.extract.evaluate import evaluate_ner

    data, runs = Path(args.data), Path(args.runs)
    rows = []
    if args.resume:  # the rows of an unfinished run, else those of the last finished one
        if (OUT / "partial.json").is_file():
            rows = json.loads((OUT / "partial.json").read_text())
        elif (OUT / "results.json").is_file():
            rows = json.loads((OUT / "results.json").read_text())["rows"]
    done = {(r["train_sentences"], r["recipe"]) for r in rows}
    plan = [(int(n), "defaults") for n in args.sizes.split(",") if n]
    plan += [(int(n), "before (5 epochs only)") for n in args.old.split(",") if n]
    for n, recipe in plan:
        if (n, recipe) in done:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            sub = Path(tmp)
            got = first_sentences(data / "eng.train", sub / "eng.train", n)
            first_sentences(data / "eng.testa", sub / "eng.testa", 300)
            first_sentences(data / "eng.testb", sub / "eng.testb", 600)
            out = runs / f"{n}-{'old' if recipe.startswith('before') else 'default'}"
            cmd = ["encoderkit", "train", "ner", "--data", str(sub), "--out", str(out), "--json", "-q"]
            if recipe.startswith("before"):
                cmd += ["--min-steps", "0", "--patience", "0"]
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "encoderkit", *cmd[1:]], capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
            log = json.loads((out / "train_log.json").read_text())
            res = evaluate_ner(sub, out, out / "eval", split="test", show_progress=False)
        row = {
            "train_sentences": got, "recipe": recipe, "test_f1": res["f1"], "precision": res["precision"],
            "recall": res["recall"], "dev_f1_best": (log.get("best") or {}).get("f1"), "steps": log.get("step"),
            "total_steps": log.get("total_steps"), "steps_per_epoch": log.get("steps_per_epoch"),
            "stopped_early": log.get("stopped_early"), "wall_minutes": round(wall / 60, 1),
            "command": " ".join(cmd).replace(str(sub), "SUBSET"),
        }  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
        OUT.mkdir(parents=True, exist_ok=True)  # what is done so far survives a later failure
        (OUT / "partial.json").write_text(json.dumps(rows, indent=1) + "\n")
    payload = {"rows": rows, "dev": "first 300 sentences of eng.testa", "test": "first 600 sentences of eng.testb",
               "machine": machine()}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    m = payload["machine"]
    md = [
        f"`encoderkit train ner` at its defaults (all-MiniLM-L6-v2) on the first N sentences of CoNLL-2003 train; "
        f"dev: first 300 sentences of eng.testa, test: first 600 of eng.testb (entity F1, seqeval strict). "
        f"{m['cpu']}, {m['cores_available']} cores, {m['date']}.",
        "",
        "| train sentences | schedule | test F1 | P | R | best dev F1 | optimizer steps (per epoch) | stopped early | wall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['train_sentences']:,} | {r['recipe']} | **{r['test_f1']:.4f}** | {r['precision']:.4f} | {r['recall']:.4f} | "
            f"{r['dev_f1_best']} | {r['steps']} ({r['steps_per_epoch']}) | {r['stopped_early'] or 'no'} | "
            f"{r['wall_minutes']} min |"
        )
    (OUT / "results.md").write_text("\n".join(md) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for recipe, style in (("defaults", "o-"), ("before (5 epochs only)", "s--")):
        pts = sorted((r["train_sentences"], r["test_f1"]) for r in rows if r["recipe"] == recipe)
        if pts:
            ax.plot(*zip(*pts), style, label=recipe)
    ax.set_xscale("log")
    ax.set_xlabel("training sentences (CoNLL-2003 train, first N)")
    ax.set_ylabel("test F1 (600 sentences)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "f1.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()
