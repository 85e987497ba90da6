"""Damage detection for a committed generation: what the manifest promises, checked against the disk.

At commit, every file a generation searches is recorded in the manifest (``integrity``: size and
sha256 per file, relative to the index folder for segments — ``seg-000003/dense/vectors.npy`` — and to
``gen-XXXXXX/`` for indexes from before segments) next to the expected counts. Two levels:

- **cheap** (when a segment is first opened for search, and before ``encoderkit index`` says "up to
  date"): every recorded file present with its recorded size; each segment's ``chunk_ids`` /
  ``chunk_docs`` int64, 1-D, equal length = its chunk count, ids strictly increasing; its deletion
  marker in range; each retriever's own structural checks (:meth:`Retriever.verify`: shapes, dtypes,
  finite values, unit norms, index ranges — on large segments a sample of the vectors);
- **full** (``encoderkit verify``, and after a failed cheap check to say exactly what is wrong): the
  cheap checks plus every file's sha256, SQLite's ``quick_check``, and the store against the segments
  (the same live chunks and documents, every payload a rebuild needs).

A damaged index is repaired by rebuilding its segments from the store (:mod:`encoderkit.index.write.repair`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from .checksums import HASH, file_digest, record_artifacts  # noqa: F401  (re-exported)
from .migrate import has_data, pre_segment_folder


@dataclass
class Health:
    """The result of a check: ``problems`` is empty when the generation is healthy."""

    level: str
    generation: int
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "level": self.level,
            "generation": self.generation,
            "problems": self.problems,
            "checked_files": self.checked_files,
            "notes": self.notes,
        }


def repair_hint(index_dir: Path) -> str:
    return f"run `encoderkit index --index {index_dir} --repair` (rebuilds the search files from index.db, no re-encoding)"


def damaged_error(index_dir: Path, health: Health) -> EncoderkitError:
    """The one-line error for a damaged generation: the first problem, how many more, what to do."""
    more = (
        f" (+{len(health.problems) - 1} more; `encoderkit verify --index {index_dir}` lists them)"
        if len(health.problems) > 1
        else ""
    )
    return EncoderkitError(f"index '{index_dir}' is damaged: {health.problems[0]}{more}", hint=repair_hint(index_dir))


def check_recorded(base: Path, recorded: dict, health: Health, *, full: bool = False, only: str | None = None) -> None:
    """Recorded files (relative to ``base``; ``only``: those under that folder) present with their
    sizes and, with ``full``, their checksums."""
    base = Path(base)
    for rel, want in recorded.items():
        if only is not None and not rel.startswith(only + "/"):
            continue
        f = base / rel
        shown = rel if only is not None or not base.name.startswith("gen-") else f"{base.name}/{rel}"
        try:
            size = f.stat().st_size
        except OSError:
            health.problems.append(f"{shown} is missing")
            continue
        health.checked_files += 1
        if size != want.get("size"):
            health.problems.append(f"{shown} has {size} bytes, {want.get('size')} recorded (truncated or overwritten)")
        elif full and file_digest(f)[HASH] != want.get(HASH):
            health.problems.append(f"{shown} does not match its recorded checksum (overwritten)")


def check_files(index_dir: Path, manifest: dict, health: Health, *, full: bool = False) -> Path | None:
    """Recorded files present with their sizes (and, with ``full``, their checksums); returns the
    generation folder (pre-segment indexes) or the index folder, or None when a folder is missing."""
    recorded = (manifest.get("integrity") or {}).get("files")
    if pre_segment_folder(manifest):
        gen_dir = Path(index_dir) / pre_segment_folder(manifest)
        if not gen_dir.is_dir():
            health.problems.append(f"{gen_dir.name}/ is missing")
            return None
        if recorded is None:
            health.notes.append("made before checksums were recorded: structure checked only")
        check_recorded(gen_dir, recorded or {}, health, full=full)
        return gen_dir
    missing = [s["name"] for s in manifest.get("segments") or [] if not (Path(index_dir) / s["name"]).is_dir()]
    for name in missing:
        health.problems.append(f"{name}/ is missing")
    check_recorded(
        Path(index_dir), {k: v for k, v in (recorded or {}).items() if k.split("/", 1)[0] not in missing}, health, full=full
    )
    return None if missing else Path(index_dir)


def check_generation(index_dir: Path, manifest: dict, retrievers: Sequence = (), *, full: bool = False) -> Health:
    """Cheap (or, with ``full``, checksum) checks of the live generation's files. ``retrievers``:
    instances of the manifest's retrievers, for their own structural checks."""
    health = Health("full" if full else "cheap", int(manifest.get("generation") or 0))
    if manifest.get("segments"):
        if check_files(index_dir, manifest, health, full=full) is not None:
            recorded = (manifest.get("integrity") or {}).get("files") or {}
            for entry in manifest["segments"]:
                check_segment(Path(index_dir), entry, retrievers, health, recorded)
        return health
    if not pre_segment_folder(manifest):
        return health
    gen_dir = check_files(index_dir, manifest, health, full=full)
    if gen_dir is None:
        return health
    arrays = []
    for name in ("chunk_ids", "chunk_docs"):
        try:
            arrays.append(np.load(gen_dir / f"{name}.npy", allow_pickle=False))
        except (OSError, ValueError, EOFError) as exc:
            health.problems.append(f"{gen_dir.name}/{name}.npy cannot be read ({exc})")
    if len(arrays) < 2:
        return health
    found = chunk_array_problems(arrays[0], arrays[1], manifest.get("counts") or {})
    health.problems.extend(f"{gen_dir.name}/{p}" for p in found)
    if found:
        return health
    for r in retrievers:
        try:
            problems = r.verify(gen_dir / r.name, arrays[0])
        except Exception as exc:  # a retriever's reader failing on damaged bytes is a finding, not a crash
            problems = [f"cannot be read ({type(exc).__name__}: {exc})"]
        health.problems.extend(f"{gen_dir.name}/{r.name}: {p}" for p in problems)
    return health


