"""``encoderkit index`` and ``encoderkit info``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, plain, print_json, quiet_env, ray_option
from .safe import shown


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("info")(info)


def index(
    paths: Optional[List[Path]] = typer.Argument(
        None,
        metavar="PATHS...",
        help="Files and folders to index (.txt .md .rst .html .pdf .docx, source code, BEIR corpus .jsonl; also .gz).",
    ),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder (created if missing)."),
    model: Optional[str] = typer.Option(
        None,
        help="'default' (bundled all-MiniLM-L6-v2), a local model folder or a "
        "hub id. Existing index: its own model unless given.",
    ),
    pooling: Optional[str] = typer.Option(None, help="Pooling: mean|cls|max|weighted_mean|last (default: the model's)."),
    chunk_size: Optional[int] = typer.Option(
        None, min=0, help="Chunk length in model tokens; 0 = whole documents, truncated by the encoder [new index: 256]."
    ),
    chunk_overlap: Optional[int] = typer.Option(None, min=0, help="Tokens shared by consecutive chunks [new index: 32]."),
    retrievers: Optional[str] = typer.Option(
        None,
        "--retrievers",
        help="Comma-separated retrievers the index holds, "
        "e.g. bm25,dense or bm25,dense,colbert [new index: bm25,dense]; adding one to an existing index "
        "encodes only what it needs.",
    ),
    dense: Optional[str] = typer.Option(
        None, help="Dense search per segment: flat (exact) | hnsw | ivf | ivfpq [new index: flat; small segments stay exact]."
    ),
    vectors: Optional[str] = typer.Option(
        None,
        "--vectors",
        help="Embeddings the dense search reads: float32 | int8 (4x smaller) | binary (32x smaller, top "
        "candidates rescored from the float vectors on disk) [new index: float32].",
    ),
    rescore: Optional[str] = typer.Option(
        None, "--rescore", help="Rescore int8/binary/PQ candidates with: auto | float | int8 | none."
    ),
    nprobe: Optional[int] = typer.Option(
        None, "--nprobe", min=1, help="IVF cells searched per query [16]; changes nothing on disk."
    ),
    ef_search: Optional[int] = typer.Option(
        None, "--ef-search", min=1, help="HNSW search breadth [128]; changes nothing on disk."
    ),
    auto_merge: Optional[bool] = typer.Option(
        None, "--auto-merge/--no-auto-merge", help="Merge segments automatically after updates [on]; see `encoderkit optimize`."
    ),
    colbert_model: Optional[str] = typer.Option(
        None,
        "--colbert-model",
        help="ColBERT model of the colbert retriever (a folder from `encoderkit train colbert`; "
        "'default' = MaxSim over the bundled MiniLM's own token vectors, no training) [default].",
    ),
    colbert_nbits: Optional[int] = typer.Option(
        None, "--colbert-nbits", help="ColBERT residual bits per dimension: 1 | 2 | 4, or 0 for float16 [2]."
    ),
    colbert_pool_factor: Optional[int] = typer.Option(
        None, "--colbert-pool-factor", help="Merge similar document tokens: 2 halves ColBERT's storage [1 = off]."
    ),
    shards: Optional[int] = typer.Option(
        None,
        "--shards",
        min=1,
        help="New index: N shards of one logical index (documents routed by id; search answers like one index).",
    ),
    add_shard: bool = typer.Option(
        False, "--add-shard", help="Sharded index: add an empty shard first (new documents start going to it)."
    ),
    ray: Optional[str] = ray_option("Read, chunk and encode on a Ray cluster"),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="With --ray: encoding actors, one model each [the cluster's CPUs]."
    ),
    encode_precision: Optional[str] = typer.Option(
        None,
        "--encode-precision",
        help="Precision chunks are encoded at: auto | fp32 | bf16 | int8 [fp32]. Anything but fp32 must pass a "
        "quality gate first (mean cosine to fp32 >= 0.99, nDCG@10 drop <= 0.005 on a dev set), else it is refused "
        "with the measured figures; auto picks the fastest that passes. Changing it re-encodes every chunk.",
    ),
    gate_data: Optional[Path] = typer.Option(
        None,
        "--gate-data",
        help="BEIR folder whose --gate-split is the quality gate's dev set [the indexed documents: first sentence "
        "as query, the rest as its passage].",
    ),
    gate_split: str = typer.Option("dev", "--gate-split", help="Split of --gate-data the gate uses [dev]."),
    recluster: bool = typer.Option(
        False,
        "--recluster",
        help="Rebuild every retriever from the stored vectors at this run (ColBERT retrains its centroids, e.g. "
        "after the data drifted; see `encoderkit info`); nothing is re-encoded.",
    ),
    bm25_method: Optional[str] = typer.Option(None, help="BM25 variant: lucene|robertson|atire|bm25l|bm25+ [lucene]."),
    k1: Optional[float] = typer.Option(None, min=0.0, help="BM25 k1 [1.5]."),
    b: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="BM25 b [0.75]."),
    stem: Optional[bool] = typer.Option(None, "--stem/--no-stem", help="Stem words for BM25 [on]."),
    stopwords: Optional[bool] = typer.Option(None, "--stopwords/--no-stopwords", help="Drop English stop words [on]."),
    classify: Optional[str] = typer.Option(
        None,
        "--classify",
        help="Tag every document with this classifier's labels (annotator 'classify'); filter with `search --filter label=X`.",
    ),
    extract: Optional[str] = typer.Option(
        None,
        "--extract",
        help="Store the entities this NER model finds in every document (annotator 'entities'); "
        "filter with `search --filter entity=TYPE:value`.",
    ),
    annotator: Optional[List[str]] = typer.Option(
        None, "--annotator", help="An index-time annotator to hold, by name (repeat). Existing index: its own unless given."
    ),
    annotator_setting: Optional[List[str]] = typer.Option(
        None, "--annotator-setting", help="NAME.key=value setting of an annotator (repeat); e.g. classify.threshold=0.5."
    ),
    max_file_mb: float = typer.Option(20.0, min=0.001, help="Skip files larger than this (MB)."),
    file_timeout: float = typer.Option(
        60.0, min=0.0, help="Skip a file whose reading + text extraction takes longer than this (seconds)."
    ),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-encode everything (needed to change model/chunking)."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Rebuild damaged search files (and a lost manifest) from the index's store, without re-encoding; no PATHS needed.",
    ),
    onnx: bool = typer.Option(
        True,
        "--onnx/--no-onnx",
        help="Also export the model to ONNX (cached, same vectors) so "
        "searches encode queries with ONNX Runtime: ~2x faster, ~5x faster cold start.",
    ),
    titles: Optional[str] = typer.Option(
        None,
        "--titles",
        help="How chunks carry their document's title: auto (a header line unless the chunk opens with it) | "
        "prefix (always) | none; whole documents (--chunk-size 0) are title + ' ' + text [new index: auto].",
    ),
    allow_missing: bool = typer.Option(
        False,
        "--allow-missing",
        help="Accept PATHS that do not exist (their documents leave the index) instead of stopping.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Index files and folders (incremental: unchanged files are not re-encoded).

    On an existing index, options left out keep the index's settings; changing the model, pooling or
    chunking needs --rebuild (the old version stays searchable until the rebuild commits).
    """
    quiet_env(quiet or as_json)
    if repair:
        return _repair(index_dir, paths, as_json)
    if not paths:
        from ..errors import EncoderkitError

        raise EncoderkitError("no files or folders to index", hint="give PATHS, or --repair to fix a damaged index")
    missing = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
    if missing and not allow_missing:
        from ..errors import EncoderkitError

        raise EncoderkitError(
            f"{'path does' if len(missing) == 1 else 'paths do'} not exist: {', '.join(missing)}",
            hint="check the spelling, or pass --allow-missing to index the rest",
        )
    from ..index.configure import open_for_update
    from ..index.shards.routing import is_sharded

    remote = _ray_encoding(ray, workers, quiet=quiet or as_json)

    settings: dict[str, dict] = {}
    bm25 = {k: v for k, v in (("method", bm25_method), ("k1", k1), ("b", b)) if v is not None}
    if stem is not None:
        bm25["stemmer"] = "english" if stem else None
    if stopwords is not None:
        bm25["stopwords"] = "en" if stopwords else None
    if bm25:
        settings["bm25"] = bm25
    dense_settings = {
        k: v for k, v in (("kind", dense), ("rescore", rescore), ("nprobe", nprobe), ("ef_search", ef_search)) if v is not None
    }
    if vectors is not None:
        dense_settings["quantization"] = {"float32": "none"}.get(vectors, vectors)
    if dense_settings:
        settings["dense"] = dense_settings
    colbert = {
        k: v
        for k, v in (("model", colbert_model), ("nbits", colbert_nbits), ("pool_factor", colbert_pool_factor))
        if v is not None
    }
    names = [r.strip() for r in retrievers.split(",") if r.strip()] if retrievers else None
    ann_settings = parse_annotator_settings(annotator_setting or [])
    if classify:
        ann_settings.setdefault("classify", {})["model"] = classify
    if extract:
        ann_settings.setdefault("entities", {})["model"] = extract
    if colbert:
        from ..errors import EncoderkitError
        from ..index.storage.manifest import MANIFEST, read_manifest, retriever_names
        from ..retrieval.colbert.retriever import record_model

        have = retriever_names(read_manifest(index_dir)) if (index_dir / MANIFEST).exists() else []
        if "colbert" not in (names if names is not None else have):
            raise EncoderkitError(
                "--colbert-* options need the colbert retriever", hint="add it: --retrievers bm25,dense,colbert"
            )
        if "model" in colbert:
            colbert["model"] = record_model(colbert["model"])
        settings["colbert"] = colbert
    if shards is not None or add_shard or is_sharded(index_dir):
        return _index_sharded(
            index_dir,
            paths,
            shards=shards,
            add_shard=add_shard,
            model=model,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            retrievers=names,
            settings=settings,
            onnx=onnx,
            rebuild=rebuild,
            as_json=as_json,
            max_bytes=int(max_file_mb * 2**20),
            time_limit=file_timeout,
            remote=remote,
        )
    idx = open_for_update(
        index_dir,
        model=model,
        pooling=pooling,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        retrievers=names,
        retriever_settings=settings,
        annotators=list(annotator) if annotator else None,
        annotator_settings=ann_settings,
        rebuild=rebuild,
        titles=titles,
    )
    if auto_merge is not None:
        idx.set_merge_policy(auto=auto_merge)
    if encode_precision is not None:
        _choose_precision(idx, encode_precision, paths, gate_data, gate_split, quiet=as_json)
    with idx:
        report = idx.sync(
            paths,
            rebuild=rebuild,
            max_bytes=int(max_file_mb * 2**20),
            time_limit=file_timeout,
            export_onnx=onnx,
            recluster=recluster,
            encode_with=remote,
        )
        stats = idx.stats()
        retriever_stats = (idx.manifest.get("build") or {}).get("retriever_stats") or {}
        encoding = _encoding_line(idx, report, remote)
    query_backend = report.query_backend or "torch"
    if as_json:
        print_json({"index": str(index_dir), **report.to_dict(), "totals": stats, "query_backend": query_backend})
        return
    _print_report(report, stats)
    if encoding:
        console().print(shown(encoding))
    drift = (retriever_stats.get("colbert") or {}).get("drift") or {}
    if drift.get("recluster_recommended"):
        console().print(
            f"[yellow]colbert: the centroids fit the data added since they were trained {drift['drift']:.0%} worse; "
            "run again with --recluster[/]"
        )


