"""``encoderkit search``: one query, a file of queries (batch: TREC run or JSONL), or queries from stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..data.textsafe import clean_text
from .common import console, print_json, quiet_env, ray_option


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
        help="How several retrievers are fused: auto (weighted when colbert is fused, else rrf) | rrf | weighted "
        "(score-normalised) [auto].",
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
    batch_size: int = typer.Option(32, min=1, help="Queries searched together in batch mode."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON (one object; JSON lines in batch/stdin mode)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar in batch mode."),
    ray: Optional[str] = ray_option("Sharded index: one Ray actor per shard"),
):
    """Search an index and print ranked results with the best-matching passage of each.

    One QUERY; a file of queries (--queries, model loaded once, progress shown; --run writes a TREC run
    or JSONL); or, with neither, queries read from stdin one per line (interactive).
    """
    quiet_env(quiet or queries_file is None)
    from ..errors import EncoderkitError
    from ..models.export import ensure_export
    from ..retrieval.snippets import ALL_FIELDS, DEFAULT_FIELDS

    if query is not None and queries_file is not None:
        raise EncoderkitError("give a QUERY or --queries FILE, not both", hint="use --queries for many queries")
    if query is not None:
        query = clean_text(query)  # invalid UTF-8 in argv arrives as lone surrogates: data.textsafe policy
    if run_file is not None and queries_file is None:
        raise EncoderkitError("--run needs --queries FILE", hint="e.g. --queries queries.tsv --run out.trec")
    if run_file is not None and _run_kind(run_file) is None:
        raise EncoderkitError(f"--run {run_file}: unknown format", hint="name it .trec, .run, .txt (TREC) or .jsonl")
    keys = tuple(DEFAULT_FIELDS)
    if fields:
        keys = tuple(f.strip() for f in fields.split(",") if f.strip())
        unknown = [f for f in keys if f not in ALL_FIELDS]
        if unknown:
            raise EncoderkitError(f"unknown --fields {', '.join(unknown)}", hint=f"choose from: {', '.join(ALL_FIELDS)}")
    batch = _read_queries(queries_file) if queries_file is not None else None
    filters = [*(filters or []), *_entity_filters(entity)]
    encoder = None
    if model is not None:
        from ..index.storage.manifest import read_manifest
        from ..models.heads.encoder import Encoder

        m = read_manifest(index_dir)["model"]
        encoder = Encoder.load(model, pooling=m["pooling"], max_length=m["max_length"])
    reranker = None
    if rerank:
        from ..models.rerankers import ensure_reranker_export, load_reranker

        ensure_reranker_export(rerank, rerank_backend)
        reranker = load_reranker(rerank, backend=rerank_backend)
    fusion_weights = parse_weights(weights)
    with _open(index_dir, encoder, backend, ray) as idx:
        if backend in ("onnx", "onnx-int8") and encoder is None:
            from ..index.storage.model import model_spec

            ensure_export(model_spec(idx.manifest["model"]), "encoder", backend)
        opts = dict(
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
        if filters:
            opts["filters"] = list(filters)
        stages = idx.retrievers if mode == "hybrid" else [s for s in mode.split("+")]
        colbert = idx.snapshot().retrievers.get("colbert") if "colbert" in stages and idx.snapshot() else None
        colbert_model = getattr(colbert, "model", None) if colbert is not None else None  # None through Ray actors
        if colbert_model is not None and query is not None and colbert_model.truncated_queries([query])[0]:
            console(stderr=True).print(
                f"note: ColBERT reads the first {colbert_model.query_length} tokens of the query; the rest was ignored"
            )
        show = _Printer(index_dir, mode, keys, explain, stages, depth, reranker is not None, as_json)
        if batch is not None:
            _batch(idx, batch, opts, run_file, show, batch_size, quiet)
        elif query is not None:
            show(query, idx.search_many([query], **opts)[0], single=True)
        else:
            _interactive(idx, opts, show)


def _open(index_dir: Path, encoder, backend: str, ray: Optional[str] = None):
    """The index at ``index_dir``: ordinary, or sharded (searched as one; through Ray actors with --ray)."""
    from ..errors import EncoderkitError
    from ..index.shards.routing import is_sharded

    if is_sharded(index_dir):
        from ..index.shards.sharded import ShardedIndex

        if encoder is not None:
            raise EncoderkitError("--model is not supported on a sharded index", hint="search with the index's own model")
        six = ShardedIndex.open(index_dir, backend=backend)
        if ray is not None:
            try:
                six.use_ray(ray, backend=backend)
            except BaseException:
                six.close()
                raise
        return six
    if ray is not None:
        raise EncoderkitError(
            f"--ray searches the shards of a sharded index; '{index_dir}' is an ordinary index",
            hint="leave out --ray, or build a sharded index with --shards N",
        )
    from ..index import Index

    return Index.open(index_dir, encoder=encoder, backend=backend)


# ---------------------------------------------------------------------------- batch and stdin
def _run_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "jsonl" if suffix == ".jsonl" else "trec" if suffix in (".trec", ".run", ".txt") else None


def _read_queries(path: Path) -> list[tuple[str, str]]:
    """(id, text) of every query in a .tsv / .jsonl / .txt file; problems name file:line."""
    from ..data.jsonl import read_jsonl, read_text, split_fields
    from ..data.problems import Problems

    problems = Problems(f"queries file {path}")
    out: list[tuple[str, str]] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for n, rec in read_jsonl(path):
            qid = rec.get("_id", rec.get("id", rec.get("qid"))) if isinstance(rec, dict) else None
            text = rec.get("text", rec.get("query")) if isinstance(rec, dict) else None
            if qid is None or not isinstance(text, str) or not text.strip():
                problems.add("records without id/text", path, n, "needs _id (or id) and a non-empty text (or query)")
            else:
                out.append((str(qid), text))
    elif suffix in (".tsv", ".txt"):
        for n, line in split_fields(read_text(path)):
            if suffix == ".txt":
                out.append((str(n), line.strip()))
                continue
            parts = line.split("\t")
            if n == 1 and parts[0].strip().lower() in ("query-id", "query_id", "qid", "id", "_id"):
                continue
            if len(parts) < 2 or not parts[1].strip():
                problems.add("malformed lines", path, n, "expected: id TAB query text")
            else:
                out.append((parts[0].strip(), "\t".join(parts[1:]).strip()))
    else:
        from ..errors import EncoderkitError

        raise EncoderkitError(f"--queries {path}: unknown format", hint="use .tsv (id TAB text), .jsonl or .txt")
    seen: set[str] = set()
    for qid, _ in out:
        if qid in seen:
            problems.add("duplicate ids", path, None, f"query id {qid!r} appears twice")
        seen.add(qid)
    problems.raise_if_any(hint="fix the queries file")
    if not out:
        from ..errors import DataError

        raise DataError(path, "no queries found")
    return out


def _batch(idx, queries, opts, run_file, show, batch_size: int, quiet: bool) -> None:
    from ..runtime import progress_enabled

    bar = None
    if progress_enabled(None if not quiet else False):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(queries), desc="searching", unit="query")
    kind = _run_kind(run_file) if run_file is not None else None
    fh = open(run_file, "w", encoding="utf-8") if run_file is not None else None
    try:
        for i in range(0, len(queries), batch_size):
            part = queries[i : i + batch_size]
            results = idx.search_many([text for _, text in part], **opts)
            for (qid, text), hits in zip(part, results):
                if kind == "trec":
                    from ..retrieval.metrics import strict_scores

                    key = "chunk_id" if opts["by"] == "chunk" else "doc_id"
                    strict = strict_scores([str(getattr(h, key)) for h in hits], [h.score for h in hits])
                    for rank, (doc, score) in enumerate(strict.items(), start=1):
                        fh.write(f"{qid} Q0 {doc} {rank} {score:.12f} encoderkit-{opts['mode']}\n")
                elif fh is not None:
                    fh.write(show.json_line(qid, text, hits) + "\n")
                else:
                    sys.stdout.write(show.json_line(qid, text, hits) + "\n")
            if bar is not None:
                bar.update(len(part))
    finally:
        if fh is not None:
            fh.close()
        if bar is not None:
            bar.close()
    if run_file is not None:
        print(f"wrote {len(queries)} queries' results to {run_file}", file=sys.stderr)


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
        show(text, idx.search_many([text], **opts)[0])


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

    def json_line(self, qid: str, query: str, hits) -> str:
        import json

        from ..data.textsafe import json_safe

        row = {"query_id": qid, "query": query, "hits": self.rows(hits, query)}
        return json.dumps(json_safe(row), ensure_ascii=False)

    def __call__(self, query: str, hits, single: bool = False) -> None:
        if self.as_json:
            if single:
                print_json({"query": query, "mode": self.mode, "index": self.index_dir, "hits": self.rows(hits, query)})
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
