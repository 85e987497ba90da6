"""``encoderkit index`` and ``encoderkit info``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, quiet_env


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("info")(info)


def index(
    paths: List[Path] = typer.Argument(..., help="Files and folders to index (.txt .md .rst .html, BEIR corpus .jsonl)."),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder (created if missing)."),
    model: Optional[str] = typer.Option(None, help="'default' (bundled all-MiniLM-L6-v2), a local model folder or a "
                                                   "hub id. Existing index: its own model unless given."),
    pooling: Optional[str] = typer.Option(None, help="Pooling: mean|cls|max|weighted_mean|last (default: the model's)."),
    chunk_size: Optional[int] = typer.Option(None, help="Chunk length in model tokens; 0 = whole documents, truncated by the encoder [new index: 256]."),
    chunk_overlap: Optional[int] = typer.Option(None, help="Tokens shared by consecutive chunks [new index: 32]."),
    dense: Optional[str] = typer.Option(None, help="Dense index: flat (exact) | hnsw | ivf [new index: flat]."),
    bm25_method: Optional[str] = typer.Option(None, help="BM25 variant: lucene|robertson|atire|bm25l|bm25+ [lucene]."),
    k1: Optional[float] = typer.Option(None, help="BM25 k1 [1.5]."),
    b: Optional[float] = typer.Option(None, help="BM25 b [0.75]."),
    stem: Optional[bool] = typer.Option(None, "--stem/--no-stem", help="Stem words for BM25 [on]."),
    stopwords: Optional[bool] = typer.Option(None, "--stopwords/--no-stopwords", help="Drop English stop words [on]."),
    max_file_mb: float = typer.Option(20.0, help="Skip files larger than this (MB)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-encode everything (needed to change model/chunking)."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Also export the model to ONNX (cached, same vectors) so "
                                                          "searches encode queries with ONNX Runtime: ~2x faster, ~5x faster cold start."),
    as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Index files and folders (incremental: unchanged files are not re-encoded).

    On an existing index, options left out keep the index's settings; changing the model, pooling or
    chunking needs --rebuild (the old version stays searchable until the rebuild commits).
    """
    quiet_env(quiet or as_json)
    from ..retrieval.bm25 import BM25Params
    from ..retrieval.dense import DenseParams
    from ..models.encoder import Encoder
    from ..errors import EncoderkitError
    from ..index.index import Index
    from ..index.manifest import MANIFEST
    from ..models.ref import resolve_model, weights_fingerprint

    def bm25_params(base: dict) -> BM25Params:
        p = BM25Params.from_dict(base)
        return BM25Params(method=bm25_method or p.method, k1=p.k1 if k1 is None else k1, b=p.b if b is None else b,
                          delta=p.delta, lower=p.lower,
                          stemmer=p.stemmer if stem is None else ("english" if stem else None),
                          stopwords=p.stopwords if stopwords is None else ("en" if stopwords else None))

    if (index_dir / MANIFEST).exists():
        idx = Index.open(index_dir)
        m = idx.manifest
        new_model = model is not None and weights_fingerprint(resolve_model(model).path) != m["model"]["fingerprint"]
        new_pooling = pooling is not None and pooling != m["model"]["pooling"]
        size = chunk_size if chunk_size is not None else m["chunking"]["size"]
        overlap = chunk_overlap if chunk_overlap is not None else m["chunking"]["overlap"]
        new_chunks = (size, overlap) != (m["chunking"]["size"], m["chunking"]["overlap"])
        if (new_model or new_pooling or new_chunks) and not rebuild:
            raise EncoderkitError(f"index '{index_dir}' was built with another model, pooling or chunking",
                                  hint="add --rebuild to re-encode everything with the new settings")
        bm25 = bm25_params(m["bm25"])
        dense_params = DenseParams.from_dict({**m["dense"], **({"kind": dense} if dense else {})})
        if new_model or new_pooling or new_chunks or bm25.to_dict() != m["bm25"] or dense_params.to_dict() != m["dense"]:
            enc = None
            if new_model or new_pooling:
                enc = Encoder.load(model or m["model"]["path"], pooling=pooling or m["model"]["pooling"])
            idx.reconfigure(enc, chunk_size=size, chunk_overlap=overlap, bm25=bm25, dense=dense_params)
    else:
        idx = Index.create(index_dir, encoder=Encoder.load(model or "default", pooling=pooling),
                           chunk_size=256 if chunk_size is None else chunk_size, chunk_overlap=32 if chunk_overlap is None else chunk_overlap,
                           bm25=bm25_params({}), dense=DenseParams(kind=dense or "flat"))
    with idx:
        report = idx.sync(paths, rebuild=rebuild, max_bytes=int(max_file_mb * 2**20))
        stats = idx.stats()
    query_backend = _export_query_model(idx) if onnx else "torch"
    if as_json:
        print_json({"index": str(index_dir), **report.to_dict(), "totals": stats, "query_backend": query_backend})
        return
    _print_report(report, stats)


