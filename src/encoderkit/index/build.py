"""Build or update an index from files and folders, as ``encoderkit index`` asks: the one place that turns
a request (paths, model, chunking, retrievers and their settings, annotators, precision, shards, Ray)
into an update of a plain or a sharded index, and says what happened.

Retriever settings arrive as ``NAME.key=value`` strings (``--set dense.kind=hnsw``) and/or as the named
options the CLI has always had (:data:`SETTING_ALIASES`: ``--k1 0.9`` is ``--set bm25.k1=0.9``).

>>> parse_settings(["bm25.k1=0.9", "dense.kind=hnsw", "colbert.nbits=4"])
{'bm25': {'k1': 0.9}, 'dense': {'kind': 'hnsw'}, 'colbert': {'nbits': 4}}
>>> retriever_settings({"k1": 1.2, "stem": False, "vectors": "float32"}, ["bm25.b=0.5"])
{'bm25': {'b': 0.5, 'k1': 1.2, 'stemmer': None}, 'dense': {'quantization': 'none'}}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import EncoderkitError

# option name -> (retriever, setting, how the option's value becomes the setting's)
SETTING_ALIASES: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "bm25_method": ("bm25", "method", lambda v: v),
    "k1": ("bm25", "k1", lambda v: v),
    "b": ("bm25", "b", lambda v: v),
    "stem": ("bm25", "stemmer", lambda v: "english" if v else None),
    "stopwords": ("bm25", "stopwords", lambda v: "en" if v else None),
    "dense": ("dense", "kind", lambda v: v),
    "vectors": ("dense", "quantization", lambda v: {"float32": "none"}.get(v, v)),
    "rescore": ("dense", "rescore", lambda v: v),
    "nprobe": ("dense", "nprobe", lambda v: v),
    "ef_search": ("dense", "ef_search", lambda v: v),
    "colbert_model": ("colbert", "model", lambda v: v),
    "colbert_nbits": ("colbert", "nbits", lambda v: v),
    "colbert_pool_factor": ("colbert", "pool_factor", lambda v: v),
}


def parse_settings(specs: Sequence[str], option: str = "--set") -> dict[str, dict]:
    """``NAME.key=value`` strings -> {name: {key: value}} (values parsed as JSON when they are JSON)."""
    out: dict[str, dict] = {}
    for spec in specs or ():
        name, _, rest = spec.partition(".")
        key, eq, value = rest.partition("=")
        if not name or not key or not eq:
            raise EncoderkitError(f"bad {option} {spec!r}", hint="write NAME.key=value, e.g. dense.kind=hnsw")
        try:
            out.setdefault(name, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            out.setdefault(name, {})[key] = value
    return out


def retriever_settings(aliases: Mapping[str, Any], sets: Sequence[str] = ()) -> dict[str, dict]:
    """Per-retriever settings from ``--set`` strings and the named options (None = not given); a named
    option wins over a ``--set`` of the same setting."""
    out = parse_settings(sets)
    for option, value in aliases.items():
        if value is None:
            continue
        if option not in SETTING_ALIASES:
            raise EncoderkitError(f"unknown retriever option '{option}'", hint=f"known: {', '.join(SETTING_ALIASES)}")
        name, key, convert = SETTING_ALIASES[option]
        out.setdefault(name, {})[key] = convert(value)
    if "colbert" in out and "model" in out["colbert"]:
        from ..retrieval.colbert.retriever import record_model

        out["colbert"]["model"] = record_model(out["colbert"]["model"])
    return {name: dict(sorted(values.items())) for name, values in out.items()}


@dataclass
class IndexRequest:
    """What one ``encoderkit index`` run asks for. None leaves an existing index's setting as it is
    (a new index takes the default)."""

    index_dir: Path
    paths: list[Path] = field(default_factory=list)
    model: str | None = None
    pooling: str | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    titles: str | None = None
    retrievers: list[str] | None = None
    settings: dict[str, dict] = field(default_factory=dict)
    annotators: list[str] | None = None
    annotator_settings: dict[str, dict] = field(default_factory=dict)
    shards: int | None = None
    add_shard: bool = False
    rebuild: bool = False
    recluster: bool = False
    auto_merge: bool | None = None
    encode_precision: str | None = None
    gate_data: Path | None = None
    gate_split: str = "dev"
    max_bytes: int = 20 * 2**20
    time_limit: float = 60.0
    max_chunks: int | None = None  # per file; None: the library's default (index.write.encode.MAX_CHUNKS_PER_FILE)
    export_onnx: bool = True
    allow_missing: bool = False
    remote: Any = None  # a connected RayEncoding, or None


@dataclass
class IndexOutcome:
    """What an ``encoderkit index`` run did. Plain index: ``report``; sharded: ``shard_reports``."""

    index_dir: Path
    report: Any = None
    shard_reports: dict[str, Any] | None = None
    stats: dict = field(default_factory=dict)
    documents_per_shard: dict[str, int] = field(default_factory=dict)
    retriever_stats: dict = field(default_factory=dict)
    encoding: str | None = None
    precision: dict | None = None  # the quality gate's outcome when this run chose a precision
    fusion: dict | None = None  # the fusion rule this run calibrated (or kept), when it decided one

    @property
    def sharded(self) -> bool:
        return self.shard_reports is not None

    def totals(self) -> dict[str, int]:
        """Counts summed over the shards of a sharded index."""
        reports = (self.shard_reports or {}).values()
        keys = ("added", "updated", "unchanged", "removed", "chunks_encoded")
        return {k: sum(getattr(r, k) for r in reports) for k in keys}


def check_request(req: IndexRequest) -> None:
    """Errors a run must stop at before any file is read: nothing to index, missing paths, ColBERT
    settings for an index without ColBERT."""
    if not req.paths:
        raise EncoderkitError("no files or folders to index", hint="give PATHS, or --repair to fix a damaged index")
    missing = [str(p) for p in req.paths if not Path(p).exists() and not Path(p).is_symlink()]
    if missing and not req.allow_missing:
        raise EncoderkitError(
            f"{'path does' if len(missing) == 1 else 'paths do'} not exist: {', '.join(missing)}",
            hint="check the spelling, or pass --allow-missing to index the rest",
        )
    if "colbert" in req.settings:
        from .storage.manifest import MANIFEST, read_manifest, retriever_names

        have = retriever_names(read_manifest(req.index_dir)) if (Path(req.index_dir) / MANIFEST).exists() else []
        if "colbert" not in (req.retrievers if req.retrievers is not None else have):
            raise EncoderkitError(
                "--colbert-* options need the colbert retriever", hint="add it: --retrievers bm25,dense,colbert"
            )


def ray_encoding(address: str | None, workers: int | None, gpus_per_worker: float = 0.0):
    """The ``--ray`` / ``--workers`` choice as a connected RayEncoding (so a missing Ray or a wrong address
    fails before any file is read) with the cluster's description, or (None, None) for the local path."""
    if address is None:
        if workers is not None or gpus_per_worker:
            flag = "--workers" if workers is not None else "--gpus-per-worker"
            raise EncoderkitError(f"{flag} needs --ray", hint="add --ray (a local Ray cluster) or --ray ADDRESS")
        return None, None
    from .shards.ray_build import RayEncoding

    remote = RayEncoding(address, workers=workers, gpus_per_worker=gpus_per_worker, quiet=True)
    return remote, remote.connect()


