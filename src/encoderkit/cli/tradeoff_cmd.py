"""``encoderkit eval tradeoff``: quality vs throughput and latency of every model variant."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import print_results, quiet_env
from .eval_cmd import eval_app
from .options import batch_size_option, json_option, out_option, quiet_option


def register(app: typer.Typer) -> None:
    """Nothing to add to the top level: the command hangs under ``encoderkit eval`` (imported for its decorator)."""


@eval_app.command("tradeoff")
def tradeoff(
    data: Path = typer.Argument(..., help="BEIR folder (retrieval) or labelled texts (--task classify)."),
    model: List[str] = typer.Option(..., "--model", "-m", help="Variants (repeat): MODEL, or MODEL@torch|onnx|onnx-int8."),
    out: Path = out_option("Output folder: results.json, results.md, tradeoff.png."),
    backends: str = typer.Option("torch", help="Backends for models given without @BACKEND, comma-separated."),
    pipeline: str = typer.Option("dense", "--pipeline", "-p", help="Retrieval pipeline that measures quality."),
    task: str = typer.Option("retrieval", help="retrieval | classify."),
    split: str = typer.Option("test", help="Qrels split (retrieval)."),
    queries: Optional[int] = typer.Option(None, "--queries", min=1, help="A deterministic subset of N queries."),
    sts: Optional[Path] = typer.Option(None, help="STS Benchmark folder: add test Spearman per variant."),
    index_root: Optional[Path] = typer.Option(None, help="Where the per-variant indexes live [OUT/indexes]."),
    throughput_texts: int = typer.Option(256, min=1, help="Corpus documents (or texts) timed per round."),
    batch_size: int = batch_size_option(32, "Batch size of the throughput runs."),
    repeats: int = typer.Option(3, min=1, help="Interleaved timing rounds (median kept)."),
    as_json: bool = json_option("Print results.json to stdout."),
    quiet: bool = quiet_option(),
):
    """Quality (nDCG@10 or accuracy) vs encode throughput and query latency, one table and one scatter PNG.

    Variants: teachers, distilled students, ONNX fp32, int8 (`MODEL@onnx-int8` or --backends). ONNX
    exports are made when missing.
    """
    quiet_env(quiet or as_json)
    from ..errors import EncoderkitError

    if task == "retrieval":
        from ..evaluation.tradeoff import evaluate_tradeoff

        res = evaluate_tradeoff(
            data, model, out_dir=out, backends=[b.strip() for b in backends.split(",") if b.strip()], pipeline=pipeline,
            split=split, n_queries=queries, sts=sts, index_root=index_root, throughput_texts=throughput_texts,
            batch_size=batch_size, repeats=repeats,
        )  # fmt: skip
    elif task == "classify":
        from ..data.corpora.labelled import read_labelled
        from ..evaluation.tradeoff import classify_tradeoff
        from .robustness_cmd import load_classifier

        texts, labels = read_labelled(data)
        if queries:
            texts, labels = texts[:queries], labels[:queries]
        res = classify_tradeoff(
            {m: (lambda m=m: load_classifier(m)) for m in model}, texts, labels, out_dir=out, dataset=str(data),
            throughput_texts=throughput_texts, repeats=repeats,
        )  # fmt: skip
    else:
        raise EncoderkitError(f"unknown task '{task}'", hint="use retrieval or classify")
    print_results(res, out, "tradeoff.png", as_json)
