"""CoNLL-2003 English NER: test (eng.testb) entity F1 of every trained tagger variant, with its training
wall time and peak RSS; writes benchmarks/results/ner-conll2003/ (results.json, results.md, f1.png).

Train the variants first (benchmarks/extract_all.sh ner re [mpnet mpnet-ablation]), then:
    python benchmarks/ner_conll.py [--data ../shared/data/conll2003]

A variant whose model folder is not on this machine keeps its row from the previous results.json (each
row carries the date it was measured), so variants trained in different sessions share one table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine

VARIANTS = {
    "minilm-case": ("all-MiniLM-L6-v2", "case features", "runs/ner-minilm-case"),
    "minilm-nocase": ("all-MiniLM-L6-v2", "no case features", "runs/ner-minilm-nocase"),
    "minilm-case-crf": ("all-MiniLM-L6-v2", "case features + CRF", "runs/ner-minilm-case-crf"),
    "mpnet-case": ("all-mpnet-base-v2", "case features", "runs/ner-mpnet-case"),
    # the casing ablation on mpnet at equal budget (40 minutes of training, 1.26 epochs each)
    "mpnet-case-1.3ep": ("all-mpnet-base-v2", "case features, 40-min budget", "runs/ner-mpnet-case-1.3ep"),
    "mpnet-nocase": ("all-mpnet-base-v2", "no case features, 40-min budget", "runs/ner-mpnet-nocase"),
}
ANCHORS = {"BERT-base (cased), Devlin et al. 2019": 0.924, "DistilBERT (cased)": 0.895}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/conll2003")
    ap.add_argument("--out", default=str(RESULTS / "ner-conll2003"))
    args = ap.parse_args()
    from encoderkit.tasks.extract.evaluate import evaluate_ner

    out = Path(args.out)
    previous = {}
    if (out / "results.json").is_file():
        old = json.loads((out / "results.json").read_text())
        previous = {r["variant"]: {"measured": old["machine"]["date"]} | r for r in old.get("rows", [])}
    rows = []
    for name, (backbone, variant, run) in VARIANTS.items():
        run = Path(run)
        if not (run / "encoderkit_model.json").is_file():
            if name in previous:
                rows.append(previous[name])
            continue
        res = evaluate_ner(args.data, run, out / name, split="test", show_progress=False)
        log = json.loads((run / "train_log.json").read_text()) if (run / "train_log.json").is_file() else {}
        stats = json.loads((run / "train_stats.json").read_text()) if (run / "train_stats.json").is_file() else {}
        best = log.get("best") or {}
        rows.append(
            {
                "variant": name,
                "backbone": backbone,
                "setting": variant,
                "test_f1": res["f1"],
                "test_precision": res["precision"],
                "test_recall": res["recall"],
                "per_type_f1": {k: v["f1"] for k, v in res["per_type"].items()},
                "dev_f1_best": best.get("f1"),
                "steps": log.get("step"),
                "epochs_done": round(log.get("step", 0) / max(1, log.get("steps_per_epoch", 1)), 2),
                "stopped_early": log.get("stopped_early"),
                "train_seconds": log.get("train_seconds"),
                "wall_seconds": stats.get("wall_seconds"),
                "peak_rss_mb": stats.get("peak_rss_mb"),
                "threads": 1,
                "command": stats.get("command"),
                "test_words_per_s_torch": res["words_per_s"],
                "measured": machine()["date"],
            }
        )
    payload = {
        "task": "CoNLL-2003 English NER, eng.testb",
        "metric": "entity F1 (seqeval strict IOB2 = conlleval)",
        "target": 0.90,
        "anchors": ANCHORS,
        "rows": rows,
        "machine": machine(),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = [
        "# CoNLL-2003 English NER (eng.testb, 3,453 sentences, 5,648 entities)",
        "",
        f"Entity-level micro F1, seqeval strict IOB2 (= conlleval). Machine: {payload['machine']['cpu']}, "
        f"{payload['machine']['cores_available']} cores; {payload['machine']['date']}. Target 0.90.",
        "",
        "| backbone | setting | test F1 | P | R | dev F1 | epochs | train time | peak RSS | PER | LOC | ORG | MISC | measured |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pt = r["per_type_f1"]
        md.append(
            f"| {r['backbone']} | {r['setting']} | **{r['test_f1']:.4f}** | {r['test_precision']:.4f} | {r['test_recall']:.4f} | "
            f"{r['dev_f1_best']} | {r['epochs_done']} | {round((r['wall_seconds'] or 0) / 60, 1)} min | {r['peak_rss_mb']} MB | "
            f"{pt.get('PER')} | {pt.get('LOC')} | {pt.get('ORG')} | {pt.get('MISC')} | {r['measured']} |"
        )
    md += ["", "Published (cased models, same split): " + "; ".join(f"{k} {v}" for k, v in ANCHORS.items()), ""]
    md += [f"- `{r['variant']}`: `{r['command']}` (one thread)" for r in rows]
    (out / "results.md").write_text("\n".join(md) + "\n")
    if rows:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.barh([f"{r['backbone']}\n{r['setting']}" for r in rows], [r["test_f1"] for r in rows], color="#4477aa")
        ax.axvline(0.90, color="red", ls="--", label="target 0.90")
        for k, v in ANCHORS.items():
            ax.axvline(v, color="grey", ls=":", lw=1)
            ax.text(v, len(rows) - 0.5, k.split(",")[0], fontsize=7, rotation=90, va="top")
        ax.set_xlim(0.8, 0.95)
        ax.set_xlabel("eng.testb entity F1")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "f1.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()
