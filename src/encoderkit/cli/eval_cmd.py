"""``encoderkit eval retrieval|sts|geometry``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, print_markdown, quiet_env
from .options import json_option, out_option, quiet_option

eval_app = typer.Typer(
    help="Measure retrieval pipelines stage by stage, STS correlation and embedding geometry.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def retrieval(
    data_dir: Path = typer.Argument(..., metavar="DATA_DIR", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."),
    pipeline: List[str] = typer.Option(
        ["bm25", "dense", "hybrid"],
        "--pipeline",
        "-p",
        help="Pipelines to run (repeat): bm25 | dense | colbert | hybrid | retrievers joined by '+' "
        "(e.g. bm25+dense+colbert), optionally followed by +rerank or +rerank-rrf.",
    ),
    out: Path = out_option("Output folder for results.json, results.md, runs/, plots."),
    split: str = typer.Option("test", help="Qrels split to evaluate (qrels/SPLIT.tsv)."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="Index folder to build or reuse [OUT/index]."),
    model: Optional[str] = typer.Option(None, help="Model for a new index [default]; checked against an existing one."),
    queries: Optional[int] = typer.Option(None, "--queries", min=1, help="Evaluate a deterministic subset of N queries [all]."),
    corpus_sample: Optional[int] = typer.Option(
        None,
        "--corpus-sample",
        min=0,
        help="Quick look: index only the documents judged for the evaluated queries plus N random others "
        "(said in the report; not comparable with full-corpus figures) [whole corpus].",
    ),
    depth: int = typer.Option(100, min=100, help="Candidates per first stage (fusion input); >= 100 for Recall@100."),
    rrf_k: int = typer.Option(60, min=1, help="RRF constant."),
    fusion: Optional[str] = typer.Option(
        None,
        help="Fusion of several retrievers: auto (the index's calibrated or tuned rule) | rrf | weighted "
        "(score-normalised) [auto].",
    ),
    weights: Optional[str] = typer.Option(
        None, help="Fusion weights, e.g. bm25=1,dense=1,colbert=2 [rrf: 1 each; weighted: bm25 1, dense 0.25, colbert 6]."
    ),
    colbert_model: Optional[str] = typer.Option(
        None, "--colbert-model", help="ColBERT model for '-p colbert' pipelines ['default' = zero-training MiniLM MaxSim]."
    ),
    chunk_size: Optional[int] = typer.Option(
        None, min=0, help="Chunk size for a new index; 0 = whole documents, title + ' ' + text (BEIR/MTEB) [256]."
    ),
    chunk_overlap: Optional[int] = typer.Option(None, min=0, help="Chunk overlap for a new index [32]."),
    titles: Optional[str] = typer.Option(
        None, "--titles", help="Titles in chunks: auto (header line unless the chunk opens with it) | prefix | none [auto]."
    ),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the index (e.g. with another model)."),
    drop_unknown_ids: bool = typer.Option(
        False, "--drop-unknown-ids", help="Leave out judgements naming unknown queries/documents (said in the report)."
    ),
    rerank_model: Optional[str] = typer.Option(
        None, "--rerank-model", help="Cross-encoder or ColBERT model for '+rerank' pipelines (detected from the folder)."
    ),
    rerank_depth: int = typer.Option(50, min=1, help="Candidates the reranker re-scores."),
    rerank_max_length: Optional[int] = typer.Option(None, min=8, help="Token limit per (query, passage) pair [the model's]."),
    backend: str = typer.Option("auto", help="Query encoding: auto | torch | onnx | onnx-int8."),
    rerank_backend: str = typer.Option("torch", help="Reranker: torch | onnx | onnx-int8."),
    as_json: bool = json_option("Print results.json to stdout."),
    quiet: bool = quiet_option(),
):
    """Evaluate retrieval pipelines on a BEIR data set: quality, stage recall, latency, cost.

    Corpus, queries and qrels are validated first (a bad file stops the run in seconds, naming
    file:line). Pipelines: bm25, dense, colbert, hybrid or several retrievers joined by '+', each
    optionally followed by +rerank (needs --rerank-model).
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
        titles=titles,
        corpus_sample=corpus_sample,
        drop_unknown=drop_unknown_ids,
    )
    if as_json:
        print_json(res)
        return
    print_markdown((out / "results.md").read_text())
    console().print(f"wrote {out}/results.json, results.md, runs/, recall_at_k.png, quality_vs_latency.png")


def _sts_options(columns: Optional[str], score_range: Optional[str]):
    from ..errors import EncoderkitError

    cols = [c.strip() for c in columns.split(",")] if columns else None
    rng = None
    if score_range:
        try:
            lo, hi = (float(x) for x in score_range.split(":"))
        except ValueError:
            raise EncoderkitError(f"--score-range {score_range!r} is not MIN:MAX", hint="e.g. --score-range 0:5") from None
        rng = (lo, hi)
    return cols, rng