def _index_sharded(
    index_dir: Path,
    paths,
    *,
    shards,
    add_shard,
    model,
    chunk_size,
    chunk_overlap,
    retrievers,
    settings,
    onnx,
    rebuild,
    as_json,
    max_bytes,
    time_limit,
    remote=None,
) -> None:
    """`encoderkit index` on a sharded index: create it (--shards N), add a shard, sync every shard."""
    from ..errors import EncoderkitError
    from ..index.shards.routing import is_sharded
    from ..index.shards.sharded import ShardedIndex
    from ..index.storage.manifest import MANIFEST

    if rebuild and not is_sharded(index_dir):
        raise EncoderkitError(f"no sharded index at '{index_dir}' to rebuild", hint="create one with --shards N first")
    if rebuild:  # every shard re-encoded with the (new) settings; documents stay in their shards
        from ..index.configure import open_for_update
        from ..index.shards.routing import read_shards

        names = read_shards(index_dir)["shards"]
        opts = dict(model=model, chunk_size=chunk_size, chunk_overlap=chunk_overlap, retrievers=retrievers)
        shards = [open_for_update(index_dir / n, retriever_settings=settings, rebuild=True, **opts) for n in names]
        six = ShardedIndex(index_dir, shards, names)
    elif is_sharded(index_dir):
        if shards is not None and shards != len(ShardedIndex.open(index_dir).names):
            raise EncoderkitError(f"'{index_dir}' already has its shards", hint="use --add-shard to add one")
        six = ShardedIndex.open(index_dir)
    elif (index_dir / MANIFEST).is_file():
        raise EncoderkitError(f"'{index_dir}' is an ordinary index", hint="--shards and --add-shard need a sharded index")
    elif add_shard:
        raise EncoderkitError(f"no sharded index at '{index_dir}'", hint="create one with --shards N first")
    else:
        opts = {k: v for k, v in (("chunk_size", chunk_size), ("chunk_overlap", chunk_overlap)) if v is not None}
        if retrievers:
            opts["retrievers"] = retrievers
        six = ShardedIndex.create(index_dir, shards, encoder=model or "default", retriever_settings=settings, **opts)
    with six:
        if add_shard:
            six.add_shard()
        reports = six.sync(
            paths, max_bytes=max_bytes, time_limit=time_limit, export_onnx=onnx, encode_with=remote, rebuild=rebuild
        )
        totals = {
            k: sum(getattr(r, k) for r in reports.values())
            for k in ("added", "updated", "unchanged", "removed", "chunks_encoded")
        }
        per_shard = {n: len(s) for n, s in zip(six.names, six.shards)}
    if as_json:
        print_json({"index": str(index_dir), "shards": len(per_shard), **totals, "documents_per_shard": per_shard})
        return
    out = console()
    out.print(shown(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in totals.items())))
    out.print(shown(f"{len(per_shard)} shards: " + ", ".join(f"{n} {c} documents" for n, c in per_shard.items())))


