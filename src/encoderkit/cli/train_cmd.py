"""``encoderkit train embed|rerank|distill``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, quiet_env
from .options import mining, out_option, run_controls, schedule, val_fraction_option, with_options

train_app = typer.Typer(
    help="Train retrieval models on your data: bi-encoders, cross-encoder rerankers, distillation.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


def _mining(hard_negatives: str, negatives: int, neg_range: str, neg_sampling: str, seed: int, **_):
    from ..errors import EncoderkitError
    from ..training.mining import MiningConfig

    try:
        lo, hi = (int(x) for x in neg_range.split(":"))
    except ValueError:
        raise EncoderkitError(f"--neg-range '{neg_range}' is not MIN:MAX", hint="e.g. --neg-range 2:30") from None
    return MiningConfig(method=hard_negatives, rank_min=lo, rank_max=hi, n_negatives=negatives, sampling=neg_sampling, seed=seed)


def _corpus_extra(data: Path, n_ict: int, n_titles: int, seed: int):
    """Weak supervision from the corpus of a BEIR folder: up to ``n_ict`` inverse-cloze pairs and up to
    ``n_titles`` (title, text) pairs, as extra training data (a deterministic sample of each)."""
    if not n_ict and not n_titles:
        return None
    import random

    from ..data.files.sources import SourceDoc, walk
    from ..training.ict import ict_pairs, title_pairs

    docs = [(d.doc_id, d.title, d.text) for d in walk([data / "corpus.jsonl"]) if isinstance(d, SourceDoc)]
    rng = random.Random(seed)
    ict = ict_pairs(docs, seed=seed)
    titles = title_pairs(docs)
    rng.shuffle(ict)
    rng.shuffle(titles)
    return ict[:n_ict] + titles[:n_titles]


def _report(log: dict, out: Path, as_json: bool) -> None:
    if as_json:
        keys = ("best", "evals", "total_steps", "step", "train_seconds", "wall_seconds", "device", "card")
        print_json({k: log.get(k) for k in keys})
        return
    best = log.get("best") or {}
    metric = log.get("metric")
    c = console()
    for e in log.get("evals", []):
        c.print(
            f"step {e['step']:>5}  epoch {e['epoch']:<5}  "
            + "  ".join(f"{k} {v}" for k, v in e.items() if k not in ("step", "epoch", "train_seconds", "eval_seconds"))
        )
    if best:
        c.print(f"[bold]best {metric} {best.get(metric)} at step {best.get('step')}[/] -> saved to {out}")
    on = f" on {log['device']}" if log.get("device") else ""
    c.print(f"training {log.get('train_seconds')} s, total {log.get('wall_seconds')} s{on}")


@train_app.command("embed")
@with_options(
    schedule(1.0, 32, 2e-5, batch_help="Examples per step (in-batch negatives for MNRL)."),
    mining("bm25", 1, "2:30", at_least=0),
    run_controls(),
)
def embed(
    out: Path = out_option("Output model folder (sentence-transformers format)."),
    data: Optional[Path] = typer.Option(None, help="BEIR folder, .jsonl of pairs/triplets or scored pairs, or STS folder."),
    model: str = typer.Option("default", help="Starting model: 'default', a folder or a hub id."),
    loss: str = typer.Option("mnrl", help="mnrl | mnrl-symmetric | cached-mnrl | triplet | cosent."),
    unsupervised: bool = typer.Option(False, "--unsupervised", help="Train on inverse-cloze pairs from the corpus."),
    corpus: List[Path] = typer.Option([], "--corpus", help="Text files/folders for --unsupervised."),
    mini_batch_size: int = typer.Option(16, min=1, help="cached-mnrl: examples encoded at once."),
    scale: float = typer.Option(20.0, min=0.0, help="MNRL/CoSENT scale (1/temperature)."),
    max_length: Optional[int] = typer.Option(None, min=8, help="Token limit per text [the model's]."),
    val_fraction: float = val_fraction_option("Share of queries/pairs held out for validation."),
    val_corpus_size: int = typer.Option(1000, min=1, help="Documents in the validation corpus."),
    **options,
):
    """Fine-tune a bi-encoder (contrastive, hard negatives, CoSENT, unsupervised ICT)."""
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.embed import train_embed
    from ..training.loop import TrainConfig

    log = train_embed(
        model,
        data,
        out,
        loss=loss,
        hard_negatives=options["hard_negatives"],
        mining=_mining(**options),
        unsupervised=unsupervised,
        corpus_paths=corpus,
        val_fraction=val_fraction,
        val_corpus_size=val_corpus_size,
        max_length=max_length,
        scale=scale,
        mini_batch_size=mini_batch_size,
        train_config=TrainConfig.from_options(**options),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])


@train_app.command("rerank")
@with_options(schedule(1.0, 16, 3e-5, batch_help="(query, passage) pairs per step."), mining("both", 8), run_controls())
def rerank(
    data: Path = typer.Option(..., help="BEIR folder (train qrels, corpus for mining)."),
    out: Path = out_option("Output cross-encoder folder."),
    model: str = typer.Option("default", help="Backbone: 'default', a folder or a hub id."),
    loss: str = typer.Option("bce", help="bce (pointwise) | listwise (ListNet)."),
    add_ict: int = typer.Option(0, min=0, help="Add up to N inverse-cloze pairs from the corpus (weak supervision)."),
    add_titles: int = typer.Option(0, min=0, help="Add up to N (title -> text) pairs from the corpus (weak supervision)."),
    head_lr_mult: float = typer.Option(20.0, min=0.0, help="Learning-rate multiplier for the new classification head."),
    max_length: int = typer.Option(256, min=8, help="Token limit per (query, passage) pair."),
    val_fraction: float = val_fraction_option(),
    val_depth: int = typer.Option(20, min=1, help="Validation re-scores each held-out query's BM25 top N."),
    **options,
):
    """Train a cross-encoder reranker from an encoder backbone with mined hard negatives."""
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.loop import TrainConfig
    from ..training.rerank import train_rerank

    log = train_rerank(
        model,
        data,
        out,
        loss=loss,
        mining=_mining(**options),
        extra_pairs=_corpus_extra(data, add_ict, add_titles, options["seed"]),
        val_fraction=val_fraction,
        max_length=max_length,
        val_depth=val_depth,
        train_config=TrainConfig.from_options(**options, head_lr_mult=head_lr_mult),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])


@train_app.command("distill")
@with_options(
    schedule(1.0, 32, 2e-5, batch_help="Triples per step.", lr_help="Peak learning rate."), mining("both", 4), run_controls()
)
def distill(
    teacher: str = typer.Option(..., help="Cross-encoder folder or hub id."),
    data: Path = typer.Option(..., help="BEIR folder (train qrels, corpus for mining)."),
    out: Path = out_option("Output bi-encoder folder."),
    student: str = typer.Option("default", help="Student bi-encoder: 'default', a folder or a hub id."),
    add_ict: int = typer.Option(0, min=0, help="Add up to N inverse-cloze queries from the corpus, labelled by the teacher."),
    add_titles: int = typer.Option(0, min=0, help="Add up to N title queries from the corpus, labelled by the teacher."),
    student_scale: float = typer.Option(10.0, min=0.0, help="Student margin = scale * cosine difference."),
    max_length: Optional[int] = typer.Option(None, min=8, help="Token limit per text [the model's]."),
    val_fraction: float = val_fraction_option(),
    val_corpus_size: int = typer.Option(1000, min=1, help="Documents in the validation corpus."),
    **options,
):
    """Distil a cross-encoder into a bi-encoder with MarginMSE on mined triples."""
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.distill import train_distill
    from ..training.loop import TrainConfig

    log = train_distill(
        teacher,
        student,
        data,
        out,
        mining=_mining(**options),
        extra_pairs=_corpus_extra(data, add_ict, add_titles, options["seed"]),
        student_scale=student_scale,
        val_fraction=val_fraction,
        val_corpus_size=val_corpus_size,
        max_length=max_length,
        train_config=TrainConfig.from_options(**options),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])
