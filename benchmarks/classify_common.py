"""Helpers of the classification benchmarks: run the four methods on a data set, zero-shot prompt
selection on dev data, result files (JSON + Markdown + PNG) under benchmarks/results/<name>/."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from _common import RESULTS, machine
from encoderkit.data.corpora.labelled import LabeledData, read_labeled
from encoderkit.training.classify.train import ClassifyOptions, default_train_config, train_classify

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def embed_cached(model: str, texts: list[str], cache: Path = Path("runs/bench/cache")):
    """Frozen sentence embeddings of ``texts`` (Encoder.encode, normalised), cached on disk by model
    fingerprint and a hash of the texts: zero-shot scoring and clustering reuse one encoding pass."""
    import hashlib

    import numpy as np

    from encoderkit.models.heads.encoder import Encoder

    enc = Encoder.load(model)
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    f = cache / f"{enc.fingerprint}-{key}.npy"
    if f.is_file():
        return np.load(f), enc, 0.0
    t0 = time.perf_counter()
    x = enc.encode(texts, batch_size=64)
    secs = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    np.save(f, x)
    return x, enc, secs


def zero_shot_logits(clf, embeddings):
    """A zero-shot classifier's logits from precomputed frozen embeddings: its head reads exactly the
    normalised sentence embedding that Encoder.encode returns (tests/tasks/test_classify.py checks this)."""
    w = clf.module.head.weight.detach().numpy()
    b = clf.module.head.bias.detach().numpy()
    return embeddings @ w.T + b


def log(*args) -> None:
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def out_dir(name: str) -> Path:
    d = RESULTS / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def supervised(data: LabeledData, runs: Path, model: str, **cfg_overrides) -> dict:
    """Probe, then full fine-tune (the probe runs first inside the same call)."""
    cfg = replace(default_train_config("finetune"), **cfg_overrides)
    log("finetune", cfg)
    return train_classify(
        data,
        runs,
        options=ClassifyOptions(method="finetune", model=model),
        train_config=cfg,
        show_progress=False,
        on_event=lambda k, p: log(k, json.dumps({x: p.get(x) for x in ("dev", "test", "C", "epochs", "seconds")})),
    )


def fewshot(data: LabeledData, runs: Path, model: str, shots: int = 8, seeds: int = 5) -> dict:
    log(f"fewshot {shots} x {seeds} seeds")
    return train_classify(
        data,
        runs,
        options=ClassifyOptions(method="fewshot", model=model, shots=shots, seeds=seeds),
        train_config=default_train_config("fewshot"),
        show_progress=False,
        on_event=lambda k, p: log(k, json.dumps({x: p.get(x) for x in ("seed", "test", "frozen_probe_accuracy")})),
    )


def zero_shot_select(descriptions: dict, templates: list, dev, test, model: str) -> dict:
    """Every (descriptions, template) candidate scored on dev; the best one reported on test."""
    from encoderkit.tasks.classify import Classifier
    from encoderkit.training.classify.train import summary_metrics, targets_of

    e_dev, _, _ = embed_cached(model, dev.texts)
    e_test, _, secs = embed_cached(model, test.texts)
    rows = []
    for dname, desc in descriptions.items():
        for tmpl in templates:
            clf = Classifier.zero_shot(desc, model=model, template=tmpl)
            labels = clf.labels
            dev_acc = summary_metrics(zero_shot_logits(clf, e_dev), targets_of(dev, labels, False), False)["accuracy"]
            rows.append({"descriptions": dname, "template": tmpl, "dev_accuracy": dev_acc, "desc": desc})
            log("zero-shot candidate", dname, tmpl, dev_acc)
    best = max(rows, key=lambda r: r["dev_accuracy"])
    clf = Classifier.zero_shot(best["desc"], model=model, template=best["template"])
    z = zero_shot_logits(clf, e_test)
    res = summary_metrics(z, targets_of(test, clf.labels, False), False)
    for r in rows:
        r.pop("desc")
    return {
        "selected": {k: best[k] for k in ("descriptions", "template", "dev_accuracy")},
        "candidates": rows,
        "test": res,
        "seconds": round(secs, 2),
    }


def write(name: str, payload: dict, md: str) -> Path:
    d = out_dir(name)
    payload = {**payload, "machine": machine()}
    (d / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    (d / "results.md").write_text(md)
    return d


def bar_plot(
    path: Path, title: str, names: list[str], values: list[float], errors: list[float] | None = None, target: float | None = None
):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.bar(names, values, yerr=errors, capsize=4, color="#4c72b0")
    for i, v in enumerate(values):
        ax.text(i, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    if target is not None:
        ax.axhline(target, color="red", ls="--", lw=1, label=f"target {target}")
        ax.legend(fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def supervised_dataset(
    name: str,
    data_path: Path,
    runs: Path,
    model: str,
    zs_descriptions: dict,
    zs_templates: list,
    target: float,
    read_kw=None,
    **cfg,
):
    """The four methods on one data set with train (and dev or carved dev) and test splits."""
    data = read_labeled(data_path, **(read_kw or {}))
    sup = supervised(data, runs / f"{name}-finetune", model, **cfg)
    few = fewshot(data, runs / f"{name}-fewshot", model)
    from encoderkit.data.corpora.labelled import stratified_split

    train = data.split("train")
    dev = data.splits.get("dev")
    dev_note = "dev split"
    if dev is None:
        _, held = stratified_split(train.labels, 0.1, 0)
        dev, dev_note = train.subset(held), "10% of train (the fine-tune's held-out dev)"
    zs = zero_shot_select(zs_descriptions, zs_templates, dev, data.split("test"), model)
    p, f = sup["probe"], sup["finetune"]
    rows = [
        ("probe (frozen, LR)", p["test"]["accuracy"], None, p["seconds"]),
        ("fine-tune", f["test"]["accuracy"], None, f["train_seconds"]),
        (
            "8-shot SetFit",
            few["fewshot"]["accuracy"]["mean"],
            few["fewshot"]["accuracy"]["std"],
            sum(r["train_seconds"] for r in few["fewshot"]["runs"]) / len(few["fewshot"]["runs"]),
        ),
        (
            "8-shot frozen probe",
            few["fewshot"]["frozen_probe_accuracy"]["mean"],
            few["fewshot"]["frozen_probe_accuracy"]["std"],
            None,
        ),
        ("zero-shot", zs["test"]["accuracy"], None, 0.0),
    ]
    payload = {
        "dataset": str(data_path),
        "model": model,
        "splits": {k: len(v) for k, v in data.splits.items()},
        "probe": p,
        "finetune": {k: v for k, v in f.items() if k != "evals"} | {"evals": f.get("evals")},
        "fewshot": few["fewshot"],
        "zero_shot": zs,
        "zero_shot_selection": f"template and descriptions chosen on {dev_note}",
        "target_finetune": target,
    }
    md = [
        f"# {name}: test accuracy by method ({model})",
        "",
        f"Data: {data_path} ({', '.join(f'{k} {len(v)}' for k, v in data.splits.items())}). Machine: 2 CPU cores.",
        "",
        "| method | test accuracy | train time (s) |",
        "|---|---|---|",
    ]
    for n, v, e, t in rows:
        md.append(f"| {n} | {v:.4f}{f' ± {e:.4f}' if e is not None else ''} | {'' if t is None else round(t, 1)} |")
    md += [
        "",
        f"- probe: C={p['C']} chosen on dev; encoding + fit {p['seconds']} s.",
        f"- fine-tune: {f['epochs']} epochs ({f['stopped_early'] or 'no early stop'}), {f['seconds_per_epoch']} s/epoch, "
        f"peak RSS {f['peak_rss_mb']} MB, best dev {f.get('dev')}; "
        f"target {target}: {'met' if f['test']['accuracy'] >= target else 'MISSED'}.",
        f"- 8-shot: SetFit (20 pair iterations, 1 epoch, lr 2e-5, LR head C=1) over seeds {few['fewshot']['seeds']}, mean ± std; "
        f"examples drawn from {few['fewshot']['drawn_from']}.",
        f"- zero-shot: {zs['selected']} (selected on {dev_note} among {len(zs['candidates'])} candidates).",
    ]
    d = write(name, payload, "\n".join(md) + "\n")
    bar_plot(
        d / "accuracy.png",
        f"{name} test accuracy ({model})",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] or 0 for r in rows],
        target,
    )
    return payload
