"""Commits of a segmented index: what an update, a full build and a merge write, and the switch.

The protocol (crash-safe at every step, kill -9 included):

1. rows for generation T = G+1 are in the store (pending: invisible at G);
2. new segment folders are written (temporary folder, fsync, rename) and deletion markers of older
   segments as new files (temporary file, fsync, rename) — nothing G uses is touched;
3. ``leases/gen-T.json`` records T's files, then ``manifest.json`` switches to T (atomic rename).
   Until this rename, G is what every reader sees; after it, T;
4. the manifest's copy goes into the store, rows no reader can see any more are purged, and files no
   reader holds are deleted (:mod:`encoderkit.index.storage.leases`).

An update costs what it changes: one new segment for the chunks it added, one new deletion marker per
segment it deleted from. A full build (new settings, a new retriever, a migration, a repair) writes
every live chunk into fresh segments of at most ``flush_chunks`` chunks.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...retrieval.base import ChunkSet
from ..storage.ioerrors import io_problem
from ..storage.leases import collect, write_lease
from ..storage.manifest import read_manifest, write_manifest
from ..storage.migrate import without_pre_segment
from ..storage.segments import (
    SegmentEntry,
    Written,
    build_segment,
    load_parts,
    merge_into,
    read_deletes,
    segment_stats,
    write_deletes,
)
from ..storage.store import Store

FLUSH_CHUNKS = 100_000  # chunks per segment written by a full build (bounded memory while building)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Change:
    """What a commit did to the segment list."""

    added: list[str] = field(default_factory=list)
    deleted_chunks: int = 0
    merged: list[list[str]] = field(default_factory=list)
    retriever_bytes: dict = field(default_factory=dict)


class ChunkReader:
    """Chunks of the store as retrievers see them (texts; payloads for encoding retrievers), by id range."""

    def __init__(self, store: Store):
        self.store = store

    def chunk_set(self, retriever, ids: np.ndarray, docs: np.ndarray | None = None, texts: list[str] | None = None) -> ChunkSet:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return ChunkSet(ids, np.zeros(0, np.int64), [], [] if retriever is not None and retriever.encodes else None)
        if texts is None or docs is None:
            rows = self.store.texts_between(int(ids[0]), int(ids[-1]))
            docs = np.asarray([rows[int(c)][0] for c in ids], dtype=np.int64)
            texts = [rows[int(c)][1] for c in ids]
        if retriever is None or not retriever.encodes:
            return ChunkSet(ids, docs, texts)
        key = retriever.payload_key()
        found = self.store.payloads_between(retriever.name, int(ids[0]), int(ids[-1]))
        missing = [int(c) for c in ids if int(c) not in found or found[int(c)][0] != key]
        if missing:
            raise RuntimeError(f"{len(missing)} chunks have no {retriever.name} payload (first: chunk {missing[0]})")
        return ChunkSet(ids, docs, texts, [found[int(c)][1] for c in ids])


def _batches(store: Store, gen: int, added_at: int | None, flush_chunks: int, after: int = 0, upto: int | None = None):
    while True:
        rows = store.chunk_rows(gen, added_at=added_at, after=after, limit=flush_chunks)
        if upto is not None:
            rows = [r for r in rows if r[0] <= upto]
        if not rows:
            return
        yield rows
        after = rows[-1][0]
        if len(rows) < flush_chunks:
            return


def write_new_segments(
    store: Store,
    index_dir: Path,
    gen: int,
    retrievers: Sequence,
    next_segment: int,
    *,
    added_at: int | None,
    flush_chunks: int,
    after: int = 0,
    upto: int | None = None,
) -> list[Written]:
    """Segments for the chunks visible at ``gen`` (only those of documents added at ``added_at`` when given;
    only chunk ids in (``after``, ``upto``] when given)."""
    reader = ChunkReader(store)
    out = []
    for rows in _batches(store, gen, added_at, flush_chunks, after, upto):
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        docs = np.asarray([r[1] for r in rows], dtype=np.int64)
        texts = [r[2] for r in rows]
        view = lambda r, ids=ids, docs=docs, texts=texts: reader.chunk_set(r, ids, docs, texts)
        out.append(build_segment(index_dir, next_segment + len(out), view, retrievers))
    return out


def mark_deleted(
    index_dir: Path, entries: list[SegmentEntry], chunk_ids: Sequence[int], gen: int
) -> tuple[list[SegmentEntry], dict, int]:
    """New deletion markers for the segments holding ``chunk_ids``; returns (entries, their new
    integrity records, chunks marked)."""
    ids = np.asarray(sorted(chunk_ids), dtype=np.int64)
    out, files, marked = [], {}, 0
    for e in entries:
        if not len(ids) or e.last < int(ids[0]) or e.first > int(ids[-1]):
            out.append(e)
            continue
        mine = ids[(ids >= e.first) & (ids <= e.last)]
        seg_ids = np.load(Path(index_dir) / e.name / "chunk_ids.npy", mmap_mode="r", allow_pickle=False)
        pos = np.searchsorted(seg_ids, mine)
        pos = pos[(pos < len(seg_ids)) & (np.asarray(seg_ids[np.minimum(pos, len(seg_ids) - 1)]) == mine)]
        if not len(pos):
            out.append(e)
            continue
        old = read_deletes(Path(index_dir) / e.name, e)
        union = np.union1d(old, pos.astype(np.int32)).astype(np.int32)
        marked += int(len(union) - len(old))
        new, rec = write_deletes(index_dir, e, union, gen)
        out.append(new)
        files.update(rec)
    return out, files, marked


def merge_segments(store: Store, index_dir: Path, group: Sequence[SegmentEntry], retrievers: Sequence, number: int) -> Written:
    """One new segment holding the live chunks of neighbouring segments ``group``."""
    parts = [load_parts(index_dir, e) for e in group]
    reader = ChunkReader(store)
    return merge_into(index_dir, number, parts, retrievers, lambda r, ids: reader.chunk_set(r, ids))


def integrity_files(manifest: dict) -> dict:
    return dict(((manifest.get("integrity") or {}).get("files")) or {})


def live_files(entries: Sequence[SegmentEntry], files: dict) -> dict:
    """The integrity records of exactly these segments' current files."""
    names = {e.name: e for e in entries}
    out = {}
    for rel, rec in files.items():
        seg, _, rest = rel.partition("/")
        e = names.get(seg)
        if e is None:
            continue
        if rest.startswith("del-") and rest != e.deletes:
            continue
        out[rel] = rec
    return out