def _export_query_model(idx) -> str:
    """Export the index's model to ONNX once (cached by weights fingerprint); 'torch' if that fails.

    fp32 ONNX gives the same vectors as torch (checked at export), so the index needs no change:
    `Index.open` picks ONNX Runtime for queries whenever this export exists."""
    from ..errors import EncoderkitError
    from ..models.export import export_onnx

    m = idx.manifest["model"]
    spec = m["spec"] if m.get("source") in ("bundled", "hub") else m["path"]
    try:
        export_onnx(spec, kind="encoder")
        return "onnx"
    except (EncoderkitError, ImportError, RuntimeError, ValueError) as exc:  # the index itself is fine either way
        import sys

        print(f"note: ONNX export failed ({exc}); queries will be encoded with torch", file=sys.stderr)
        return "torch"


def _print_report(report, stats) -> None:
    from rich.table import Table

    out = console()
    t = Table(title="index update", show_header=False, box=None)
    for name in ("added", "updated", "unchanged", "removed", "resumed", "chunks_encoded"):
        t.add_row(name.replace("_", " "), str(getattr(report, name)))
    t.add_row("kept previous version", str(len(report.kept_previous)))
    t.add_row("skipped", str(len(report.skipped)))
    t.add_row("time", f"{report.seconds:.1f} s")
    t.add_row("index", f"{stats['documents']} documents, {stats['chunks']} chunks, generation {stats['generation']}, "
                       f"{stats['size_bytes'] / 2**20:.1f} MB")
    out.print(t)
    if report.skipped:
        from ..index.writer_steps import skipped_summary

        s = Table(title="skipped", show_header=True)
        s.add_column("reason")
        s.add_column("count", justify="right")
        s.add_column("example")
        examples = {}
        for item in report.skipped:
            examples.setdefault(item.reason.split(" (")[0].split(" at byte")[0], str(item))
        for reason, n in skipped_summary(report.skipped).items():
            s.add_row(reason, str(n), examples.get(reason, ""))
        out.print(s)
    if not report.committed:
        out.print("[green]index is up to date[/]")


def info(index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
         as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON.")):
    """Show what an index holds and how it was built."""
    from ..index.index import Index

    with Index.open(index_dir, readonly=True) as idx:
        stats = idx.stats()
        manifest = idx.manifest
    if as_json:
        print_json({"stats": stats, "manifest": manifest})
        return
    m = manifest
    out = console()
    out.print(f"[bold]{index_dir}[/]  format v{m['format_version']}, generation {m['generation']}, "
              f"{stats['documents']} documents, {stats['chunks']} chunks, {stats['size_bytes'] / 2**20:.1f} MB")
    out.print(f"model    {m['model']['name']} ({m['model']['revision'] or 'local'}), pooling {m['model']['pooling']}, "
              f"dim {m['model']['dim']}, max length {m['model']['max_length']}, L2-normalised")
    out.print(f"chunking {m['chunking']['size']} tokens, overlap {m['chunking']['overlap']}")
    out.print(f"bm25     {m['bm25']}")
    out.print(f"dense    {m['dense']}")
    out.print(f"updated  {m['updated_at']}")
