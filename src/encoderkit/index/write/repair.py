"""``encoderkit index --repair``: rebuild the live generation's segments from the SQLite store.

The store holds every document, chunk and per-retriever payload (dense vectors, ...), so damaged,
missing or half-written segments are rebuilt without re-encoding anything (only chunks whose payload
is missing from the store are encoded again, and the report says how many). A lost, truncated or
malformed ``manifest.json`` is rewritten from the copy the store keeps of it at every commit.

Rows an unfinished update had written are moved one generation up first (:meth:`Store.defer_pending`),
so the repaired generation shows exactly the last committed state and the next update still resumes
them. The repair is itself a commit (fresh segments, then the manifest), so it is crash-safe too; the
damaged segments are never searched again and are deleted once no reader holds them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ... import __version__
from ...errors import EncoderkitError
from ...retrieval.base import IndexContext, SegmentPart
from ...retrieval.registry import get as get_retriever
from ..storage.integrity import Health, check_generation, check_store
from ..storage.ioerrors import estimate_needed, io_errors
from ..storage.lock import writer_lock
from ..storage.manifest import FORMAT_VERSION, manifest_problem, read_manifest
from ..storage.migrate import upgrade, without_pre_segment
from ..storage.model import load_index_encoder
from ..storage.segments import entries_of
from ..storage.store import Store
from .commit import FLUSH_CHUNKS, segment_sizes, switch, write_new_segments
from .encode import fill_missing_payloads
from .merge import MergePolicy

DB = "index.db"


@dataclass
class RepairReport:
    """What a repair found and did."""

    index: str
    generation_before: int = 0
    generation: int = 0
    problems: list[str] = field(default_factory=list)
    manifest_recovered: bool = False
    payloads_filled: int = 0
    deferred_rows: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _open_store(index_dir: Path) -> Store:
    db = index_dir / DB
    if not db.is_file():
        raise EncoderkitError(
            f"index '{index_dir}' has no {DB}: there is nothing to repair from",
            hint="build it again with `encoderkit index PATH --index DIR --rebuild`",
        )
    try:
        store = Store(db)
        store.check()
        bad = [r[0] for r in store.conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
    except sqlite3.DatabaseError as exc:
        bad = [str(exc)]
    if bad:
        raise EncoderkitError(
            f"{db} is damaged ({bad[0]}); the search files cannot be rebuilt from it",
            hint="rebuild the index from your files with `encoderkit index PATH --index DIR --rebuild`",
        )
    return store


def _manifest(index_dir: Path, store: Store, report: RepairReport) -> dict:
    try:
        return read_manifest(index_dir)
    except EncoderkitError as exc:
        copy = store.manifest_copy()
        if copy is None or manifest_problem(upgrade(copy)):
            raise EncoderkitError(
                f"cannot repair '{index_dir}': {exc.message}, and {DB} keeps no copy of the manifest "
                "(indexes made before encoderkit 0.3 do not)",
                hint="rebuild it with `encoderkit index PATH --index DIR --rebuild`",
            ) from None
        if isinstance(copy.get("format_version"), int) and copy["format_version"] > FORMAT_VERSION:
            raise EncoderkitError(
                f"index '{index_dir}' was written by a newer encoderkit (format {copy['format_version']})",
                hint="upgrade encoderkit (pip install -U encoderkit)",
            ) from None
        report.problems.append(exc.message)
        report.manifest_recovered = True
        return upgrade(copy)


def repair(index_dir: str | Path, *, show_progress: bool | None = None) -> RepairReport:
    """Rebuild the search artifacts (and, if needed, the manifest) of ``index_dir`` from its store."""
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise EncoderkitError(f"index '{index_dir}' does not exist", hint="build it with `encoderkit index PATH --index DIR`")
    report = RepairReport(str(index_dir))
    store = _open_store(index_dir)
    try:
        with writer_lock(index_dir), io_errors(index_dir, lambda: estimate_needed(index_dir, manifest)):
            manifest = _manifest(index_dir, store, report)
            gen = int(manifest["generation"])
            report.generation_before = gen
            ctx = IndexContext(index_dir, manifest, lambda: load_index_encoder(manifest, index_dir))
            retrievers = [get_retriever(e["name"])(e.get("settings") or {}, ctx) for e in manifest["retrievers"]]
            if not report.manifest_recovered:
                health = check_generation(index_dir, manifest, retrievers, full=True)
                check_store(store, manifest, retrievers, index_dir, health)
                report.problems.extend(health.problems)
            _migrate(store, manifest)
            report.deferred_rows = store.defer_pending(gen)
            report.payloads_filled = fill_missing_payloads(store, [r for r in retrievers if r.encodes], gen + 1)
            number = max([int(manifest.get("next_segment") or 1)] + [int(e.name[4:]) + 1 for e in entries_of(manifest)])
            written = _rewrite(store, index_dir, manifest, gen + 1, retrievers, number)
            _commit(index_dir, store, manifest, gen + 1, written, number, report)
    finally:
        store.close()
    report.seconds = time.perf_counter() - t0
    return report


def _rewrite(store: Store, index_dir: Path, manifest: dict, gen: int, retrievers: list, number: int) -> list:
    """Every live chunk into fresh segments, one run per old segment (its chunk-id range), each retriever
    first keeping what that segment holds when its files verify (ColBERT: its centroids), so a repair
    of a healthy index answers exactly as before; chunks outside every old range (a lost or stale
    manifest) come last."""
    written: list = []
    after = 0
    for e in sorted(entries_of(manifest), key=lambda e: e.first):
        for r in retrievers:
            r.keep_from(verified_parts(index_dir, manifest, r.name, only=e.name))
        written += write_new_segments(
            store, index_dir, gen, retrievers, number + len(written), added_at=None, flush_chunks=FLUSH_CHUNKS,
            after=after, upto=e.last,
        )  # fmt: skip
        after = max(after, e.last)
    for r in retrievers:
        r.keep_from(verified_parts(index_dir, manifest, r.name))
    written += write_new_segments(
        store, index_dir, gen, retrievers, number + len(written), added_at=None, flush_chunks=FLUSH_CHUNKS, after=after
    )
    return written


def verified_parts(index_dir: Path, manifest: dict, retriever: str, *, only: str | None = None) -> list[SegmentPart]:
    """The segments (``only``: that one) whose ``retriever`` files all match their recorded checksums, as
    merge parts."""
    from ..storage.integrity import HASH, file_digest

    recorded = (manifest.get("integrity") or {}).get("files") or {}
    out = []
    for e in entries_of(manifest):
        if only is not None and e.name != only:
            continue
        prefix = f"{e.name}/{retriever}/"
        files = {rel: rec for rel, rec in recorded.items() if rel.startswith(prefix)}
        try:
            sound = bool(files) and all(file_digest(Path(index_dir) / rel)[HASH] == rec.get(HASH) for rel, rec in files.items())
            if sound:
                ids = np.load(Path(index_dir) / e.name / "chunk_ids.npy", allow_pickle=False)
                out.append(SegmentPart(Path(index_dir) / e.name / retriever, ids))
        except (OSError, ValueError):
            continue
    return out


def _migrate(store: Store, manifest: dict) -> None:
    from ...retrieval.dense import payload_key

    store.migrate({manifest["settings_key"]: payload_key(manifest["model"])})


def _commit(index_dir: Path, store: Store, manifest: dict, gen: int, written: list, number: int, report: RepairReport) -> None:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    m = without_pre_segment(manifest)
    entries = [w.entry for w in written]
    files = {k: v for w in written for k, v in w.files.items()}
    build = dict(m.get("build") or {})
    build["last_repair"] = {
        "at": now,
        "problems": report.problems[:20],
        "manifest_recovered": report.manifest_recovered,
        "payloads_filled": report.payloads_filled,
    }
    build["retriever_bytes"] = segment_sizes(index_dir, entries)
    m.update(
        next_segment=number + len(written),
        encoderkit_version=__version__,
        merge_policy=MergePolicy.from_dict(m.get("merge_policy")).to_dict(),
        counts={"documents": store.count_documents(gen), "chunks": 0},
        build=build,
    )
    written_manifest = switch(index_dir, store, m, entries, files, gen)
    report.generation = gen
    report.documents = int(written_manifest["counts"]["documents"])
    report.chunks = int(written_manifest["counts"]["chunks"])


def health_of(
    index_dir: Path, manifest: dict, context: IndexContext, *, full: bool = False, store: Store | None = None
) -> Health:
    """The generation's health for `info` (cheap) and `verify` (full, with the store)."""
    retrievers = [get_retriever(e["name"])(e.get("settings") or {}, context) for e in manifest["retrievers"]]
    health = check_generation(index_dir, manifest, retrievers, full=full)
    if full and store is not None:
        check_store(store, manifest, retrievers, index_dir, health)
    return health
