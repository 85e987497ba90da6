"""``encoderkit train classify``, ``encoderkit classify`` and ``encoderkit eval classify``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, print_markdown, quiet_env
from .eval_cmd import eval_app
from .options import (
    batch_size_option,
    bf16_option,
    eval_every_option,
    json_option,
    out_option,
    quiet_option,
    resume_option,
    seed_option,
)
from .train_cmd import train_app


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)


def _read_options(fmt, text_col, label_col, label_sep, multi_label, label_level) -> dict:
    return {
        "fmt": fmt,
        "text_col": text_col,
        "label_col": label_col,
        "label_sep": label_sep,
        "multi_label": True if multi_label else None,
        "label_level": label_level,
    }


def _fmt_scores(d: dict | None, keys=("accuracy", "macro_f1", "micro_f1")) -> str:
    if not d:
        return "-"
    return "  ".join(f"{k} {d[k]:.4f}" for k in keys if k in d)


def _printer(quiet: bool):
    c = console()

    def on_event(stage: str, p: dict) -> None:
        if quiet:
            return
        if stage == "data":
            c.print(
                f"data: {p['train']} train / {p['dev']} dev ({p['dev_source']}) / {p['test']} test, {len(p['labels'])} labels"
                f"{' (multi-label)' if p['multi_label'] else ''}: {', '.join(p['labels'][:12])}"
                + ("" if len(p["labels"]) <= 12 else ", ...")
            )
            for note in p.get("notes") or []:
                c.print(f"note: {note}")
        elif stage == "probe":
            c.print(
                f"[bold]probe[/] (frozen encoder + logistic regression, C={p['C']}): dev {_fmt_scores(p.get('dev'))}"
                f" | test {_fmt_scores(p.get('test'))}  ({p['seconds']} s)"
            )
        elif stage == "finetune":
            lora = f", LoRA r={p['lora']['r']}" if p.get("lora") else ""
            c.print(
                f"[bold]fine-tune[/] ({p['epochs']} epochs{lora}, {p['parameters']['trainable']:,} trainable parameters): "
                f"dev {_fmt_scores(p.get('dev'))} | test {_fmt_scores(p.get('test'))}  "
                f"({p['train_seconds']} s training, {p['seconds_per_epoch']} s/epoch, peak RSS {p['peak_rss_mb']} MB)"
            )
            if p.get("stopped_early"):
                c.print(f"stopped early: {p['stopped_early']}")
        elif stage == "seed":
            c.print(
                f"seed {p['seed']}: {p['examples']} examples, {p['pairs']} pairs -> "
                f"SetFit test {_fmt_scores(p['test'])} | frozen probe accuracy {p['frozen_probe_accuracy']:.4f}  "
                f"({p['train_seconds']} s)"
            )

    return on_event


@train_app.command("classify")
def train_classify_cmd(
    data: Path = typer.Option(
        ..., help="Labelled data: CSV/TSV/JSONL file, SST-2/TREC/AG News file, or a train/dev/test folder."
    ),
    out: Path = out_option("Output classifier folder."),
    method: str = typer.Option("probe", help="probe | finetune | fewshot."),
    model: str = typer.Option("default", help="Encoder: 'default', a folder or a hub id."),
    shots: int = typer.Option(8, min=1, help="fewshot: examples per class."),
    seeds: int = typer.Option(5, min=1, help="fewshot: independent draws (reported as mean ± std)."),
    lora: Optional[int] = typer.Option(None, "--lora", help="finetune: train LoRA adapters of rank R instead of all weights."),
    lora_alpha: Optional[float] = typer.Option(None, help="LoRA alpha [2 x rank]."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the training data [finetune 4, fewshot 1]."),
    batch_size: Optional[int] = typer.Option(None, help="Examples per step [finetune 32, fewshot 16 pairs]."),
    lr: Optional[float] = typer.Option(None, help="Encoder learning rate [5e-5; LoRA 5e-4; fewshot 2e-5]."),
    head_lr: Optional[float] = typer.Option(None, help="Head learning rate [5e-4; LoRA 2 x lr]."),
    warmup: float = typer.Option(0.1, help="Warm-up share of the steps."),
    patience: Optional[int] = typer.Option(None, help="Early stopping: validations without improvement [2; 0 = off]."),
    eval_every: int = eval_every_option(),
    max_steps: Optional[int] = typer.Option(None, help="Stop after N steps (overrides --epochs)."),
    max_minutes: Optional[float] = typer.Option(None, help="Training-time budget."),
    max_length: Optional[int] = typer.Option(None, help="Token limit per text [the model's]."),
    dev_fraction: float = typer.Option(0.1, help="Share of training data held out when there is no dev split."),
    metric: Optional[str] = typer.Option(None, help="Dev selection metric: accuracy | macro_f1 | micro_f1."),
    class_weights: str = typer.Option("auto", help="auto | balanced | none (auto: balanced when classes differ 3x)."),
    dropout: float = typer.Option(0.1, help="finetune: dropout on the pooled embedding."),
    label_smoothing: float = typer.Option(0.0, help="finetune: label smoothing."),
    init_head: str = typer.Option("probe", help="finetune: start from the probe's head (probe) or a random one."),
    pair_iterations: int = typer.Option(20, help="fewshot: SetFit pair-generation rounds."),
    head_c: float = typer.Option(1.0, help="fewshot: C of the logistic-regression head."),
    seed: int = seed_option("Random seed (batches, dropout, dev split, few-shot draws: seeds SEED, SEED+1, ...)."),
    bf16: bool = bf16_option("Mixed-precision training (bfloat16 autocast)."),
    resume: bool = resume_option("finetune: continue from the checkpoint in --out."),
    fmt: str = typer.Option("auto", "--format", help="auto | csv | tsv | jsonl | sst2 | trec | agnews."),
    text_col: Optional[str] = typer.Option(None, help="Text column(s), e.g. 'title,description'."),
    label_col: Optional[str] = typer.Option(None, help="Label column."),
    label_sep: Optional[str] = typer.Option(None, help="Separator of several labels in one field (multi-label)."),
    multi_label: bool = typer.Option(False, "--multi-label", help="Multi-label data (labels split on --label-sep, ',')."),
    label_level: str = typer.Option("coarse", help="TREC: coarse (6) or fine (50) labels."),
    as_json: bool = json_option("Print the training summary as JSON."),
    quiet: bool = quiet_option("No progress bars or stage lines."),
):
    """Train a text classifier: linear probe, full / LoRA fine-tune (probe first), or few-shot SetFit."""
    quiet_env(quiet or as_json)
    from ..training.classify.train import ClassifyOptions, train_classify, train_config_for

    options = ClassifyOptions(
        method=method, model=model, max_length=max_length, dev_fraction=dev_fraction, metric=metric,
        class_weights=class_weights, dropout=dropout, label_smoothing=label_smoothing, init_head=init_head, lora=lora,
        lora_alpha=lora_alpha, shots=shots, seeds=seeds, pair_iterations=pair_iterations, head_c=head_c, seed=seed,
    )  # fmt: skip
    cfg = train_config_for(
        method, lora, epochs=epochs, batch_size=batch_size, lr=lr, head_lr=head_lr, patience=patience, max_steps=max_steps,
        max_minutes=max_minutes, warmup_ratio=warmup, eval_every=eval_every, seed=seed, bf16=bf16,
    )  # fmt: skip
    summary = train_classify(
        data,
        out,
        options=options,
        train_config=cfg,
        read_options=_read_options(fmt, text_col, label_col, label_sep, multi_label, label_level),
        resume=resume,
        on_event=_printer(quiet or as_json),
    )
    if as_json:
        print_json(summary)
        return
    c = console()
    if method == "fewshot":
        f = summary["fewshot"]
        acc, pr = f["accuracy"], f["frozen_probe_accuracy"]
        c.print(
            f"[bold]{shots}-shot over {len(f['seeds'])} seeds: SetFit accuracy {acc['mean']:.4f} ± {acc['std']:.4f}[/] "
            f"(frozen probe {pr['mean']:.4f} ± {pr['std']:.4f}); seed {f['saved_seed']} saved to {out}"
        )
    else:
        c.print(f'saved to {out} (load with Classifier.load; `encoderkit classify --model {out} "text"`)')


def _read_texts(file: Path) -> list[str]:
    import json

    from ..data.corpora.label_formats import read_text
    from ..errors import DataError

    content = read_text(file)
    if file.suffix.lower() == ".jsonl":
        texts = []
        for n, line in enumerate(content.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(file, f"invalid JSON ({exc.msg})", line=n) from None
            text = rec.get("text") if isinstance(rec, dict) else rec
            if not isinstance(text, str) or not text.strip():
                raise DataError(file, "no 'text' string", line=n)
            texts.append(text)
        return texts
    return [line.rstrip("\r") for line in content.split("\n") if line.strip()]


def load_any(model: Optional[str], labels: Optional[str], labels_file: Optional[Path], template: List[str], backend: str):
    """A trained classifier (``model`` is a classifier folder) or a zero-shot one (``labels`` /
    ``labels_file``, with ``model`` the encoder)."""
    from ..errors import EncoderkitError
    from ..models.heads.classifier import is_classifier
    from ..tasks.classify import Classifier

    if labels or labels_file:
        if labels and labels_file:
            raise EncoderkitError("pass --labels or --labels-file, not both")
        if model and is_classifier(model):
            raise EncoderkitError(f"{model} is a trained classifier", hint="zero-shot --model takes an encoder ('default')")
        return Classifier.zero_shot(labels_file or labels, model=model or "default", template=template or None)
    if not model:
        raise EncoderkitError("no classifier given", hint='pass --model runs/clf, or --labels "a,b,c" for zero-shot')
    return Classifier.load(model, backend=backend)


def classify(
    text: Optional[str] = typer.Argument(None, help="Text to classify (or --file)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Texts to classify: one per line, or .jsonl with 'text'."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Classifier folder; with --labels, the encoder [default]."),
    labels: Optional[str] = typer.Option(None, "--labels", help='Zero-shot: label names, "sports,politics,business".'),
    labels_file: Optional[Path] = typer.Option(
        None, "--labels-file", help="Zero-shot: labels with descriptions (JSON, JSONL, label<TAB>text)."
    ),
    template: List[str] = typer.Option([], "--template", help='Zero-shot prompt template(s), e.g. "This text is about {label}."'),
    none_threshold: Optional[float] = typer.Option(None, help="'None of these' below this score (zero-shot: top cosine)."),
    calibrate: Optional[Path] = typer.Option(None, help="Zero-shot: labelled data to fit the temperature and none-threshold on."),
    save: Optional[Path] = typer.Option(None, help="Zero-shot: save the (calibrated) classifier as a folder."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, help="Labels per text (single-label: best k)."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8 (after `encoderkit export onnx --model M`)."),
    batch_size: int = batch_size_option(32, "Texts per forward pass."),
    as_json: bool = json_option("Print the predictions as JSON."),
    quiet: bool = quiet_option("No calibration / save messages."),
):
    """Classify texts with a trained classifier, or zero-shot against label names / descriptions."""
    quiet_env(True)
    from ..errors import EncoderkitError

    texts = ([text] if text is not None else []) + (_read_texts(file) if file else [])
    clf = load_any(model, labels, labels_file, template, backend)
    if none_threshold is not None:
        clf.config["none_threshold"] = float(none_threshold)
    if calibrate is not None:
        from ..data.corpora.labelled import read_labeled
        from ..tasks.classify.zero_shot import calibrate as fit

        if clf.config.get("method") != "zero-shot":
            raise EncoderkitError("--calibrate applies to zero-shot classifiers (--labels)")
        part = read_labeled(calibrate)
        split = part.split("dev") if part.has("dev") else part.split("test")
        fitted = fit(clf, split.texts, [labs[0] if labs else None for labs in split.labels])
        if not quiet and not as_json:
            console(stderr=True).print(f"calibrated on {len(split)} texts: {fitted}")
    if save is not None:
        clf.save(save)
        if not quiet and not as_json:
            console(stderr=True).print(f"saved to {save}")
    if not texts:
        if save is not None:
            return
        raise EncoderkitError("no text to classify", hint='pass "text" or --file FILE')
    preds = clf.predict(texts, top_k=top_k, batch_size=batch_size)
    if as_json:
        print_json([{"text": t, "predictions": p} for t, p in zip(texts, preds)])
        return
    c = console()
    for t, p in zip(texts, preds):
        shown = ", ".join(f"{x['label']} ({x['score']:.3f})" for x in p) or "(none of these)"
        c.print(f"{shown}\t{t if len(t) <= 100 else t[:97] + '...'}")


@eval_app.command("classify")
def eval_classify(
    data: Path = typer.Argument(..., help="Labelled data (file or train/dev/test folder)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Classifier folder (or the encoder for --labels)."),
    out: Path = out_option("Output folder: results.json, results.md, confusion.png, reliability.png."),
    split: str = typer.Option("test", help="Split to evaluate."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Zero-shot: label names."),
    labels_file: Optional[Path] = typer.Option(None, "--labels-file", help="Zero-shot: labels with descriptions."),
    template: List[str] = typer.Option([], "--template", help="Zero-shot prompt template(s)."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    batch_size: int = batch_size_option(32, "Texts per forward pass (throughput is measured with it)."),
    limit: Optional[int] = typer.Option(None, help="Evaluate the first N texts only."),
    fmt: str = typer.Option("auto", "--format", help="auto | csv | tsv | jsonl | sst2 | trec | agnews."),
    text_col: Optional[str] = typer.Option(None, help="Text column(s), e.g. 'title,description'."),
    label_col: Optional[str] = typer.Option(None, help="Label column."),
    label_sep: Optional[str] = typer.Option(None, help="Separator of several labels in one field (multi-label)."),
    multi_label: bool = typer.Option(False, "--multi-label", help="Multi-label data (labels split on --label-sep, ',')."),
    label_level: str = typer.Option("coarse", help="TREC: coarse (6) or fine (50) labels."),
    as_json: bool = json_option("Print results.json to stdout."),
):
    """Accuracy, macro-F1, per-class P/R/F1, confusion matrix, calibration (ECE) and throughput."""
    quiet_env(True)
    from ..tasks.classify.evaluate import evaluate_classifier

    clf = load_any(model, labels, labels_file, template, backend)
    res = evaluate_classifier(
        clf,
        data,
        split=split,
        out=out,
        batch_size=batch_size,
        limit=limit,
        read_options=_read_options(fmt, text_col, label_col, label_sep, multi_label, label_level),
    )
    if as_json:
        print_json(res)
        return
    print_markdown((out / "results.md").read_text())
    console().print(f"wrote {out}/results.json, results.md, plots")
