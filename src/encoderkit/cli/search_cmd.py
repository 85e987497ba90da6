"""``encoderkit search``: one query, a file of queries (batch: TREC run or JSONL), or queries from stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..data.textsafe import clean_text
from .common import console, print_json, quiet_env
from .options import batch_size_option, json_option, quiet_option, ray_option


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: Optional[str] = typer.Argument(
        None, metavar="[QUERY]", help="What to search for. Leave out (and --queries) to read queries from stdin, one per line."
    ),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    queries_file: Optional[Path] = typer.Option(
        None,
        "--queries",
        help="Batch: a file of queries — .tsv (id TAB text), .jsonl (_id/id + text/query, e.g. BEIR queries.jsonl) "
        "or .txt (one per line). Results go to --run, or as JSON lines to stdout.",
    ),
    run_file: Optional[Path] = typer.Option(
        None,
        "--run",
        help="Batch output: a TREC run (.trec/.run/.txt: qid Q0 doc rank score tag) or .jsonl (one line per query).",
    ),
    mode: str = typer.Option(
        "hybrid",
        "--mode",
        "-m",
        help="hybrid (all the index's retrievers, fused) | bm25 | dense | colbert | "
        "any retriever of the index | several joined by '+', e.g. bm25+dense+colbert.",
    ),
    fusion: Optional[str] = typer.Option(
        None,
        help="How several retrievers are fused: auto (the index's calibrated or tuned rule; `encoderkit info` shows "
        "it) | rrf | weighted (score-normalised) [auto].",
    ),
    weights: Optional[str] = typer.Option(
        None, help="Fusion weights, e.g. bm25=1,dense=1,colbert=2 [rrf: 1 each; weighted: bm25 1, dense 0.25, colbert 6]."
    ),
    k: int = typer.Option(10, "-k", min=1, help="Number of results (per query)."),
    depth: int = typer.Option(100, min=1, help="Candidates per first-stage retriever fed to fusion."),
    chunks: bool = typer.Option(False, "--chunks", help="List chunk-level hits instead of one per document."),
    explain: bool = typer.Option(
        False, "--explain", help="Show each stage's rank and score of the shown passage, and which passage each stage preferred."
    ),
    filters: Optional[List[str]] = typer.Option(
        None,
        "--filter",
        help="Only documents matching FIELD=VALUE (repeat; AND across fields, OR within one): path=GLOB, "
        "meta.KEY=VALUE, or an annotator's field such as label=sports or entity=PER:obama.",
    ),
    fields: Optional[str] = typer.Option(
        None,
        "--fields",
        help="Comma-separated keys JSON hits carry, from: rank, doc_id, chunk_id, score, title, path, start, end, "
        "section, stages, meta, annotations, text, snippet, snippet_start, snippet_end, highlights [all but text].",
    ),
    entity: Optional[List[str]] = typer.Option(
        None,
        "--entity",
        help="TYPE:value (repeat): documents mentioning this entity; alias of --filter entity=TYPE:value "
        "(an index built with --extract runs/ner).",
    ),
    model: Optional[str] = typer.Option(None, help="Check that this model is the index's (default: use the index's)."),
    rerank: Optional[str] = typer.Option(
        None,
        "--rerank",
        help="Re-score the top candidates with this cross-encoder or ColBERT model (detected from the folder; a "
        "ColBERT model re-scores from the index's stored vectors when they are its own).",
    ),
    rerank_depth: int = typer.Option(50, min=1, help="How many candidates the reranker re-scores."),
    rerank_fusion: str = typer.Option("none", help="none: reranker order | rrf: fuse it with the first stage's."),
    backend: str = typer.Option("auto", help="Query encoding: auto | torch | onnx | onnx-int8."),
    rerank_backend: str = typer.Option("torch", help="Reranker: torch | onnx | onnx-int8."),
    batch_size: int = batch_size_option(32, "Queries searched together in batch mode."),
    as_json: bool = json_option("Print results as JSON (one object; JSON lines in batch/stdin mode)."),
    quiet: bool = quiet_option("No progress bar in batch mode."),
    ray: Optional[str] = ray_option("Sharded index: one Ray actor per shard"),
):
    """Search an index and print ranked results with the best-matching passage of each.

    One QUERY; a file of queries (--queries, model loaded once, progress shown; --run writes a TREC run
    or JSONL); or, with neither, queries read from stdin one per line (interactive).
    """
    quiet_env(quiet or queries_file is None)
    from ..data.corpora.queries import read_queries
    from ..index.dispatch import open_index
    from ..retrieval.options import SearchOptions

    query = _check_inputs(query, queries_file, run_file)
    keys = _fields(fields)
    batch = read_queries(queries_file) if queries_file is not None else None
    options = SearchOptions(
        mode=mode, k=k, depth=depth, by="chunk" if chunks else "document", fusion=fusion, weights=parse_weights(weights),
        reranker=_reranker(rerank, rerank_backend), rerank_depth=rerank_depth, rerank_fusion=rerank_fusion,
        filters=(*(filters or []), *_entity_filters(entity)),
    )  # fmt: skip
    encoder = _checked_encoder(index_dir, model)
    with open_index(index_dir, encoder=encoder, backend=backend, ray=ray) as idx:
        if backend in ("onnx", "onnx-int8") and encoder is None:
            from ..index.storage.model import model_spec
            from ..models.export import ensure_export

            ensure_export(model_spec(idx.manifest["model"]), "encoder", backend)
        stages = idx.retrievers if mode == "hybrid" else [s for s in mode.split("+")]
        _note_truncated_query(idx, stages, query)
        show = _Printer(index_dir, mode, keys, explain, stages, depth, options.reranker is not None, as_json)
        if batch is not None:
            _batch(idx, batch, options, run_file, show, batch_size, quiet)
        elif query is not None:
            show(query, idx.search_many([query], options)[0], single=True)
        else:
            _interactive(idx, options, show)


def _check_inputs(query: Optional[str], queries_file: Optional[Path], run_file: Optional[Path]) -> Optional[str]:
    """The query as searched (invalid UTF-8 in argv arrives as lone surrogates: data.textsafe policy)."""
    from ..errors import EncoderkitError
    from ..retrieval.runs import run_format

    if query is not None and queries_file is not None:
        raise EncoderkitError("give a QUERY or --queries FILE, not both", hint="use --queries for many queries")
    if run_file is not None and queries_file is None:
        raise EncoderkitError("--run needs --queries FILE", hint="e.g. --queries queries.tsv --run out.trec")
    if run_file is not None and run_format(run_file) is None:
        raise EncoderkitError(f"--run {run_file}: unknown format", hint="name it .trec, .run, .txt (TREC) or .jsonl")
    return clean_text(query) if query is not None else None


def _fields(fields: Optional[str]) -> tuple[str, ...]:
    from ..errors import EncoderkitError
    from ..retrieval.snippets import ALL_FIELDS, DEFAULT_FIELDS

    if not fields:
        return tuple(DEFAULT_FIELDS)
    keys = tuple(f.strip() for f in fields.split(",") if f.strip())
    unknown = [f for f in keys if f not in ALL_FIELDS]
    if unknown:
        raise EncoderkitError(f"unknown --fields {', '.join(unknown)}", hint=f"choose from: {', '.join(ALL_FIELDS)}")
    return keys


def _reranker(rerank: Optional[str], backend: str):
    if not rerank:
        return None
    from ..models.rerankers import ensure_reranker_export, load_reranker

    ensure_reranker_export(rerank, backend)
    return load_reranker(rerank, backend=backend)


def _checked_encoder(index_dir: Path, model: Optional[str]):
    """``--model``: loaded with the index's pooling and length, so the index checks it is its own."""
    if model is None:
        return None
    from ..index.storage.manifest import read_manifest
    from ..models.heads.encoder import Encoder

    m = read_manifest(index_dir)["model"]
    return Encoder.load(model, pooling=m["pooling"], max_length=m["max_length"])