def build_index(req: IndexRequest, *, on_gate: Callable[[dict], None] | None = None) -> IndexOutcome:
    """Run the update ``req`` describes on a plain or a sharded index. ``on_gate(measured)``: called with
    each precision the quality gate measured (for progress lines)."""
    from .shards.routing import is_sharded

    check_request(req)
    if req.shards is not None or req.add_shard or is_sharded(req.index_dir):
        return _build_sharded(req, on_gate)
    from .configure import open_for_update

    idx = open_for_update(
        req.index_dir,
        model=req.model,
        pooling=req.pooling,
        chunk_size=req.chunk_size,
        chunk_overlap=req.chunk_overlap,
        retrievers=req.retrievers,
        retriever_settings=req.settings,
        annotators=req.annotators,
        annotator_settings=req.annotator_settings,
        rebuild=req.rebuild,
        titles=req.titles,
    )
    outcome = IndexOutcome(Path(req.index_dir))
    if req.auto_merge is not None:
        idx.set_merge_policy(auto=req.auto_merge)
    new = is_new(idx)
    if req.encode_precision is not None or new:
        outcome.precision = apply_precision(idx, req, on_gate)
    with idx:
        outcome.report = idx.sync(
            req.paths,
            rebuild=req.rebuild,
            max_bytes=req.max_bytes,
            time_limit=req.time_limit,
            export_onnx=req.export_onnx,
            recluster=req.recluster,
            encode_with=req.remote,
            max_chunks=req.max_chunks,
        )
        outcome.fusion = _calibrate(idx, new, outcome.report.warnings)  # first: it writes the manifest
        outcome.stats = idx.stats()
        outcome.retriever_stats = (idx.manifest.get("build") or {}).get("retriever_stats") or {}
        outcome.encoding = encoding_summary(idx, outcome.report, req.remote)
    return outcome


