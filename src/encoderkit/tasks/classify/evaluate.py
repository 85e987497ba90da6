"""`encoderkit eval classify`: accuracy, macro-F1, per-class precision / recall / F1, the confusion
matrix, calibration (ECE and a reliability diagram) and throughput of a classifier on labelled data;
written as results.json + results.md + PNG plots.

>>> res = evaluate_classifier(Classifier.load("runs/sst2"), "../shared/data/sst2", out="out/sst2")  # doctest: +SKIP
>>> res["accuracy"], res["throughput"]["texts_per_second"]                                       # doctest: +SKIP
(0.9, 310.2)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ...data.corpora.labelled import LabeledData, read_labeled
from ...errors import DataError
from ...evaluation.classification import calibration_inputs, multi_label_metrics, reliability, single_label_metrics
from .plots import plot_confusion, plot_per_label, plot_reliability


def _targets(split, labels: list[str], multi: bool) -> np.ndarray:
    pos = {lab: i for i, lab in enumerate(labels)}
    for i, labs in enumerate(split.labels):
        for lab in labs:
            if lab not in pos:
                raise DataError(
                    split.path,
                    f"label '{lab}' is not one of the classifier's labels ({', '.join(labels[:10])})",
                    line=split.lines[i],
                    hint="evaluate on data with the labels the model was trained on",
                )
    if multi:
        y = np.zeros((len(split), len(labels)), dtype=np.int8)
        for i, labs in enumerate(split.labels):
            y[i, [pos[lab] for lab in labs]] = 1
        return y
    if any(len(labs) != 1 for labs in split.labels):
        i = next(i for i, labs in enumerate(split.labels) if len(labs) != 1)
        raise DataError(split.path, "several labels on one example, but the classifier is single-label", line=split.lines[i])
    return np.array([pos[labs[0]] for labs in split.labels], dtype=np.int64)


def evaluate_classifier(
    clf,
    data: str | Path | LabeledData,
    *,
    split: str = "test",
    out: str | Path | None = None,
    batch_size: int = 32,
    read_options: dict | None = None,
    limit: int | None = None,
) -> dict:
    """Evaluate ``clf`` on one split of ``data``; with ``out``, write results.json, results.md,
    confusion.png (per_label.png for multi-label) and reliability.png there."""
    from ...evaluation.machine import machine_info
    from ...runtime import n_threads

    if not isinstance(data, LabeledData):
        data = read_labeled(data, **(read_options or {}))
    part = data.split(split)
    if limit:
        part = part.subset(range(min(limit, len(part))))
    labels, multi = clf.labels, clf.multi_label
    y = _targets(part, labels, multi)
    clf.logits(part.texts[: min(len(part), batch_size)], batch_size=batch_size)  # warm-up, not timed
    t0 = time.perf_counter()
    z = clf.logits(part.texts, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    probs = clf.probabilities(logits=z)
    keep = clf.decide(probs, z)
    res: dict = {
        "model": clf.describe(),
        "data": data.describe(),
        "split": split,
        "split_path": part.path,
        "labels": labels,
        "multi_label": multi,
    }
    if multi:
        m = multi_label_metrics(y, keep)
        res |= {k: m[k] for k in ("n", "accuracy", "micro_f1", "micro_precision", "micro_recall", "macro_f1", "hamming_loss")}
    else:
        abstained = ~keep.any(1)
        pred = np.where(abstained, -1, probs.argmax(1))
        m = single_label_metrics(y, np.where(abstained, 0, pred), len(labels))
        acc = float((pred == y).mean()) if len(y) else 0.0  # an abstention is never right
        res |= {"n": m["n"], "accuracy": acc, "macro_f1": m["macro_f1"], "weighted_f1": m["weighted_f1"]}
        res |= {"abstained": int(abstained.sum())}
        res["confusion"] = {"labels": labels, "matrix": m["confusion"], "rows": "true", "columns": "predicted"}
    pc = m["per_class"]
    res["per_class"] = [
        {"label": lab, "precision": pc["precision"][i], "recall": pc["recall"][i], "f1": pc["f1"][i], "support": pc["support"][i]}
        for i, lab in enumerate(labels)
    ]
    conf, correct = calibration_inputs(probs, y, multi)
    rel = reliability(conf, correct)
    res["calibration"] = {"ece": rel["ece"], "temperature": clf.config.get("temperature", 1.0), "reliability": rel}
    res["throughput"] = {
        "texts_per_second": round(len(part) / max(seconds, 1e-9), 1),
        "seconds": round(seconds, 3),
        "batch_size": batch_size,
        "backend": clf.backend,
        "threads": n_threads(),
    }
    res["machine"] = machine_info()
    if out is not None:
        write_report(res, Path(out))
    return res


def write_report(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(results_markdown(res))
    title = f"{res['model']['name']} on {Path(res['split_path']).name}"
    if res["multi_label"]:
        plot_per_label(res["per_class"], out / "per_label.png", title)
    else:
        plot_confusion(np.array(res["confusion"]["matrix"]), res["labels"], out / "confusion.png", title)
    plot_reliability(res["calibration"]["reliability"], out / "reliability.png", f"{title} (ECE {res['calibration']['ece']:.3f})")


def results_markdown(res: dict) -> str:
    m, t = res["model"], res["throughput"]
    lines = [
        f"# Classification: {m['name']} on {res['split_path']} ({res['n']} texts)",
        "",
        f"- model: {m['name']} ({m.get('method')}), base {((m.get('base_model') or {}).get('name'))}, "
        f"{len(res['labels'])} labels, {'multi' if res['multi_label'] else 'single'}-label, backend {m['backend']}",
        f"- machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}",
        "",
    ]
    if res["multi_label"]:
        lines += [
            "| subset accuracy | micro-F1 | macro-F1 | Hamming loss | ECE | texts/s |",
            "|---|---|---|---|---|---|",
            f"| {res['accuracy']:.4f} | {res['micro_f1']:.4f} | {res['macro_f1']:.4f} | {res['hamming_loss']:.4f} | "
            f"{res['calibration']['ece']:.4f} | {t['texts_per_second']} |",
        ]
    else:
        lines += [
            "| accuracy | macro-F1 | weighted-F1 | ECE | abstained | texts/s |",
            "|---|---|---|---|---|---|",
            f"| {res['accuracy']:.4f} | {res['macro_f1']:.4f} | {res['weighted_f1']:.4f} | {res['calibration']['ece']:.4f} | "
            f"{res['abstained']} | {t['texts_per_second']} |",
        ]
    lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for r in res["per_class"]:
        lines.append(f"| {r['label']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |")
    lines += [
        "",
        f"Throughput: {t['texts_per_second']} texts/s ({t['seconds']} s for {res['n']} texts, batch {t['batch_size']}, "
        f"{t['backend']}, {t['threads']} threads). Calibration: temperature {res['calibration']['temperature']}, "
        f"ECE {res['calibration']['ece']:.4f} over {res['calibration']['reliability']['bins']} bins.",
    ]
    return "\n".join(lines) + "\n"