def _ray_encoding(address: Optional[str], workers: Optional[int], *, quiet: bool):
    """The --ray / --workers choice as a RayEncoding (connected, so a missing Ray or a wrong address fails
    before any file is read), or None for the local path."""
    if address is None:
        if workers is not None:
            from ..errors import EncoderkitError

            raise EncoderkitError("--workers needs --ray", hint="add --ray (a local Ray cluster) or --ray ADDRESS")
        return None
    from ..index.shards.ray_build import RayEncoding

    remote = RayEncoding(address, workers=workers, quiet=True)
    info = remote.connect()
    if not quiet:
        where = "a local Ray instance" if info.started_here else f"the Ray cluster at {info.address}"
        console().print(shown(f"encoding on {where}: {info.nodes} node(s), {info.cpus} CPUs, {remote.n_workers()} workers"))
    return remote


def _choose_precision(idx, requested: str, paths, gate_data: Optional[Path], gate_split: str, *, quiet: bool) -> None:
    """Run the quality gate for ``requested`` (unless the index already encodes at it) and apply the result."""
    from ..data.files.sources import SourceDoc, walk
    from ..index.precision_gate import beir_dev_set, choose_precision, ict_dev_set

    model = idx.manifest["model"]
    current = model.get("encode_precision") or "fp32"
    if requested == current or (requested == "auto" and (model.get("precision_choice") or {}).get("requested") == "auto"):
        return
    if gate_data is not None:
        dev = beir_dev_set(gate_data, gate_split)
    else:
        texts = []
        for item in walk(paths):
            if isinstance(item, SourceDoc):
                texts.append(item.text)
                if len(texts) >= 1000:
                    break
        dev = ict_dev_set(texts)
    chosen, gate, measured = choose_precision(model, requested, dev)
    out = console()
    for g in measured:
        if not quiet:
            out.print(
                shown(
                    f"quality gate {g['precision']}: mean cosine {g['mean_cosine']:.4f}, nDCG@10 drop {g['ndcg_drop']:+.4f} "
                    f"({g['dev_queries']} dev queries), {g['speedup']:.2f}x fp32 speed -> "
                    + ("passed" if g["passed"] else "failed")
                )
            )
    choice = {"requested": requested, "measured": measured}
    idx.set_encode_precision(chosen, gate, choice=choice)
    if not quiet:
        out.print(shown(f"chunks will be encoded at {chosen}" + (" (auto)" if requested == "auto" else "")))


