"""``encoderkit train colbert``: a late-interaction (ColBERT) retriever from an encoder backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import quiet_env
from .options import out_option, run_controls, schedule, with_options
from .train_cmd import _corpus_extra, _mining, _report, train_app


def register(app: typer.Typer) -> None:  # the command hangs off `encoderkit train` (train_app)
    return None


@train_app.command("colbert")
@with_options(schedule(4.0, 32, 3e-5, batch_help="Queries per step (each brings its positive and negatives)."), run_controls())
def colbert(
    data: Path = typer.Option(..., help="BEIR folder (train qrels; the corpus is used for mining and validation)."),
    out: Path = out_option("Output ColBERT folder."),
    model: str = typer.Option(
        "default", help="Backbone: 'default', an encoder folder or hub id, or a ColBERT folder to train further."
    ),
    dim: int = typer.Option(128, help="Token vector dimensions (the linear projection's output)."),
    query_length: int = typer.Option(32, help="Query tokens: longer queries are truncated, shorter ones padded with [MASK]."),
    doc_length: int = typer.Option(300, help="Document token limit at indexing time."),
    train_doc_length: int = typer.Option(256, help="Document token limit during training."),
    negatives: int = typer.Option(3, help="Hard negatives per query in each batch (drawn from the mined pool)."),
    pool: int = typer.Option(8, help="Mined hard negatives kept per query (the pool)."),
    hard_negatives: str = typer.Option("both", help="Mine with: bm25 | dense | both."),
    neg_range: str = typer.Option("0:30", help="Rank window MIN:MAX the pool is drawn from."),
    temperature: float = typer.Option(1.0, help="Contrastive softmax temperature over MaxSim scores."),
    teacher: str = typer.Option("none", help="Distil from: none | fused[:DENSE] | cross-encoder:DIR | model:DIR."),
    distill_weight: float = typer.Option(1.0, help="Weight of the distillation loss."),
    distill_loss: str = typer.Option("kl", help="kl (ColBERTv2) | margin-mse."),
    teacher_temperature: Optional[float] = typer.Option(None, help="Teacher softmax temperature (fused: 0.1, otherwise 1)."),
    init_projection: str = typer.Option("pca", help="pca (top directions of the backbone's token states) | random."),
    add_titles: int = typer.Option(0, help="Add up to N (title -> text) pairs from the corpus (weak supervision)."),
    add_ict: int = typer.Option(0, help="Add up to N inverse-cloze (sentence -> rest of document) pairs from the corpus."),
    head_lr_mult: float = typer.Option(10.0, help="Learning-rate multiplier of the projection."),
    val_fraction: float = typer.Option(0.1, help="Share of training queries held out for validation."),
    val_corpus_size: int = typer.Option(1000, help="Documents in the validation corpus."),
    **options,
):
    """Train a ColBERT model: contrastive MaxSim over in-batch + mined hard negatives, optional
    distillation from teacher scores; validation each epoch, best checkpoint kept, exact resume."""
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.colbert import train_colbert
    from ..training.loop import TrainConfig

    log = train_colbert(
        model,
        data,
        out,
        dim=dim,
        query_length=query_length,
        doc_length=doc_length,
        doc_max_length=train_doc_length,
        negatives=negatives,
        mining=_mining(hard_negatives, pool, neg_range, "random", options["seed"]),
        temperature=temperature,
        teacher=teacher,
        distill_weight=distill_weight,
        distill_loss=distill_loss,
        teacher_temperature=teacher_temperature,
        init_projection=init_projection,
        extra_pairs=_corpus_extra(data, add_ict, add_titles, options["seed"]),
        val_fraction=val_fraction,
        val_corpus_size=val_corpus_size,
        train_config=TrainConfig.from_options(**options, head_lr_mult=head_lr_mult),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])
