"""``encoderkit train ner|relations|extract``: the extraction heads on the one training loop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from .common import console, print_json, quiet_env
from .options import (
    batch_size_option,
    json_option,
    lr_option,
    out_option,
    quiet_option,
    run_controls,
    schedule,
    seed_option,
    with_options,
)
from .train_cmd import _report, train_app


def register(app: typer.Typer) -> None:
    """The commands are declared on ``train_app`` (registered by train_cmd)."""


@train_app.command("ner")
@with_options(schedule(5.0, 16, 8e-5, batch_help="Windows per step."), run_controls(budget=True))
def ner(
    data: Path = typer.Option(..., help="CoNLL folder (eng.train/eng.testa or train/dev .txt/.conll/.jsonl), a file, or .jsonl."),
    out: Path = out_option("Output tagger folder."),
    model: str = typer.Option("default", help="Backbone: 'default', a folder or a hub id."),
    scheme: str = typer.Option("auto", help="Tag scheme of CoNLL files: auto | iob1 | iob2 | bioes."),
    case_features: bool = typer.Option(True, "--case-features/--no-case-features", help="Learned word-shape embedding."),
    crf: bool = typer.Option(False, "--crf", help="CRF layer over the tags (Viterbi decoding, marginal confidences)."),
    context: str = typer.Option("document", help="Training units: document (neighbouring sentences) | sentence."),
    max_length: int = typer.Option(256, help="Tokens per window (special tokens included)."),
    stride: int = typer.Option(32, help="Tokens shared by consecutive windows."),
    dev: Optional[Path] = typer.Option(None, help="Validation data [the folder's dev split, else 10% of train]."),
    max_train_docs: Optional[int] = typer.Option(None, help="Use only the first N training documents."),
    max_dev_docs: Optional[int] = typer.Option(None, help="Validate on the first N dev documents."),
    head_lr_mult: float = typer.Option(10.0, help="Learning-rate multiplier of the new head (classifier, case, CRF)."),
    min_steps: int = typer.Option(
        500, min=0, help="At least this many optimizer steps: a small data set is seen for more epochs (0: epochs only)."
    ),
    patience: int = typer.Option(4, min=0, help="End after N validations without a better dev F1 (0: never)."),
    **options,
):
    """Train a named-entity tagger (BIO head on the backbone; case features; optional CRF).

    The schedule follows the data: --epochs passes, but at least --min-steps optimizer steps, validated
    about ten times, stopping early when dev F1 stops improving; the best model by dev F1 is kept."""
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.loop import TrainConfig
    from ..training.tagging import train_ner

    log = train_ner(
        data,
        out,
        model=model,
        scheme=scheme,
        case_features=case_features,
        crf=crf,
        max_length=max_length,
        stride=stride,
        context=context,
        dev_data=dev,
        max_train_docs=max_train_docs,
        max_dev_docs=max_dev_docs,
        train_config=TrainConfig.from_options(**options, head_lr_mult=head_lr_mult, min_steps=min_steps, patience=patience),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])


@train_app.command("relations")
@with_options(schedule(5.0, 16, 6e-5), run_controls(budget=True))
def relations(
    data: Path = typer.Option(..., help="SemEval-2010 Task 8 folder (TRAIN_FILE.TXT), a SemEval file, or head/tail .jsonl."),
    out: Path = out_option("Output relation model folder."),
    model: str = typer.Option("default", help="Backbone: 'default', a folder or a hub id."),
    max_length: int = typer.Option(128, help="Tokens per example (cropped around the markers beyond)."),
    dev: Optional[Path] = typer.Option(None, help="Validation data [the folder's dev file, else --val-fraction of train]."),
    val_fraction: float = typer.Option(0.1, help="Share of train held out for validation when there is no dev file."),
    max_train: Optional[int] = typer.Option(None, help="Use only the first N training examples."),
    head_lr_mult: float = typer.Option(10.0, help="Learning-rate multiplier of the new head."),
    **options,
):
    """Train a relation classifier (entity markers, entity-start pooling, directional labels)."""
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.loop import TrainConfig
    from ..training.relations import train_relations

    log = train_relations(
        data,
        out,
        model=model,
        max_length=max_length,
        dev_data=dev,
        val_fraction=val_fraction,
        max_train=max_train,
        train_config=TrainConfig.from_options(**options, head_lr_mult=head_lr_mult),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])


@train_app.command("extract")
def extract(
    schema: Path = typer.Option(..., help="Schema file (YAML, JSON or JSON Schema) declaring entities, relations, frames."),
    data: Optional[Path] = typer.Option(None, help="Annotated JSONL (see docs/extraction.md)."),
    out: Path = out_option("Output extraction model folder."),
    model: str = typer.Option("default", help="Backbone of the components trained here."),
    ner: Optional[Path] = typer.Option(None, help="Use this trained tagger as the entity component."),
    relations_model: Optional[Path] = typer.Option(None, "--relations", help="Use this trained relation model."),
    case_features: bool = typer.Option(True, "--case-features/--no-case-features", help="Learned word-shape embedding."),
    val_fraction: float = typer.Option(0.1, help="Share of the documents held out for validation and the final scores."),
    neg_ratio: float = typer.Option(3.0, help="Unrelated pairs kept per related pair in training."),
    epochs: float = typer.Option(5.0, min=0.01, help="Passes over the training data (fractions allowed)."),
    batch_size: int = batch_size_option(16, "Examples per batch."),
    lr: float = lr_option(6e-5, "Peak learning rate of the encoder."),
    max_steps: Optional[int] = typer.Option(None, help="Steps per component (quick runs)."),
    seed: int = seed_option("Random seed (data order, head initialisation)."),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Train the heads a schema needs (tagger, relations, frame links, frame attributes) from annotations."""
    quiet_env(quiet or as_json)
    from ..tasks.extract.train import train_extract
    from ..training.loop import TrainConfig

    pair_cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, max_steps=max_steps, head_lr_mult=10.0)
    tag_cfg = replace(pair_cfg, batch_size=min(batch_size, 8))
    card = train_extract(
        schema,
        data,
        out,
        model=model,
        ner=ner,
        relations=relations_model,
        case_features=case_features,
        val_fraction=val_fraction,
        neg_ratio=neg_ratio,
        tagger_config=tag_cfg,
        pair_config=pair_cfg,
    )
    if as_json:
        print_json(card)
        return
    c = console()
    c.print(f"[bold]{out}[/]: components {', '.join(card['components']) or 'none'}; {card['n_train_docs']} training documents")
    if card.get("metrics"):
        for name, v in card["metrics"]["dev"].items():
            c.print(f"  dev {name}: " + ", ".join(f"{k} {x}" for k, x in v.items() if not isinstance(x, dict)))
