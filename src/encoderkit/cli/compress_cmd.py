"""``encoderkit compress``: distil a smaller, faster student from a sentence encoder."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import quiet_env
from .options import out_option, run_controls, schedule, with_options


def register(app: typer.Typer) -> None:
    app.command("compress")(compress)


@with_options(
    schedule(1.0, 32, 1e-4, 0.05, batch_help="Texts per step.", lr_help="Peak learning rate."), run_controls(budget=True)
)
def compress(
    corpus: List[Path] = typer.Option(..., "--corpus", help="Unlabeled text: files or folders (repeat); BEIR .jsonl too."),
    out: Path = out_option("Output student folder (sentence-transformers format)."),
    teacher: str = typer.Option("default", help="Teacher: 'default', a model folder or a hub id."),
    layers: int = typer.Option(3, min=1, help="Layers the student keeps."),
    layer_selection: str = typer.Option(
        "even", help="Which teacher layers: even | alternate (DistilBERT) | bottom | top | indices such as 0,2,5."
    ),
    width: Optional[int] = typer.Option(None, min=1, help="Smaller hidden size (pruned by activation importance; BERT-family)."),
    init: Optional[str] = typer.Option(None, help="Take the student's layers from this model instead of the teacher."),
    lines: bool = typer.Option(False, "--lines", help="Treat .txt files as one text per line (sentence lists)."),
    sentences: bool = typer.Option(True, "--sentences/--no-sentences", help="Add the corpus' sentences and titles."),
    max_texts: Optional[int] = typer.Option(None, min=1, help="Train on at most N texts (a deterministic sample)."),
    max_length: Optional[int] = typer.Option(None, min=8, help="Token limit [the teacher's]."),
    loss: str = typer.Option("cosine", help="Embedding terms joined by '+': cosine | mse | similarity."),
    token_weight: float = typer.Option(0.0, min=0.0, help="Weight of the token-state term (TinyBERT-style)."),
    attention_weight: float = typer.Option(0.0, min=0.0, help="Weight of the last layer's attention relations (MiniLMv2)."),
    val_texts: int = typer.Option(500, min=0, help="Held-out texts for agreement with the teacher."),
    val_sts: Optional[Path] = typer.Option(None, help="STS Benchmark folder: report dev Spearman each validation."),
    val_beir: Optional[Path] = typer.Option(None, help="BEIR folder: report nDCG@10 of --val-split queries."),
    val_split: str = typer.Option("train", help="Qrels split of --val-beir used as dev data."),
    val_queries: int = typer.Option(200, min=1, help="Queries of --val-beir to validate on."),
    metric: Optional[str] = typer.Option(
        None, help="Validation metric that selects the saved student [cosine_to_teacher]: e.g. sts_spearman, ndcg@10."
    ),
    **options,
):
    """Distil a compact student (a subset of the teacher's layers, optionally narrower) on your text.

    The student learns the teacher's sentence embeddings (and optionally its token states and attention
    relations); it loads wherever a model does: Encoder.load, index, search, train, export onnx.
    """
    quiet_env(options["quiet"] or options["as_json"])
    from ..training.compress.train import train_compress
    from ..training.loop import TrainConfig
    from .train_cmd import _report

    log = train_compress(
        teacher,
        out,
        layers=layers,
        layer_selection=layer_selection,
        width=width,
        init=init,
        corpus_paths=corpus,
        lines=lines,
        sentences=sentences,
        max_texts=max_texts,
        max_length=max_length,
        loss=loss,
        token_weight=token_weight,
        attention_weight=attention_weight,
        val_texts=val_texts,
        val_sts=val_sts,
        val_beir=val_beir,
        val_split=val_split,
        val_queries=val_queries,
        metric=metric,
        train_config=TrainConfig.from_options(**options),
        resume=options["resume"],
    )
    _report(log, out, options["as_json"])