def _calibrate(index, new: bool, warnings: list[str]) -> dict | None:
    """The index's fusion rule, (re)calibrated when this update calls for it (see index.calibrate). The
    update is committed by then: a failure here (a full disk) is a warning, never an error."""
    import sqlite3

    from .calibrate import maybe_calibrate

    try:
        rule = maybe_calibrate(index, new=new)
    except (OSError, sqlite3.Error, EncoderkitError) as exc:
        warnings.append(
            f"the update is committed, but calibrating its fusion failed ({type(exc).__name__}: {exc}); "
            f"searches keep the previous rule -- run `encoderkit tune fusion --index {index.path}` to try again"
        )
        return None
    return None if rule is None else rule.to_dict()


def _build_sharded(req: IndexRequest, on_gate: Callable[[dict], None] | None = None) -> IndexOutcome:
    """Create a sharded index (``shards``), add a shard, or update every shard."""
    from .shards.routing import is_sharded, read_shards
    from .shards.sharded import ShardedIndex
    from .storage.manifest import MANIFEST

    path = Path(req.index_dir)
    sharded = is_sharded(path)
    if req.rebuild and not sharded:
        raise EncoderkitError(f"no sharded index at '{path}' to rebuild", hint="create one with --shards N first")
    if not sharded and (path / MANIFEST).is_file():
        raise EncoderkitError(f"'{path}' is an ordinary index", hint="--shards and --add-shard need a sharded index")
    if not sharded and req.add_shard:
        raise EncoderkitError(f"no sharded index at '{path}'", hint="create one with --shards N first")
    if req.rebuild:  # every shard re-encoded with the (new) settings; documents stay in their shards
        from .configure import open_for_update

        names = read_shards(path)["shards"]
        opts = dict(model=req.model, chunk_size=req.chunk_size, chunk_overlap=req.chunk_overlap, retrievers=req.retrievers)
        six = ShardedIndex(
            path, [open_for_update(path / n, retriever_settings=req.settings, rebuild=True, **opts) for n in names], names
        )
    elif sharded:
        six = ShardedIndex.open(path)
        if req.shards is not None and req.shards != len(six.names):
            six.close()
            raise EncoderkitError(f"'{path}' already has its shards", hint="use --add-shard to add one")
    else:
        opts = {k: v for k, v in (("chunk_size", req.chunk_size), ("chunk_overlap", req.chunk_overlap)) if v is not None}
        if req.retrievers:
            opts["retrievers"] = req.retrievers
        six = ShardedIndex.create(path, req.shards, encoder=req.model or "default", retriever_settings=req.settings, **opts)
    outcome = IndexOutcome(path)
    with six:
        new = all(is_new(s) for s in six.shards)
        if req.add_shard:
            six.add_shard()
        outcome.precision = _shards_precision(six, req, on_gate)
        outcome.shard_reports = six.sync(
            req.paths,
            max_bytes=req.max_bytes,
            time_limit=req.time_limit,
            export_onnx=req.export_onnx,
            encode_with=req.remote,
            rebuild=req.rebuild,
            max_chunks=req.max_chunks,
        )
        outcome.documents_per_shard = {n: len(s) for n, s in zip(six.names, six.shards)}
        outcome.fusion = _calibrate(
            six, new, next(iter(outcome.shard_reports.values())).warnings if outcome.shard_reports else []
        )
        outcome.stats = six.stats()
    return outcome