def switch(
    index_dir: Path,
    store: Store,
    manifest: dict,
    entries: Sequence[SegmentEntry],
    files: dict,
    gen: int,
    before_collect=None,
    warnings: list[str] | None = None,
) -> dict:
    """Steps 3 and 4: lease file, manifest, store copy, purge, garbage collection. Returns the manifest
    as read back. ``before_collect(gen)``: lets this process's own readers drop older generations first.

    The manifest's atomic replacement is the commit. What follows it (the manifest's copy in the store,
    dropping what no reader holds) cannot undo the commit: an I/O error there (a disk that filled up just
    then) becomes a line in ``warnings`` instead of an error, so the caller reports a committed update
    as committed. Without ``warnings`` it is raised as before."""
    files = live_files(entries, files)
    manifest = without_pre_segment(manifest)
    manifest.update(
        generation=gen,
        segments=[e.to_dict() for e in entries],
        counts={"documents": manifest["counts"]["documents"], "chunks": sum(e.live for e in entries)},
        integrity={"algorithm": "sha256", "files": files},
        updated_at=now(),
    )
    write_lease(index_dir, gen, files)
    write_manifest(index_dir, manifest)  # the commit
    written = read_manifest(index_dir)
    try:
        store.save_manifest_copy(written)  # what `--repair` recovers a lost manifest from
        if before_collect is not None:
            before_collect(gen)
        _, oldest = collect(index_dir, files, gen)
        store.purge(oldest)
    except (OSError, sqlite3.Error) as exc:
        if warnings is None:
            raise
        warnings.append(
            f"generation {gen} is committed, but tidying up after it failed ({io_problem(exc)}); the next update "
            "or `encoderkit optimize` finishes it"
        )
    return written


def combined_stats(index_dir: Path, entries: Sequence[SegmentEntry], retrievers: Sequence) -> dict:
    """Each retriever's figures for the whole index (``Retriever.combine_stats`` over its segments)."""
    per = segment_stats(index_dir, entries)
    return {r.name: type(r).combine_stats(per.get(r.name, [])) for r in retrievers}


def segment_sizes(index_dir: Path, entries: Sequence[SegmentEntry]) -> dict:
    """Bytes on disk per retriever (and ``chunks``: the chunk arrays and markers) over these segments."""
    out: dict[str, int] = {}
    for e in entries:
        folder = Path(index_dir) / e.name
        for f in folder.rglob("*"):
            if not f.is_file():
                continue
            rel = f.relative_to(folder).parts
            key = rel[0] if len(rel) > 1 else "chunks"
            out[key] = out.get(key, 0) + f.stat().st_size
    return out
