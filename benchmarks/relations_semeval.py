"""SemEval-2010 Task 8: official test macro-F1 of the trained relation models, with training wall time and
peak RSS; writes benchmarks/results/relations-semeval/ (results.json, results.md, per-run folders with
predictions.txt in the official answer format and confusion.png).

    python benchmarks/relations_semeval.py [--data ../shared/data/semeval2010_task8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine

RUNS = {"minilm": ("all-MiniLM-L6-v2", "runs/re-minilm"), "mpnet": ("all-mpnet-base-v2", "runs/re-mpnet")}
ANCHORS = {
    "R-BERT (BERT-base), Wu & He 2019": 0.8925,
    "BERT entity markers + entity start (BERT-large), Baldini Soares 2019": 0.892,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/semeval2010_task8")
    ap.add_argument("--out", default=str(RESULTS / "relations-semeval"))
    args = ap.parse_args()
    from encoderkit.tasks.extract.evaluate import evaluate_relations

    out = Path(args.out)
    rows = []
    for name, (backbone, run) in RUNS.items():
        run = Path(run)
        if not (run / "encoderkit_model.json").is_file():
            continue
        res = evaluate_relations(args.data, run, out / name)
        log = json.loads((run / "train_log.json").read_text()) if (run / "train_log.json").is_file() else {}
        stats = json.loads((run / "train_stats.json").read_text()) if (run / "train_stats.json").is_file() else {}
        rows.append(
            {
                "run": name,
                "backbone": backbone,
                "macro_f1": res["macro_f1"],
                "macro_precision": res["macro_precision"],
                "macro_recall": res["macro_recall"],
                "accuracy": res["accuracy"],
                "per_type_f1": {k: v["f1"] for k, v in res["per_type"].items()},
                "dev_macro_f1_best": (log.get("best") or {}).get("macro_f1"),
                "epochs_done": round(log.get("step", 0) / max(1, log.get("steps_per_epoch", 1)), 2),
                "stopped_early": log.get("stopped_early"),
                "train_seconds": log.get("train_seconds"),
                "wall_seconds": stats.get("wall_seconds"),
                "peak_rss_mb": stats.get("peak_rss_mb"),
                "command": stats.get("command"),
                "examples_per_s": res["examples_per_s"],
            }
        )
    payload = {
        "task": "SemEval-2010 Task 8 test (2,717 examples)",
        "metric": "official macro-F1, (9+1)-way with direction, Other excluded",
        "target": 0.85,
        "anchors": ANCHORS,
        "rows": rows,
        "machine": machine(),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = [
        "# SemEval-2010 Task 8 relation classification (test, 2,717 examples)",
        "",
        f"Official score: {payload['metric']}. Labels with direction from TEST_FILE_FULL.TXT. "
        f"Machine: {payload['machine']['cpu']}, {payload['machine']['cores_available']} cores; "
        f"{payload['machine']['date']}. Target 0.85.",
        "",
        "| backbone | macro-F1 | P | R | accuracy (19-way) | dev macro-F1 | epochs | train time | peak RSS | examples/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['backbone']} | **{r['macro_f1']:.4f}** | {r['macro_precision']:.4f} | {r['macro_recall']:.4f} "
            f"| {r['accuracy']:.4f} | "
            f"{r['dev_macro_f1_best']} | {r['epochs_done']} | {round((r['wall_seconds'] or 0) / 60, 1)} min "
            f"| {r['peak_rss_mb']} MB | "
            f"{r['examples_per_s']} |"
        )
    md += ["", "Published (same split): " + "; ".join(f"{k} {v}" for k, v in ANCHORS.items()), ""]
    md += [f"- `{r['run']}`: `{r['command']}` (one thread)" for r in rows]
    md += ["", "Each run folder has predictions.txt / answer_key.txt for `perl semeval2010_task8_scorer-v1.2.pl`."]
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