def _shards_precision(six, req: IndexRequest, on_gate: Callable[[dict], None] | None) -> dict | None:
    """One encode precision for every shard (their scores must be comparable): decided on the first
    shard as :func:`apply_precision` decides it for a plain index, then given to the others (a shard
    added later gets the precision the index already has)."""
    first = six.shards[0]
    if not (req.encode_precision is not None or all(is_new(s) for s in six.shards)):
        decided = None
    else:
        decided = apply_precision(first, req, on_gate)
    model = first.manifest["model"]
    precision = model.get("encode_precision") or "fp32"
    for shard in six.shards[1:]:
        if (shard.manifest["model"].get("encode_precision") or "fp32") != precision:
            shard.set_encode_precision(precision, model.get("quality_gate"), choice=model.get("precision_choice"))
    return decided


def is_new(idx) -> bool:
    """An index nothing was committed to yet (its encode precision is still to be chosen)."""
    return int(idx.manifest.get("generation") or 0) == 0 and not int((idx.manifest.get("counts") or {}).get("chunks") or 0)


def apply_precision(idx, req: IndexRequest, on_gate: Callable[[dict], None] | None = None) -> dict | None:
    """Run the quality gate for ``req.encode_precision`` (unless the index already encodes at it) on a dev
    set (``req.gate_data``'s split, else an inverse-cloze set from the documents being indexed) and apply
    the result; returns {"requested", "chosen", "measured", "seconds", "default"} or None when nothing had
    to be decided. A new index with no precision asked for gets ``auto`` on a small sample
    (:data:`~encoderkit.index.precision_gate.DEFAULT_GATE_QUERIES` dev queries: a few seconds), and keeps
    fp32 when the documents are too few to measure on or the index has no dense retriever."""
    from ..data.files.sources import SourceDoc, walk
    from . import precision_gate
    from .precision_gate import DEFAULT_GATE_QUERIES, MIN_GATE_QUERIES, beir_dev_set, choose_precision, ict_dev_set

    model = idx.manifest["model"]
    default = req.encode_precision is None
    requested = "auto" if default else req.encode_precision
    current = model.get("encode_precision") or "fp32"
    if requested == current or (requested == "auto" and (model.get("precision_choice") or {}).get("requested") == "auto"):
        return None
    if default and "dense" not in idx.retrievers:
        return None
    t0 = time.perf_counter()
    if req.gate_data is not None:
        dev = beir_dev_set(req.gate_data, req.gate_split)
    else:
        texts = []
        for item in walk(req.paths):
            if isinstance(item, SourceDoc):
                texts.append(item.text)
                if len(texts) >= 1000:
                    break
        if default and len(texts) < 1000 and sum(map(len, texts)) < precision_gate.SMALL_CORPUS_CHARS:
            note = (
                f"fp32: {len(texts)} documents ({sum(map(len, texts)):,} characters) encode in about the time that "
                "measuring a faster encoder would take (--encode-precision auto measures anyway)"
            )
            return _keep_fp32(idx, note)
        dev = ict_dev_set(texts, max_queries=DEFAULT_GATE_QUERIES if default else 200)
    if default and len(dev.queries) < MIN_GATE_QUERIES:
        return _keep_fp32(idx, f"fp32: {len(dev.queries)} dev queries in these documents, too few to measure a faster encoder on")
    chosen, gate, measured = choose_precision(model, requested, dev, onnx=req.export_onnx)
    for g in measured:
        if on_gate is not None:
            on_gate(g)
    seconds = round(time.perf_counter() - t0, 2)
    choice = {"requested": requested, "default": default, "measured": measured, "seconds": seconds}
    idx.set_encode_precision(chosen, gate, choice=choice)
    return {"requested": requested, "chosen": chosen, "measured": measured, "seconds": seconds, "default": default}


def _keep_fp32(idx, note: str) -> dict:
    """The default's decision to keep fp32 without measuring, recorded with why."""
    choice = {"requested": "auto", "default": True, "measured": [], "note": note}
    idx.set_encode_precision("fp32", None, choice=choice)
    return {"requested": "auto", "chosen": "fp32", "measured": [], "seconds": 0.0, "default": True, "note": note}


def encoding_summary(idx, report, remote=None) -> str | None:
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
    device = str(getattr(getattr(getattr(enc, "backbone", None), "runner", None), "device", "cpu"))
    if device.startswith("cuda"):
        from ..runtime.devices import describe_device

        where = describe_device(device)
    else:
        where = f"{n_threads()} intra-op threads (one per core)"
    return (
        f"encoding  {precision} on {enc.backend}, {where}, token-budget batches of "
        f"{DOCUMENT_TOKEN_BUDGET} tokens: {n / seconds:.1f} chunks/s"
    )