def parse_annotator_settings(specs: List[str]) -> dict[str, dict]:
    """``NAME.key=value`` strings -> {name: {key: value}} (values parsed as JSON when they are JSON)."""
    import json

    from ..errors import EncoderkitError

    out: dict[str, dict] = {}
    for spec in specs:
        name, _, rest = spec.partition(".")
        key, eq, value = rest.partition("=")
        if not name or not key or not eq:
            raise EncoderkitError(f"bad --annotator-setting {spec!r}", hint="write NAME.key=value, e.g. classify.threshold=0.5")
        try:
            out.setdefault(name, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            out.setdefault(name, {})[key] = value
    return out


def _repair(index_dir: Path, paths, as_json: bool) -> None:
    from ..index import Index

    if paths:
        from ..errors import EncoderkitError

        raise EncoderkitError("--repair takes no PATHS", hint="run --repair alone, then index PATHS as usual")
    r = Index.repair(index_dir)
    if as_json:
        print_json(r.to_dict())
        return
    out = console()
    if r.manifest_recovered:
        out.print(shown("manifest.json rewritten from the copy kept in index.db"))
    for p in r.problems:
        out.print(shown(f"found: {p}"))
    filled = f", {r.payloads_filled} missing payloads re-encoded" if r.payloads_filled else ", nothing re-encoded"
    out.print(
        shown(f"repaired: generation {r.generation} rebuilt from the store ({r.documents} documents, {r.chunks} chunks{filled})")
    )


def _encoding_line(idx, report, remote=None) -> str | None:
    """How chunks were encoded (runtime, precision, threads, batching) and how fast, when any were."""
    seconds = (report.encode_seconds or {}).get("dense")
    n = report.chunks_encoded + report.payloads_filled
    if not seconds or not n or "dense" not in idx.retrievers:
        return None
    from ..retrieval.base import DOCUMENT_TOKEN_BUDGET
    from ..runtime import n_threads

    precision = idx.manifest["model"].get("encode_precision") or "fp32"
    if remote is not None and remote.last:
        return (
            f"encoding  {precision} on Ray, {remote.last['workers']} workers x {remote.cpus_per_worker} thread(s), "
            f"token-budget batches of {DOCUMENT_TOKEN_BUDGET} tokens: {n / seconds:.1f} chunks/s (workers' start included)"
        )

    enc = idx.context.document_encoder
    return (
        f"encoding  {precision} on {enc.backend}, {n_threads()} intra-op threads (one per core), token-budget batches of "
        f"{DOCUMENT_TOKEN_BUDGET} tokens: {n / seconds:.1f} chunks/s"
    )


def _print_report(report, stats) -> None:
    from rich.table import Table

    out = console()
    t = Table(title="index update", show_header=False, box=None)
    for name in ("added", "updated", "unchanged", "removed", "resumed", "chunks_encoded"):
        t.add_row(name.replace("_", " "), str(getattr(report, name)))
    t.add_row("kept previous version", str(len(report.kept_previous)))
    t.add_row("skipped", str(len(report.skipped)))
    if report.committed:
        how = (
            "all chunks rewritten"
            if report.full_build
            else f"{report.segments_added} new, {report.chunks_deleted} chunks deleted"
        )
        merged = f"; {len(report.merges)} merges" if report.merges else ""
        t.add_row("segments", f"{how}{merged}")
    t.add_row("time", f"{report.seconds:.1f} s")
    t.add_row(
        "index",
        f"{stats['documents']} documents, {stats['chunks']} chunks in {stats['segments']} segments, "
        f"generation {stats['generation']}, {stats['size_bytes'] / 2**20:.1f} MB",
    )
    out.print(t)
    if report.skipped:
        from ..index.write.update_report import skipped_summary

        s = Table(title="skipped", show_header=True)
        s.add_column("reason")
        s.add_column("count", justify="right")
        s.add_column("example")
        examples = {}
        for item in report.skipped:
            examples.setdefault(item.reason.split(" (")[0].split(" at byte")[0], str(item))
        for reason, n in skipped_summary(report.skipped).items():
            s.add_row(shown(reason), str(n), shown(examples.get(reason, "")))
        out.print(s)
    if report.repaired:
        out.print(shown(f"repaired: the previous search files were damaged ({report.repaired[0]}); rebuilt from the store"))
    if not report.committed:
        out.print("[green]index is up to date[/]")


def info(
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
):
    """Show what an index holds and how it was built."""
    from ..index import Index

    with Index.open(index_dir, readonly=True) as idx:
        stats = idx.stats()
        manifest = idx.manifest
        health = idx.health()
        fp = idx.footprint()
    if as_json:
        print_json({"stats": stats, "manifest": manifest, "health": health.to_dict(), "footprint": fp})
        return
    m = manifest
    out = console()
    out.print(
        f"[bold]{_esc(str(index_dir))}[/]  format v{m['format_version']}, generation {m['generation']}, "
        f"{stats['documents']} documents, {stats['chunks']} chunks in {stats['segments']} segments, "
        f"{stats['size_bytes'] / 2**20:.1f} MB"
    )
    out.print(
        f"model      {_esc(m['model']['name'])} ({_esc(m['model']['revision'] or 'local')}), pooling "
        f"{m['model']['pooling']}, dim {m['model']['dim']}, max length {m['model']['max_length']}, L2-normalised"
    )
    ch = m["chunking"]
    titles = ch.get("titles", "auto" if ch.get("title_header", True) else "none")
    if ch["size"] == 0:
        out.print(f"chunking   whole documents ({ch.get('whole_document_text', 'text')}), truncated by the encoder")
    else:
        out.print(f"chunking   {ch['size']} tokens, overlap {ch['overlap']}, titles {titles}")
    precision = m["model"].get("encode_precision") or "fp32"
    gate = m["model"].get("quality_gate") or {}
    if precision != "fp32":
        out.print(
            f"encoder    chunks encoded with the {precision} encoder; quality gate passed: mean cosine to fp32 "
            f"{gate.get('mean_cosine', 0):.4f}, nDCG@10 drop {gate.get('ndcg_drop', 0):+.4f} on {gate.get('dev_queries', 0)} "
            f"dev queries ({_esc(str(gate.get('dev_set', '?')))}), {gate.get('speedup', 0):.2f}x fp32 speed; queries fp32"
        )
    else:
        requested = (m["model"].get("precision_choice") or {}).get("requested")
        note = " (auto: no faster encoder passed the quality gate)" if requested == "auto" else ""
        out.print(f"encoder    fp32, nothing quantized{note}")
    rstats = (m.get("build") or {}).get("retriever_stats") or {}
    for r in m["retrievers"]:
        out.print(f"{r['name']:<10} {_esc(plain(r['settings']))}")
        st = rstats.get(r["name"]) or {}
        if "bytes_per_token" in st:
            d = st.get("drift") or {}
            out.print(
                f"           {st['tokens']:,} token vectors, {st['bytes_per_token']} bytes/token "
                f"({st['total_bytes_per_token']} with centroids and inverted file), {st['centroids']} centroids; "
                f"drift {d.get('drift', 0):+.1%} over {d.get('share_added_since_training', 0):.1%} of tokens added since "
                f"training{' — run `encoderkit index ... --recluster`' if d.get('recluster_recommended') else ''}"
            )
    _print_footprint(out, fp)
    counts = stats.get("annotations") or {}
    for a in m.get("annotators") or []:
        out.print(f"{a['name']:<10} {_esc(plain(a['settings']))}  ({counts.get(a['name'], 0)} documents annotated)")
    out.print(f"updated    {m['updated_at']}")
    if health.ok:
        out.print(f"health     ok (cheap checks; `encoderkit verify --index {_esc(str(index_dir))}` checks every checksum)")
    else:
        from ..index.storage.integrity import repair_hint

        out.print("[red]health     DAMAGED[/] ", shown(f"{health.problems[0]}; {repair_hint(index_dir)}"))
    if m.get("upgraded_from"):
        out.print(f"[yellow]format {m['upgraded_from']} index: the next `encoderkit index` run migrates it in place[/]")


def _print_footprint(out, fp: dict) -> None:
    from rich.table import Table

    mb = lambda n: f"{n / 2**20:.1f} MB"
    t = Table(title="disk and memory (warm search)", show_header=True, box=None)
    for col in ("component", "disk", "resident", "memory-mapped", "notes"):
        t.add_column(col, justify="left" if col in ("component", "notes") else "right")
    for name, c in fp["components"].items():
        notes = []
        if c.get("kinds"):
            notes.append("search " + "/".join(c["kinds"]))
        if c.get("quantizations"):
            notes.append("vectors " + "/".join({"none": "float32"}.get(q, q) for q in c["quantizations"]))
        t.add_row(_esc(name), mb(c["disk"]), mb(c["memory"]), mb(c["mapped"]), _esc(", ".join(notes)))
    t.add_row("total", mb(fp["disk_total"]), mb(fp["memory_total"]), mb(fp["mapped_total"]), f"{fp['segments']} segments")
    out.print(t)


def _esc(s: str) -> str:
    from rich.markup import escape

    from ..data.textsafe import printable

    return escape(printable(s))
