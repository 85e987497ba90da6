"""Immutable segments: the search files of the chunks one update (or one merge) added.

An index's searchable state is a list of segments (``manifest.json``: ``segments``). A segment folder
``seg-XXXXXX/`` is written once, into a temporary folder that is fsynced and renamed, and never
changed afterwards:

- ``chunk_ids.npy`` (int64, strictly increasing) and ``chunk_docs.npy`` (their document row ids);
- ``segment.json`` (format, counts, the retrievers it holds);
- one folder per retriever (``bm25/`` postings, ``dense/`` vectors, ...), written by
  :meth:`Retriever.build` + :meth:`Retriever.save`, or by :meth:`Retriever.merge`;
- deletion markers ``del-GGGGGG.npy``: the positions (int32, ascending, cumulative) of the segment's
  chunks deleted as of generation G. A later deletion writes a new file; the manifest names the
  current one, so the segment's own files never change.

Segments are ordered by chunk id and only neighbours are merged, so concatenating the segments'
``chunk_ids`` always gives every chunk in ascending order.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...retrieval.base import ChunkSet, SegmentPart
from .checksums import file_digest, record_artifacts
from .manifest import fsync_dir

SEG_PREFIX = "seg-"
SEGMENT_FORMAT = 1


def seg_dirname(number: int) -> str:
    """Folder name of segment ``number``.

    >>> seg_dirname(12)
    'seg-000012'
    """
    return f"{SEG_PREFIX}{number:06d}"


def deletes_name(gen: int) -> str:
    """File name of a segment's deletion marker as of generation ``gen``.

    >>> deletes_name(7)
    'del-000007.npy'
    """
    return f"del-{gen:06d}.npy"


@dataclass
class SegmentEntry:
    """A segment as the manifest lists it."""

    name: str
    chunks: int  # chunks in the segment's files, deleted ones included
    documents: int
    deleted: int = 0
    deletes: str | None = None  # the current deletion marker file inside the folder
    first: int = 0  # smallest and largest chunk id: segments never overlap
    last: int = 0

    @property
    def live(self) -> int:
        return self.chunks - self.deleted

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "chunks", "documents", "deleted", "deletes", "first", "last")}

    @classmethod
    def from_dict(cls, d: dict) -> SegmentEntry:
        return cls(**{k: d[k] for k in ("name", "chunks", "documents", "deleted", "deletes", "first", "last") if k in d})


def entries_of(manifest: dict) -> list[SegmentEntry]:
    return [SegmentEntry.from_dict(s) for s in manifest.get("segments") or []]


def segment_files(entry: SegmentEntry, integrity: dict) -> list[str]:
    """Recorded files (relative to the index folder) that belong to a segment's current state."""
    prefix = entry.name + "/"
    return [f for f in integrity if f.startswith(prefix) and ("/del-" not in f or f == prefix + (entry.deletes or ""))]


@dataclass
class Written:
    """A segment just written: its manifest entry and its files' integrity records."""

    entry: SegmentEntry
    files: dict = field(default_factory=dict)
    retriever_bytes: dict = field(default_factory=dict)
    retriever_seconds: dict = field(default_factory=dict)


def _fsync_tree(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    for d in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(d)


def write_segment(
    index_dir: Path,
    number: int,
    ids: np.ndarray,
    docs: np.ndarray,
    retrievers: Sequence,
    fill: Callable[[object, Path], None],
) -> Written:
    """Write segment ``number`` holding chunks ``ids`` (ascending) of documents ``docs``: ``fill(r, folder)``
    writes retriever ``r``'s files into ``folder``. Temporary folder, fsync, rename; on any error the
    temporary folder is removed and nothing else changed."""
    index_dir = Path(index_dir)
    name = seg_dirname(number)
    final = index_dir / name
    tmp = index_dir / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / "chunk_ids.npy", np.asarray(ids, dtype=np.int64), allow_pickle=False)
        np.save(tmp / "chunk_docs.npy", np.asarray(docs, dtype=np.int64), allow_pickle=False)
        sizes, stats, seconds = {}, {}, {}
        for r in retrievers:
            t = time.perf_counter()
            fill(r, tmp / r.name)
            seconds[r.name] = time.perf_counter() - t
            (tmp / r.name).mkdir(exist_ok=True)
            sizes[r.name] = sum(f.stat().st_size for f in (tmp / r.name).rglob("*") if f.is_file())
            stats[r.name] = r.stats()
        n_docs = int(len(np.unique(docs))) if len(docs) else 0
        meta = {
            "format": SEGMENT_FORMAT,
            "chunks": int(len(ids)),
            "documents": n_docs,
            "retrievers": [r.name for r in retrievers],
            "stats": stats,
        }
        (tmp / "segment.json").write_text(json.dumps(meta) + "\n")
        _fsync_tree(tmp)
        files = {f"{name}/{rel}": rec for rel, rec in record_artifacts(tmp)["files"].items()}
        if final.exists():  # left by a crash after its rename, before the manifest listed it: never searched
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(index_dir)
    first, last = (int(ids[0]), int(ids[-1])) if len(ids) else (0, 0)
    return Written(SegmentEntry(name, int(len(ids)), n_docs, first=first, last=last), files, sizes, seconds)