@eval_app.command("sts")
def sts(
    data: Path = typer.Argument(
        ..., metavar="DATA", help="STS Benchmark folder or sts-*.csv, a SICK file, or a CSV/TSV/JSONL of pairs."
    ),
    model: List[str] = typer.Option(["default"], "--model", "-m", help="Model(s) to evaluate (repeat)."),
    pooling: Optional[str] = typer.Option(None, help="Pooling override: mean|cls|max|weighted_mean|last [the model's]."),
    split: str = typer.Option("test", help="Split when DATA is a folder (sts-SPLIT.csv) or SICK.txt (TRAIN/TRIAL/TEST)."),
    data_format: str = typer.Option("auto", "--format", help="auto | sts-b | sick | columns (a header row names the columns)."),
    columns: Optional[str] = typer.Option(
        None, "--columns", help="Columns holding sentence 1, sentence 2 and the score, e.g. sentence1,sentence2,score."
    ),
    score_range: Optional[str] = typer.Option(
        None, "--score-range", help="Valid gold scores MIN:MAX; rows outside are errors [sts-b 0:5, sick 1:5, else any]."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write sts.json here."),
    as_json: bool = json_option("Print JSON."),
):
    """Spearman and Pearson correlation of cosine similarity with gold similarity scores.

    Every row is validated before a model is loaded: numeric scores inside the range, sentences that
    are text (not numbers, not label columns); problems are reported with file:line.
    """
    quiet_env(True)
    from ..evaluation.machine import machine_info
    from ..evaluation.sts import read_sts, sts_correlation
    from ..models.heads.encoder import Encoder

    cols, rng = _sts_options(columns, score_range)
    pairs = read_sts(data, split, fmt=data_format, columns=cols, score_range=rng)
    info = pairs.info
    if not as_json:
        console(stderr=True).print(
            f"read {info['pairs']} pairs from {_esc(info['file'])} ({info['format']}: columns {', '.join(info['columns'])}; "
            f"scores {info['score_range'][0]:g}..{info['score_range'][1]:g})"
        )
        if info.get("split_note"):
            console(stderr=True).print(f"note: {_esc(info['split_note'])} (--split {_esc(split)} does not apply)")
    rows = []
    for spec in model:
        enc = Encoder.load(spec, pooling=pooling)
        rows.append({"model": enc.name, "spec": spec, "split": info["split"], **sts_correlation(enc, pairs)})
    payload = {"results": rows, "data": str(data), "input": info, "machine": machine_info()}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sts.json").write_text(json.dumps(payload, indent=2) + "\n")
    if as_json:
        print_json(payload)
        return
    from rich.table import Table

    t = Table(title=f"{Path(info['file']).name} ({len(pairs)} pairs)")
    for c in ("model", "pooling", "Spearman", "Pearson"):
        t.add_column(c)
    for r in rows:
        t.add_row(_esc(r["model"]), r["pooling"], f"{r['spearman']:.4f}", f"{r['pearson']:.4f}")
    console().print(t)


def _esc(s: str) -> str:
    from rich.markup import escape

    return escape(s)


@eval_app.command("geometry")
def geometry(
    data: Path = typer.Argument(..., metavar="DATA", help="STS Benchmark folder or file."),
    model: List[str] = typer.Option(["default"], "--model", "-m", help="Model(s) to compare (repeat)."),
    random_init: bool = typer.Option(
        True, "--random-init/--no-random-init", help="Add an untrained copy of the first model's architecture."
    ),
    pooling: List[str] = typer.Option(["cls", "mean", "max"], "--pooling", help="Poolings to compare (repeat)."),
    split: str = typer.Option("test", help="Split when DATA is a folder."),
    out: Path = out_option("Output folder: geometry.json, geometry.md, geometry.png."),
):
    """Pooling and geometry report: STS Spearman per pooling and the anisotropy of each space."""
    quiet_env(True)
    from ..evaluation.machine import machine_info
    from ..evaluation.sts import geometry as run_geometry
    from ..evaluation.sts import geometry_markdown, plot_geometry, random_init_encoder, read_sts
    from ..models.heads.encoder import Encoder

    pairs = read_sts(data, split)
    encoders = [(Encoder.load(m).name, Encoder.load(m)) for m in model]
    if random_init:
        encoders.append((f"random init ({encoders[0][0]} architecture, untrained)", random_init_encoder(encoders[0][1])))
    rows = run_geometry(encoders, pairs, poolings=pooling)
    out.mkdir(parents=True, exist_ok=True)
    used = pairs.info["split"] or "whole file"
    (out / "geometry.json").write_text(
        json.dumps({"rows": rows, "split": pairs.info["split"], "input": pairs.info, "data": str(data),
                    "machine": machine_info()}, indent=2) + "\n"
    )  # fmt: skip
    if pairs.info.get("split_note"):
        console(stderr=True).print(f"note: {_esc(pairs.info['split_note'])} (--split {_esc(split)} does not apply)")
    md = geometry_markdown(rows, used)
    (out / "geometry.md").write_text(md)
    plot_geometry(rows, out / "geometry.png")
    print_markdown(md)
