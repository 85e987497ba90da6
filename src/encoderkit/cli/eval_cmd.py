"""``encoderkit eval retrieval|sts|geometry``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, quiet_env

eval_app = typer.Typer(
    help="Measure retrieval pipelines stage by stage, STS correlation and embedding geometry.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def retrieval(
    data_dir: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."),
    pipeline: List[str] = typer.Option(
        ["bm25", "dense", "hybrid"],
        "--pipeline",
        "-p",
        help="Pipelines to run (repeat): bm25 | dense | colbert | hybrid | retrievers joined by '+' "
        "(e.g. bm25+dense+colbert), optionally followed by +rerank or +rerank-rrf.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for results.json, results.md, runs/, plots."),
    split: str = typer.Option("test", help="Qrels split to evaluate."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="Index folder to build or reuse [OUT/index]."),
    model: Optional[str] = typer.Option(None, help="Model for a new index [default]; checked against an existing one."),
    queries: Optional[int] = typer.Option(None, "--queries", help="Evaluate a deterministic subset of N queries."),
    depth: int = typer.Option(100, help="Candidates per first stage (fusion input)."),
    rrf_k: int = typer.Option(60, help="RRF constant."),
    fusion: Optional[str] = typer.Option(
        None, help="Fusion of several retrievers: rrf | weighted (score-normalised) [the library default]."
    ),
    weights: Optional[str] = typer.Option(None, help="Fusion weights, e.g. bm25=1,dense=1,colbert=2 [1 each]."),
    colbert_model: Optional[str] = typer.Option(
        None, "--colbert-model", help="ColBERT model for '-p colbert' pipelines ['default' = zero-training MiniLM MaxSim]."
    ),
    chunk_size: Optional[int] = typer.Option(None, help="Chunk size for a new index; 0 = whole documents [256]."),
    chunk_overlap: Optional[int] = typer.Option(None, help="Chunk overlap for a new index [32]."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the index (e.g. with another model)."),
    rerank_model: Optional[str] = typer.Option(
        None, "--rerank-model", help="Cross-encoder or ColBERT model for '+rerank' pipelines (detected from the folder)."
    ),
    rerank_depth: int = typer.Option(50, help="Candidates the reranker re-scores."),
    rerank_max_length: Optional[int] = typer.Option(None, help="Token limit per (query, passage) pair."),
    backend: str = typer.Option("auto", help="Query encoding: auto | torch | onnx | onnx-int8."),
    rerank_backend: str = typer.Option("torch", help="Reranker: torch | onnx | onnx-int8."),
    as_json: bool = typer.Option(False, "--json", help="Print results.json to stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Evaluate retrieval pipelines on a BEIR data set: quality, stage recall, latency, cost.

    Pipelines: bm25, dense, colbert, hybrid or several retrievers joined by '+', each optionally followed
    by +rerank (needs --rerank-model).
    """
    quiet_env(quiet or as_json)
    from ..evaluation.retrieval import evaluate_retrieval
    from .search_cmd import parse_weights

    res = evaluate_retrieval(
        data_dir,
        pipeline,
        out_dir=out,
        split=split,
        index_dir=index_dir,
        model=model,
        n_queries=queries,
        depth=depth,
        rrf_k=rrf_k,
        fusion=fusion,
        weights=parse_weights(weights),
        colbert_model=colbert_model,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        rebuild=rebuild,
        rerank_model=rerank_model,
        rerank_depth=rerank_depth,
        rerank_max_length=rerank_max_length,
        backend=backend,
        rerank_backend=rerank_backend,
    )
    if as_json:
        print_json(res)
        return
    from rich.markdown import Markdown

    console().print(Markdown((out / "results.md").read_text()))
    console().print(f"wrote {out}/results.json, results.md, runs/, recall_at_k.png, quality_vs_latency.png")


@eval_app.command("sts")
def sts(
    data: Path = typer.Argument(..., help="STS Benchmark folder (sts-<split>.csv) or file."),
    model: List[str] = typer.Option(["default"], "--model", "-m", help="Model(s) to evaluate (repeat)."),
    pooling: Optional[str] = typer.Option(None, help="Pooling override: mean|cls|max|weighted_mean|last."),
    split: str = typer.Option("test", help="Split when DATA is a folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write sts.json here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Spearman and Pearson correlation of cosine similarity with STS gold scores."""
    quiet_env(True)
    from ..evaluation.machine import machine_info
    from ..evaluation.sts import read_sts, sts_correlation
    from ..models.encoder import Encoder

    pairs = read_sts(data, split)
    rows = []
    for spec in model:
        enc = Encoder.load(spec, pooling=pooling)
        rows.append({"model": enc.name, "spec": spec, "split": split, **sts_correlation(enc, pairs)})
    payload = {"results": rows, "data": str(data), "machine": machine_info()}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sts.json").write_text(json.dumps(payload, indent=2) + "\n")
    if as_json:
        print_json(payload)
        return
    from rich.table import Table

    t = Table(title=f"STS-B {split} ({len(pairs)} pairs)")
    for c in ("model", "pooling", "Spearman", "Pearson"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["model"], r["pooling"], f"{r['spearman']:.4f}", f"{r['pearson']:.4f}")
    console().print(t)


@eval_app.command("geometry")
def geometry(
    data: Path = typer.Argument(..., help="STS Benchmark folder or file."),
    model: List[str] = typer.Option(["default"], "--model", "-m", help="Model(s) to compare (repeat)."),
    random_init: bool = typer.Option(
        True, "--random-init/--no-random-init", help="Add an untrained copy of the first model's architecture."
    ),
    pooling: List[str] = typer.Option(["cls", "mean", "max"], "--pooling", help="Poolings to compare (repeat)."),
    split: str = typer.Option("test", help="Split when DATA is a folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: geometry.json, geometry.md, geometry.png."),
):
    """Pooling and geometry report: STS Spearman per pooling and the anisotropy of each space."""
    quiet_env(True)
    from ..evaluation.machine import machine_info
    from ..evaluation.sts import geometry as run_geometry
    from ..evaluation.sts import geometry_markdown, plot_geometry, random_init_encoder, read_sts
    from ..models.encoder import Encoder

    pairs = read_sts(data, split)
    encoders = [(Encoder.load(m).name, Encoder.load(m)) for m in model]
    if random_init:
        encoders.append((f"random init ({encoders[0][0]} architecture, untrained)", random_init_encoder(encoders[0][1])))
    rows = run_geometry(encoders, pairs, poolings=pooling)
    out.mkdir(parents=True, exist_ok=True)
    (out / "geometry.json").write_text(
        json.dumps({"rows": rows, "split": split, "data": str(data), "machine": machine_info()}, indent=2) + "\n"
    )
    md = geometry_markdown(rows, split)
    (out / "geometry.md").write_text(md)
    plot_geometry(rows, out / "geometry.png")
    from rich.markdown import Markdown

    console().print(Markdown(md))