def build_segment(index_dir: Path, number: int, chunks: ChunkSet | Callable[[object], ChunkSet], retrievers: Sequence) -> Written:
    """A new segment from chunks (each retriever builds from its own view: ``chunks(r)`` when callable)."""
    view = chunks if callable(chunks) else (lambda r: chunks)
    base = view(None)

    def fill(r, folder: Path) -> None:
        r.build(view(r))
        r.save(folder)

    return write_segment(index_dir, number, base.ids, base.docs, retrievers, fill)


def merge_into(
    index_dir: Path,
    number: int,
    parts: Sequence[LoadedParts],
    retrievers: Sequence,
    chunks: Callable[[object, np.ndarray], ChunkSet],
) -> Written:
    """A new segment holding the live chunks of ``parts`` (neighbouring segments, in order)."""
    ids = np.concatenate([p.chunk_ids[p.live_mask] for p in parts]) if parts else np.zeros(0, np.int64)
    docs = np.concatenate([p.chunk_docs[p.live_mask] for p in parts]) if parts else np.zeros(0, np.int64)

    def fill(r, folder: Path) -> None:
        seg_parts = [SegmentPart(p.folder / r.name, p.chunk_ids, None if p.deleted == 0 else p.live_mask) for p in parts]
        r.merge(seg_parts, folder, lambda: chunks(r, ids))

    return write_segment(index_dir, number, ids, docs, retrievers, fill)


@dataclass
class LoadedParts:
    """A segment's chunk arrays and live mask, read from its folder."""

    folder: Path
    chunk_ids: np.ndarray
    chunk_docs: np.ndarray
    live_mask: np.ndarray
    deleted: int


def segment_stats(index_dir: Path, entries: Sequence[SegmentEntry]) -> dict[str, list[dict]]:
    """Each retriever's :meth:`Retriever.stats` per segment, as written into ``segment.json``."""
    out: dict[str, list[dict]] = {}
    for e in entries:
        try:
            meta = json.loads((Path(index_dir) / e.name / "segment.json").read_text())
        except (OSError, ValueError):
            continue
        for name, st in (meta.get("stats") or {}).items():
            out.setdefault(name, []).append(st)
    return out


def read_deletes(folder: Path, entry: SegmentEntry) -> np.ndarray:
    """Deleted positions of a segment (empty when it has no marker)."""
    if not entry.deletes:
        return np.zeros(0, np.int32)
    pos = np.load(Path(folder) / entry.deletes, allow_pickle=False)
    if pos.dtype != np.int32 or pos.ndim != 1 or len(pos) != entry.deleted:
        raise ValueError(f"{entry.deletes} holds {len(pos)} positions, the manifest records {entry.deleted}")
    if len(pos) and (int(pos[0]) < 0 or int(pos[-1]) >= entry.chunks or bool(np.any(np.diff(pos) <= 0))):
        raise ValueError(f"{entry.deletes} has positions out of order or out of range")
    return pos


def live_mask(entry: SegmentEntry, deleted: np.ndarray) -> np.ndarray:
    mask = np.ones(entry.chunks, dtype=bool)
    mask[deleted] = False
    return mask


def load_parts(index_dir: Path, entry: SegmentEntry) -> LoadedParts:
    folder = Path(index_dir) / entry.name
    ids = np.load(folder / "chunk_ids.npy", allow_pickle=False)
    docs = np.load(folder / "chunk_docs.npy", allow_pickle=False)
    dels = read_deletes(folder, entry)
    return LoadedParts(folder, ids, docs, live_mask(entry, dels), int(len(dels)))


def write_deletes(index_dir: Path, entry: SegmentEntry, positions: np.ndarray, gen: int) -> tuple[SegmentEntry, dict]:
    """A new deletion marker for ``entry`` holding ``positions`` (all deleted positions, ascending);
    returns the updated entry and the marker's integrity record."""
    folder = Path(index_dir) / entry.name
    name = deletes_name(gen)
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(positions, dtype=np.int32), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    fsync_dir(folder)
    new = SegmentEntry(entry.name, entry.chunks, entry.documents, int(len(positions)), name, entry.first, entry.last)
    return new, {f"{entry.name}/{name}": file_digest(folder / name)}
