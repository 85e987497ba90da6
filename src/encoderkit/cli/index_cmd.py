"""``encoderkit index`` and ``encoderkit info``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, plain, print_json, quiet_env, ray_output
from .options import json_option, quiet_option, ray_option
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
    gpus_per_worker: float = typer.Option(
        0.0, "--gpus-per-worker", min=0.0, help="With --ray: GPUs each encoding actor requests (0.5: two per GPU) [0: CPUs]."
    ),
    encode_precision: Optional[str] = typer.Option(
        None,
        "--encode-precision",
        help="Precision chunks are encoded at: auto | fp32 | bf16 | int8 [new index: auto; an existing one keeps its "
        "own]. Anything but fp32 must pass a quality gate first (mean cosine to fp32 >= 0.99, nDCG@10 drop <= 0.005 "
        "on a dev set), else it is refused with the measured figures; auto picks the fastest that passes (fp32 when "
        "none does). Changing it re-encodes every chunk.",
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
    set_: Optional[List[str]] = typer.Option(
        None,
        "--set",
        help="NAME.key=value setting of a retriever (repeat), e.g. dense.kind=hnsw, bm25.k1=0.9, colbert.nbits=4; "
        "the named options above are aliases of it. Existing index: settings left out keep their values.",
    ),
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
    max_chunks_per_file: int = typer.Option(
        5000, min=1, help="Skip a file that would make more chunks than this (about; counted with the model's tokenizer)."
    ),
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
    as_json: bool = json_option("Print the run report as JSON."),
    quiet: bool = quiet_option(),
):
    """Index files and folders (incremental: unchanged files are not re-encoded).

    On an existing index, options left out keep the index's settings; changing the model, pooling or
    chunking needs --rebuild (the old version stays searchable until the rebuild commits).
    """
    quiet_env(quiet or as_json)
    if repair:
        return _repair(index_dir, paths, as_json)
    from ..index.build import IndexRequest, build_index, check_request, parse_settings, retriever_settings

    aliases = dict(
        bm25_method=bm25_method,
        k1=k1,
        b=b,
        stem=stem,
        stopwords=stopwords,
        dense=dense,
        vectors=vectors,
        rescore=rescore,
        nprobe=nprobe,
        ef_search=ef_search,
        colbert_model=colbert_model,
        colbert_nbits=colbert_nbits,
        colbert_pool_factor=colbert_pool_factor,
    )  # fmt: skip  (the named options that are aliases of --set NAME.key=value: index.build.SETTING_ALIASES)
    ann_settings = parse_settings(annotator_setting or [], "--annotator-setting")
    for name, model_dir in (("classify", classify), ("entities", extract)):
        if model_dir:
            ann_settings.setdefault(name, {})["model"] = model_dir
    req = IndexRequest(
        index_dir, list(paths or []), model=model, pooling=pooling, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
        titles=titles, retrievers=[r.strip() for r in retrievers.split(",") if r.strip()] if retrievers else None,
        settings=retriever_settings(aliases, set_ or []), annotators=list(annotator) if annotator else None,
        annotator_settings=ann_settings, shards=shards, add_shard=add_shard, rebuild=rebuild, recluster=recluster,
        auto_merge=auto_merge, encode_precision=encode_precision, gate_data=gate_data, gate_split=gate_split,
        max_bytes=int(max_file_mb * 2**20), time_limit=file_timeout, export_onnx=onnx, allow_missing=allow_missing,
        max_chunks=max_chunks_per_file,
    )  # fmt: skip
    check_request(req)
    with ray_output(ray is not None, quiet=quiet or as_json):  # Ray's own lines never mix into this command's output
        req.remote = _connect_ray(ray, workers, gpus_per_worker, quiet=quiet or as_json)
        outcome = build_index(req, on_gate=None if as_json else _print_gate)
    if as_json:
        return print_json(_outcome_json(outcome))
    _print_outcome(outcome)


def _connect_ray(ray: Optional[str], workers: Optional[int], gpus_per_worker: float = 0.0, *, quiet: bool):
    from ..index.build import ray_encoding

    remote, info = ray_encoding(ray, workers, gpus_per_worker)
    if info is not None and not quiet:
        where = "a local Ray instance" if info.started_here else f"the Ray cluster at {info.address}"
        gpus = f", {info.gpus:g} GPUs" if info.gpus else ""
        line = f"encoding on {where}: {info.nodes} node(s), {info.cpus} CPUs{gpus}, {remote.n_workers()} workers"
        console().print(shown(line))
    return remote


def precision_line(p: dict) -> str:
    """What the run decided about the encode precision, with the figures it was decided on.

    >>> precision_line({"requested": "auto", "chosen": "fp32", "measured": [], "default": True, "note": "fp32: 2 dev queries"})
    'encode precision auto (the default for a new index): fp32: 2 dev queries'
    """
    how = "auto (the default for a new index)" if p.get("default") else p["requested"]
    if p.get("note"):
        return f"encode precision {how}: {p['note']}"
    chosen = next((g for g in p["measured"] if g["precision"] == p["chosen"]), None)
    if chosen is None:
        tried = ", ".join(f"{g['precision']} {'failed the gate' if not g['passed'] else 'no faster'}" for g in p["measured"])
        return f"encode precision {how}: fp32 ({tried or 'nothing to try'}); {p.get('seconds', 0):.1f} s"
    return (
        f"encode precision {how}: {p['chosen']}, {chosen['speedup']:.2f}x fp32 speed; mean cosine to fp32 "
        f"{chosen['mean_cosine']:.4f}, top-10 agreement {chosen.get('top10_agreement', float('nan')):.2f}, nDCG@10 drop "
        f"{chosen['ndcg_drop']:+.4f} on {chosen['dev_queries']} queries from these documents; {p.get('seconds', 0):.1f} s"
        + (" (--encode-precision fp32 to keep fp32)" if p.get("default") else "")
    )


def _print_gate(g: dict) -> None:
    console().print(
        shown(
            f"quality gate {g['precision']}: mean cosine {g['mean_cosine']:.4f}, nDCG@10 drop {g['ndcg_drop']:+.4f} "
            f"({g['dev_queries']} dev queries), {g['speedup']:.2f}x fp32 speed -> " + ("passed" if g["passed"] else "failed")
        )
    )


def fusion_line(rule: dict) -> str:
    """What the run decided about fusion, with the figures it was decided on.

    >>> scores = {"chosen": 0.8, "bm25": 0.6, "dense": 0.75}
    >>> fusion_line({"method": "weighted", "weights": {"bm25": 0.3, "dense": 0.7}, "source": "calibrated",
    ...   "figures": {"queries": 128, "seconds": 3.2, "ndcg@10": scores}})  # doctest: +NORMALIZE_WHITESPACE
    'fusion calibrated on 128 pseudo-queries of these documents in 3.2 s: weighted (bm25 0.3, dense 0.7);
     their nDCG@10 0.800 (bm25 0.600, dense 0.750)'
    """
    from ..retrieval.fusion_rule import FusionRule

    r = FusionRule.from_dict(rule)
    f = r.figures
    if r.source != "calibrated":
        return f"fusion {r.describe()} ({f.get('note', r.source)})"
    others = ", ".join(f"{k} {v:.3f}" for k, v in f["ndcg@10"].items() if k != "chosen")
    return (
        f"fusion calibrated on {f['queries']} pseudo-queries of these documents in {f['seconds']:.1f} s: {r.describe()}; "
        f"their nDCG@10 {f['ndcg@10']['chosen']:.3f} ({others})"
    )


def fusion_info(manifest: dict) -> str:
    """The ``fusion`` line of ``info``: the rule a search uses when it names none, and where it came from.

    >>> fusion_info({"retrievers": [{"name": "bm25"}, {"name": "dense"}]})[:60]
    'fusion     rrf (bm25 1, dense 1): the fixed default (not cal'
    """
    from ..index.calibrate import stored_rule
    from ..retrieval.options import SearchOptions
    from ..retrieval.pipeline import fusion_rule_for

    names = [r["name"] for r in manifest.get("retrievers") or []]
    if len(names) < 2:
        return "fusion     none (one retriever)"
    rule = stored_rule(manifest)
    if rule is None:
        fixed = fusion_rule_for(SearchOptions(), names).describe()
        return (
            f"fusion     {fixed}: the fixed default (not calibrated: built before calibration existed; "
            "`encoderkit tune fusion --index DIR` calibrates it)"
        )
    f = rule.figures
    if rule.source == "calibrated":
        scores = ", ".join(f"{k} {v:.3f}" for k, v in f.get("ndcg@10", {}).items())
        return (
            f"fusion     {rule.describe()}: calibrated on {f.get('queries')} pseudo-queries of its documents "
            f"(generation {f.get('generation')}, {f.get('chunks')} chunks, {f.get('seconds')} s; nDCG@10 {scores}); "
            "--fusion/--weights override it"
        )
    if rule.source == "tuned":
        ci = f.get("gain_ci95") or [0, 0]
        return (
            f"fusion     {rule.describe()}: tuned on {f.get('queries')} labelled queries (cross-validated nDCG@10 "
            f"{f.get('cv_ndcg@10')}, gain {f.get('gain', 0):+.4f}, 95% CI [{ci[0]:+.4f}, {ci[1]:+.4f}]); "
            "--fusion/--weights override it"
        )
    return f"fusion     {rule.describe()}: {f.get('note', rule.source)}"


def _outcome_json(outcome) -> dict:
    if outcome.sharded:
        per_shard = outcome.documents_per_shard
        out = {"index": str(outcome.index_dir), "shards": len(per_shard), **outcome.totals(), "documents_per_shard": per_shard}
        return {**out, "fusion": outcome.fusion} if outcome.fusion else out
    report = outcome.report
    out = {
        "index": str(outcome.index_dir),
        **report.to_dict(),
        "totals": outcome.stats,
        "query_backend": report.query_backend or "torch",
    }
    return {**out, "fusion": outcome.fusion} if outcome.fusion else out


def _print_outcome(outcome) -> None:
    out = console()
    if outcome.sharded:
        per_shard = outcome.documents_per_shard
        out.print(shown(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in outcome.totals().items())))
        out.print(shown(f"{len(per_shard)} shards: " + ", ".join(f"{n} {c} documents" for n, c in per_shard.items())))
        for name, report in outcome.shard_reports.items():
            for warning in report.warnings:
                out.print(f"[yellow]warning ({name}):[/] ", shown(warning))
        if outcome.fusion:
            out.print(shown(fusion_line(outcome.fusion)))
        return
    if outcome.precision is not None:
        out.print(shown(precision_line(outcome.precision)))
    _print_report(outcome.report, outcome.stats)
    if outcome.encoding:
        out.print(shown(outcome.encoding))
    if outcome.fusion:
        out.print(shown(fusion_line(outcome.fusion)))
    for warning in outcome.report.warnings:
        out.print("[yellow]warning:[/] ", shown(warning))
    drift = (outcome.retriever_stats.get("colbert") or {}).get("drift") or {}
    if drift.get("recluster_recommended"):
        out.print(
            f"[yellow]colbert: the centroids fit the data added since they were trained {drift['drift']:.0%} worse; "
            "run again with --recluster[/]"
        )


def _repair(index_dir: Path, paths, as_json: bool) -> None:
    from ..index.dispatch import repair_index

    if paths:
        from ..errors import EncoderkitError

        raise EncoderkitError("--repair takes no PATHS", hint="run --repair alone, then index PATHS as usual")
    reports = repair_index(index_dir)
    if as_json:
        return print_json(reports[0].to_dict() if len(reports) == 1 else {"shards": [r.to_dict() for r in reports]})
    out = console()
    for r in reports:
        where = f"{Path(r.index).name}: " if len(reports) > 1 else ""
        if r.manifest_recovered:
            out.print(shown(f"{where}manifest.json rewritten from the copy kept in index.db"))
        for p in r.problems:
            out.print(shown(f"{where}found: {p}"))
        filled = f", {r.payloads_filled} missing payloads re-encoded" if r.payloads_filled else ", nothing re-encoded"
        out.print(
            shown(
                f"{where}repaired: generation {r.generation} rebuilt from the store "
                f"({r.documents} documents, {r.chunks} chunks{filled})"
            )
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
    as_json: bool = json_option("Print the manifest as JSON."),
):
    """Show what an index holds and how it was built (a sharded index: each shard)."""
    from ..index import Index
    from ..index.shards import is_sharded, read_shards

    folders = [index_dir / n for n in read_shards(index_dir)["shards"]] if is_sharded(index_dir) else [index_dir]
    described = []
    for folder in folders:
        with Index.open(folder, readonly=True) as idx:
            described.append((folder, idx.stats(), idx.manifest, idx.health(), idx.footprint()))
    if as_json:
        rows = [{"stats": st, "manifest": m, "health": h.to_dict(), "footprint": fp} for _, st, m, h, fp in described]
        return print_json(rows[0] if len(rows) == 1 else {"index": str(index_dir), "shards": rows})
    if len(described) > 1:
        console().print(f"[bold]{_esc(str(index_dir))}[/]  sharded: {len(described)} shards (documents routed by id)")
    for folder, stats, manifest, health, fp in described:
        _print_info(folder, stats, manifest, health, fp)


def _print_info(index_dir: Path, stats: dict, manifest: dict, health, fp: dict) -> None:
    out = console()
    out.print(
        f"[bold]{_esc(str(index_dir))}[/]  format v{manifest['format_version']}, generation {manifest['generation']}, "
        f"{stats['documents']} documents, {stats['chunks']} chunks in {stats['segments']} segments, "
        f"{stats['size_bytes'] / 2**20:.1f} MB"
    )
    for line in _model_lines(manifest):
        out.print(line)
    _print_retrievers(out, manifest)
    out.print(shown(fusion_info(manifest)))
    _print_footprint(out, fp)
    counts = stats.get("annotations") or {}
    for a in manifest.get("annotators") or []:
        out.print(f"{a['name']:<10} {_esc(plain(a['settings']))}  ({counts.get(a['name'], 0)} documents annotated)")
    out.print(f"updated    {manifest['updated_at']}")
    if health.ok:
        out.print(f"health     ok (cheap checks; `encoderkit verify --index {_esc(str(index_dir))}` checks every checksum)")
    else:
        from ..index.storage.integrity import repair_hint

        out.print("[red]health     DAMAGED[/] ", shown(f"{health.problems[0]}; {repair_hint(index_dir)}"))
    if manifest.get("upgraded_from"):
        out.print(f"[yellow]format {manifest['upgraded_from']} index: the next `encoderkit index` run migrates it in place[/]")


def _model_lines(m: dict) -> list[str]:
    """The model, chunking and encoder lines of ``info``."""
    model, ch = m["model"], m["chunking"]
    lines = [
        f"model      {_esc(model['name'])} ({_esc(model['revision'] or 'local')}), pooling "
        f"{model['pooling']}, dim {model['dim']}, max length {model['max_length']}, L2-normalised"
    ]
    titles = ch.get("titles", "auto" if ch.get("title_header", True) else "none")
    if ch["size"] == 0:
        lines.append(f"chunking   whole documents ({ch.get('whole_document_text', 'text')}), truncated by the encoder")
    else:
        lines.append(f"chunking   {ch['size']} tokens, overlap {ch['overlap']}, titles {titles}")
    precision = model.get("encode_precision") or "fp32"
    gate = model.get("quality_gate") or {}
    if precision != "fp32":
        lines.append(
            f"encoder    chunks encoded with the {precision} encoder; quality gate passed: mean cosine to fp32 "
            f"{gate.get('mean_cosine', 0):.4f}, nDCG@10 drop {gate.get('ndcg_drop', 0):+.4f} on {gate.get('dev_queries', 0)} "
            f"dev queries ({_esc(str(gate.get('dev_set', '?')))}), {gate.get('speedup', 0):.2f}x fp32 speed; queries fp32"
        )
    else:
        requested = (model.get("precision_choice") or {}).get("requested")
        note = " (auto: no faster encoder passed the quality gate)" if requested == "auto" else ""
        lines.append(f"encoder    fp32, nothing quantized{note}")
    return lines


def _print_retrievers(out, m: dict) -> None:
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