def _note_truncated_query(idx, stages, query: Optional[str]) -> None:
    colbert = idx.snapshot().retrievers.get("colbert") if "colbert" in stages and idx.snapshot() else None
    colbert_model = getattr(colbert, "model", None) if colbert is not None else None  # None through Ray actors
    if colbert_model is not None and query is not None and colbert_model.truncated_queries([query])[0]:
        console(stderr=True).print(
            f"note: ColBERT reads the first {colbert_model.query_length} tokens of the query; the rest was ignored"
        )


# ---------------------------------------------------------------------------- batch and stdin
def _batch(idx, queries, options, run_file, show, batch_size: int, quiet: bool) -> None:
    from ..index.dispatch import search_batches

    results = search_batches(idx, queries, options, batch_size=batch_size, show_progress=None if not quiet else False)
    if run_file is None:
        for qid, text, hits in results:
            sys.stdout.write(show.json_line(qid, text, hits) + "\n")
        return
    from ..retrieval.runs import RunWriter

    with RunWriter(run_file, by=options.by, tag=f"encoderkit-{options.mode}", json_row=show.json_row) as writer:
        for qid, text, hits in results:
            writer.write(qid, text, hits)
    print(f"wrote {writer.queries} queries' results to {run_file}", file=sys.stderr)


