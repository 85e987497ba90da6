"""``encoderkit search``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console, print_json, quiet_env


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: str = typer.Argument(..., help="What to search for."),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    mode: str = typer.Option(
        "hybrid",
        "--mode",
        "-m",
        help="hybrid (all the index's retrievers, fused) | bm25 | dense | colbert | "
        "any retriever of the index | several joined by '+', e.g. bm25+dense+colbert.",
    ),
    fusion: Optional[str] = typer.Option(
        None, help="How several retrievers are fused: rrf | weighted (score-normalised) [the library default]."
    ),
    weights: Optional[str] = typer.Option(None, help="Fusion weights, e.g. bm25=1,dense=1,colbert=2 [1 each]."),
    k: int = typer.Option(10, "-k", help="Number of results."),
    depth: int = typer.Option(100, help="Candidates per first-stage retriever fed to fusion."),
    chunks: bool = typer.Option(False, "--chunks", help="List chunk-level hits instead of one per document."),
    explain: bool = typer.Option(False, "--explain", help="Show each stage's rank and score for every hit."),
    model: Optional[str] = typer.Option(None, help="Check that this model is the index's (default: use the index's)."),
    rerank: Optional[str] = typer.Option(
        None,
        "--rerank",
        help="Re-score the top candidates with this cross-encoder or ColBERT model (detected from the folder; a "
        "ColBERT model re-scores from the index's stored vectors when they are its own).",
    ),
    rerank_depth: int = typer.Option(50, help="How many candidates the reranker re-scores."),
    rerank_fusion: str = typer.Option("none", help="none: reranker order | rrf: fuse it with the first stage's."),
    backend: str = typer.Option("auto", help="Query encoding: auto | torch | onnx | onnx-int8."),
    rerank_backend: str = typer.Option("torch", help="Reranker: torch | onnx | onnx-int8."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
):
    """Search an index and print ranked results with a snippet of the best-matching passage."""
    quiet_env(True)
    from ..index import Index
    from ..models.export import ensure_export
    from ..retrieval.snippets import best_passage, highlight, hit_row

    encoder = None
    if model is not None:
        from ..index.manifest import read_manifest
        from ..models.encoder import Encoder

        m = read_manifest(index_dir)["model"]
        encoder = Encoder.load(model, pooling=m["pooling"], max_length=m["max_length"])
    reranker = None
    if rerank:
        from ..models.rerankers import ensure_reranker_export, load_reranker

        ensure_reranker_export(rerank, rerank_backend)
        reranker = load_reranker(rerank, backend=rerank_backend)
    fusion_weights = parse_weights(weights)
    with Index.open(index_dir, encoder=encoder, backend=backend) as idx:
        if backend in ("onnx", "onnx-int8") and encoder is None:
            from ..index.encoder import model_spec

            ensure_export(model_spec(idx.manifest["model"]), "encoder", backend)
        hits = idx.search(
            query,
            mode=mode,
            k=k,
            depth=depth,
            by="chunk" if chunks else "document",
            fusion=fusion,
            weights=fusion_weights,
            reranker=reranker,
            rerank_depth=rerank_depth,
            rerank_fusion=rerank_fusion,
        )
        stages = idx.retrievers if mode == "hybrid" else [s for s in mode.split("+")]
        colbert = idx.snapshot().retrievers.get("colbert") if "colbert" in stages and idx.snapshot() else None
        if colbert is not None and colbert.model.truncated_queries([query])[0]:
            console(stderr=True).print(
                f"note: ColBERT reads the first {colbert.model.query_length} tokens of the query; the rest was ignored"
            )
    if as_json:
        print_json({"query": query, "mode": mode, "index": str(index_dir), "hits": [hit_row(h, query) for h in hits]})
        return
    out = console()
    if not hits:
        out.print("no results")
        return
    for h in hits:
        where = _display_path(h)
        out.print(
            f"[bold]{h.rank:>2}.[/] [cyan]{h.score:.4f}[/]  [bold]{_esc(where)}[/]"
            + (f"  {_esc(h.title)}" if h.title and h.title not in where else "")
        )
        if h.section:
            out.print(f"      § {_esc(h.section)}")
        _, _, passage = best_passage(h.text, query)
        out.print("      " + highlight(" ".join(passage.split()), query))
        if explain:
            parts = [f"{name}: rank {st['rank']}, score {st['score']:.4f}" for name, st in sorted(h.stages.items())]
            missing = [name for name in stages if len(stages) > 1 and name not in h.stages]
            missing += ["rerank"] if reranker is not None and "rerank" not in h.stages else []
            parts += [f"{name}: not in top {depth}" for name in missing]
            out.print("      [dim]" + " | ".join(parts) + f" | chunk {h.chunk_id} chars {h.start}-{h.end}[/]")


def parse_weights(spec: str | None) -> dict[str, float] | None:
    """``bm25=1,colbert=2`` -> {"bm25": 1.0, "colbert": 2.0}; None stays None.

    >>> parse_weights("bm25=1, colbert=2.5")
    {'bm25': 1.0, 'colbert': 2.5}
    """
    if not spec:
        return None
    from ..errors import EncoderkitError

    out = {}
    for part in spec.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise EncoderkitError(
                f"bad fusion weight '{part.strip()}'", hint="write NAME=NUMBER, e.g. bm25=1,colbert=2"
            ) from None
    return out


def _display_path(hit) -> str:
    import os

    if hit.path and hit.path.endswith(".jsonl"):
        return hit.doc_id
    if hit.path:
        try:
            return os.path.relpath(hit.path)
        except ValueError:
            return hit.path
    return hit.doc_id


def _esc(s: str) -> str:
    from rich.markup import escape

    return escape(s)