SMALL_FILES = ("chunk_ids.npy", "chunk_docs.npy", "segment.json")  # checksummed by the cheap checks too


def checked_at_open(segment: str, entries: Sequence[dict], recorded: dict) -> list[str]:
    """The files of ``segment`` (relative to it) that its retrievers want checksummed at every open
    (:attr:`~encoderkit.retrieval.base.Retriever.checked_at_open`), among the recorded ones."""
    from ...retrieval.registry import get as get_retriever

    prefixes = [f"{e['name']}/{p}" for e in entries for p in getattr(get_retriever(e["name"]), "checked_at_open", ())]
    out = []
    for rel in recorded:
        seg, _, inner = rel.partition("/")
        if seg == segment and any(inner.startswith(p) for p in prefixes):
            out.append(inner)
    return sorted(out)


def check_segment(index_dir: Path, entry: dict, retrievers: Sequence, health: Health, recorded: dict | None = None) -> None:
    """One segment's chunk arrays, deletion marker (with the checksums of these small files) and each
    retriever's structural checks."""
    from .segments import SegmentEntry, read_deletes

    folder = Path(index_dir) / entry["name"]
    name = entry["name"]
    opened = checked_at_open(name, [{"name": r.name} for r in retrievers], recorded or {})
    for small in [*SMALL_FILES, *([entry["deletes"]] if entry.get("deletes") else []), *opened]:
        want = (recorded or {}).get(f"{name}/{small}")
        try:
            if want is not None and file_digest(folder / small)[HASH] != want.get(HASH):
                health.problems.append(f"{name}/{small} does not match its recorded checksum (overwritten)")
        except OSError:
            pass  # reported as missing by the file checks
    try:
        ids = np.load(folder / "chunk_ids.npy", allow_pickle=False)
        docs = np.load(folder / "chunk_docs.npy", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        health.problems.append(f"{name}: chunk arrays cannot be read ({exc})")
        return
    found = chunk_array_problems(ids, docs, {"chunks": entry.get("chunks"), "documents": entry.get("documents")})
    if not found and len(ids) and (int(ids[0]), int(ids[-1])) != (entry.get("first"), entry.get("last")):
        found = ["chunk ids do not match the manifest's range"]
    health.problems.extend(f"{name}/{p}" for p in found)
    if found:
        return
    try:
        read_deletes(folder, SegmentEntry.from_dict(entry))
    except (OSError, ValueError, EOFError) as exc:
        health.problems.append(f"{name}: deletion marker ({exc})")
    for r in retrievers:
        try:
            problems = r.verify(folder / r.name, ids)
        except Exception as exc:  # a retriever's reader failing on damaged bytes is a finding, not a crash
            problems = [f"cannot be read ({type(exc).__name__}: {exc})"]
        health.problems.extend(f"{name}/{r.name}: {p}" for p in problems)


def live_segment_chunks(index_dir: Path, manifest: dict) -> np.ndarray:
    """Every live chunk id of a segmented index, ascending (what the store must hold)."""
    from .segments import SegmentEntry, live_mask, read_deletes

    parts = []
    for entry in manifest.get("segments") or []:
        e = SegmentEntry.from_dict(entry)
        ids = np.load(Path(index_dir) / e.name / "chunk_ids.npy", allow_pickle=False)
        parts.append(ids[live_mask(e, read_deletes(Path(index_dir) / e.name, e))])
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def chunk_array_problems(ids: np.ndarray, docs: np.ndarray, counts: dict) -> list[str]:
    """What is wrong with a generation's chunk arrays given the manifest's counts ([] if nothing).

    >>> ok = np.array([3, 5, 9]), np.array([1, 1, 2])
    >>> chunk_array_problems(*ok, {"chunks": 3, "documents": 2})
    []
    >>> chunk_array_problems(ok[0], np.zeros(3, np.int64), {"chunks": 3, "documents": 2})
    ['chunk_docs.npy names 1 documents, 2 recorded']
    """
    n = counts.get("chunks")
    if ids.dtype != np.int64 or docs.dtype != np.int64 or ids.ndim != 1 or ids.shape != docs.shape:
        shapes = f"chunk_ids {ids.dtype}{list(ids.shape)} / chunk_docs {docs.dtype}{list(docs.shape)}"
        return [f"{shapes}: expected int64 vectors of one length"]
    if n is not None and len(ids) != n:
        return [f"{len(ids)} chunks in chunk_ids.npy, {n} recorded"]
    if len(ids) > 1 and not bool(np.all(np.diff(ids) > 0)):
        return ["chunk_ids.npy is not strictly increasing"]
    if counts.get("documents") is not None and len(ids) and len(np.unique(docs)) != counts["documents"]:
        return [f"chunk_docs.npy names {len(np.unique(docs))} documents, {counts['documents']} recorded"]
    return []


def check_store(store, manifest: dict, retrievers: Sequence, index_dir: Path, health: Health) -> None:
    """Full check of the SQLite store against the manifest and the generation's artifacts."""
    try:
        rows = store.conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        health.problems.append(f"index.db cannot be read ({exc})")
        return
    bad = [r[0] for r in rows if r[0] != "ok"]
    if bad:
        health.problems.append(f"index.db fails SQLite's quick_check ({bad[0]})")
        return
    gen = int(manifest.get("generation") or 0)
    docs, chunks = store.count_visible(gen)
    counts = manifest.get("counts") or {}
    if (docs, chunks) != (counts.get("documents"), counts.get("chunks")):
        health.problems.append(
            f"index.db holds {docs} documents / {chunks} chunks, the manifest {counts.get('documents')} / {counts.get('chunks')}"
        )
    if has_data(manifest):
        try:
            if manifest.get("segments"):
                ids = live_segment_chunks(index_dir, manifest)
            else:
                ids = np.load(Path(index_dir) / pre_segment_folder(manifest) / "chunk_ids.npy", allow_pickle=False)
            live = np.asarray([r["id"] for r in store.visible_chunks(gen)], dtype=np.int64)
            if ids.shape != live.shape or not np.array_equal(ids, live):
                health.problems.append("the segments and index.db disagree on the live chunks")
        except (OSError, ValueError, EOFError):
            pass  # reported by the file checks
    for r in retrievers:
        if r.encodes:
            missing = store.chunks_missing_payload(gen, r.name, r.payload_key())
            if missing:
                health.notes.append(f"{len(missing)} chunks have no stored {r.name} payload: a repair re-encodes only those")


def verify(index_dir: Path, manifest: dict, store, retrievers: Sequence) -> Health:
    """Everything: artifacts with checksums, and the store (see the module docstring)."""
    health = check_generation(index_dir, manifest, retrievers, full=True)
    check_store(store, manifest, retrievers, index_dir, health)
    return health