def _interactive(idx, opts, show) -> None:
    tty = sys.stdin.isatty()
    if tty:
        print("type a query and press Enter (Ctrl-D to quit)", file=sys.stderr)
    while True:
        if tty:
            print("query> ", end="", file=sys.stderr, flush=True)
        line = _read_line()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        show(text, idx.search_many([text], opts)[0], header=not tty)  # piped: say which query each block answers


def _read_line() -> str:
    """One line of stdin; bytes that are not valid UTF-8 become U+FFFD instead of ending the session."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return clean_text(sys.stdin.readline())
    return buffer.readline().decode("utf-8", "replace")


# ---------------------------------------------------------------------------- printing
class _Printer:
    def __init__(self, index_dir, mode, keys, explain, stages, depth, reranked, as_json):
        self.index_dir, self.mode, self.keys = str(index_dir), mode, keys
        self.explain, self.stages, self.depth, self.reranked, self.as_json = explain, stages, depth, reranked, as_json

    def rows(self, hits, query: str) -> list[dict]:
        from ..retrieval.snippets import hit_row

        return [hit_row(h, query, self.keys) for h in hits]

    def json_row(self, qid: str, query: str, hits) -> dict:
        from ..data.textsafe import json_safe

        return json_safe({"query_id": qid, "query": query, "hits": self.rows(hits, query)})

    def json_line(self, qid: str, query: str, hits) -> str:
        import json

        return json.dumps(self.json_row(qid, query, hits), ensure_ascii=False)

    def __call__(self, query: str, hits, single: bool = False, header: bool = False) -> None:
        if header and not self.as_json:  # a JSON line names its query itself
            from .safe import joined

            console().print(joined(("query: ", "dim"), (" ".join(query.split()), "bold magenta")))
        if self.as_json:
            if single:
                extra = {"fusion": hits[0].fusion} if self.explain and hits and hits[0].fusion else {}
                print_json({"query": query, "mode": self.mode, "index": self.index_dir, **extra, "hits": self.rows(hits, query)})
            else:
                sys.stdout.write(self.json_line("", query, hits) + "\n")
                sys.stdout.flush()
            return
        _print_hits(query, hits, self)


def _print_hits(query: str, hits, p: _Printer) -> None:
    from ..retrieval.snippets import snippet
    from .safe import highlighted, joined

    out = console()
    if not hits:
        out.print("no results")
        return
    if p.explain and hits[0].fusion:
        out.print(joined(("fusion: " + fusion_explanation(hits[0].fusion), "dim")))
    for h in hits:  # user data goes out as Text with control characters made visible: never as markup
        where = _display_path(h)
        sn = snippet(h, query)
        title = f"  {h.title}" if h.title and h.title not in where else ""
        out.print(joined((f"{h.rank:>2}.", "bold"), " ", (f"{h.score:.4f}", "cyan"), "  ", (where, "bold"), title))
        if sn.section:
            out.print(joined("      § ", sn.section))
        labels = (getattr(h, "annotations", {}).get("classify") or {}).get("labels")
        if labels:
            out.print(joined("      labels: ", ", ".join(map(str, labels))))
        out.print(joined("      ") + highlighted(" ".join(sn.text.split()), query))
        if p.explain:
            out.print(joined(("      " + explain_line(h, p.stages, p.depth, p.reranked), "dim")))


def fusion_explanation(f: dict) -> str:
    """What weights a query's stages got and why (``QueryRanking.fusion``), in one line.

    >>> fusion_explanation({"rule": "weighted (bm25 0.5, dense 0.5), per-query shift 1", "source": "calibrated",
    ...   "weights": {"bm25": 0.2, "dense": 0.9}, "score_gap": {"bm25": 0.1, "dense": 0.5},
    ...   "typical_gap": {"bm25": 0.25, "dense": 0.3}, "strength": 1.0, "top10_overlap": 0.3})  # doctest: +NORMALIZE_WHITESPACE
    'weighted (bm25 0.5, dense 0.5), per-query shift 1 [calibrated]; this query: bm25 0.2 (score gap 0.1, typical 0.25),
     dense 0.9 (score gap 0.5, typical 0.3); top-10 overlap 0.3'
    """
    head = f"{f['rule']} [{f['source']}]"
    if not f.get("strength"):
        return (
            f"{head}; weights {', '.join(f'{k} {v:g}' for k, v in f['weights'].items())}; top-10 overlap {f['top10_overlap']:g}"
        )
    per = ", ".join(
        f"{k} {w:g} (score gap {f['score_gap'].get(k, 0):g}, typical {f['typical_gap'].get(k, 0):g})"
        for k, w in f["weights"].items()
    )
    return f"{head}; this query: {per}; top-10 overlap {f['top10_overlap']:g}"


def explain_line(hit, stages, depth: int, reranked: bool) -> str:
    """Each stage's rank of the hit and its score for the shown passage; when a stage preferred another
    passage of the same document, which one and its score.

    >>> from encoderkit.retrieval.ranking import Hit
    >>> h = Hit(1, 0.03, "d", 796, start=10, end=90, stages={"dense": {"rank": 1, "score": 0.6953, "chunk_id": 794,
    ...     "shown_chunk_score": 0.6612}, "bm25": {"rank": 2, "score": 7.1, "chunk_id": 796, "shown_chunk_score": 7.1}})
    >>> explain_line(h, ["bm25", "dense"], 100, False)
    'shown: chunk 796, chars 10-90 | bm25: rank 2, score 7.1000 | dense: rank 1, score 0.6612 (preferred chunk 794: 0.6953)'
    """
    parts = [f"shown: chunk {hit.chunk_id}, chars {hit.start}-{hit.end}"]
    for name, st in sorted(hit.stages.items()):
        shown = st.get("shown_chunk_score")
        if st.get("chunk_id", hit.chunk_id) == hit.chunk_id:
            parts.append(f"{name}: rank {st['rank']}, score {st['score']:.4f}")
        elif shown is not None:
            parts.append(f"{name}: rank {st['rank']}, score {shown:.4f} (preferred chunk {st['chunk_id']}: {st['score']:.4f})")
        else:
            parts.append(
                f"{name}: rank {st['rank']} with chunk {st['chunk_id']} ({st['score']:.4f}); shown chunk not in its candidates"
            )
    missing = [name for name in stages if len(stages) > 1 and name not in hit.stages]
    missing += ["rerank"] if reranked and "rerank" not in hit.stages else []
    parts += [f"{name}: not in top {depth}" for name in missing]
    return " | ".join(parts)


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


def _entity_filters(entities: Optional[List[str]]) -> list[str]:
    """``--entity TYPE:value`` as ``entity=TYPE:value`` filters."""
    from ..errors import EncoderkitError

    out = []
    for e in entities or []:
        typ, sep, value = e.partition(":")
        if not sep or not typ.strip() or not value.strip():
            raise EncoderkitError(f"--entity {e!r} is not TYPE:value", hint="e.g. --entity PER:obama or --entity LOC:paris")
        out.append(f"entity={typ.strip()}:{value.strip()}")
    return out
