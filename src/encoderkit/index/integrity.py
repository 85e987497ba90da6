"""Damage detection for a committed generation: what the manifest promises, checked against the disk.

At commit, every artifact file of the new generation is recorded in the manifest (``integrity``:
size and sha256 per file, relative to ``gen-XXXXXX/``) next to the expected counts. Two levels:

- **cheap** (every time a generation is opened for search, and before ``encoderkit index`` says
  "up to date"): every recorded file present with its recorded size; ``chunk_ids``/``chunk_docs``
  int64, 1-D, equal length = chunk count, ids strictly increasing, as many distinct documents as
  counted; each retriever's own structural checks (:meth:`Retriever.verify`: shapes, dtypes, finite
  values, unit norms, index ranges);
- **full** (``encoderkit verify``, and after a failed cheap check to say exactly what is wrong): the
  cheap checks plus every file's sha256, SQLite's ``quick_check``, and the store against the artifacts
  (the same live chunks and documents, every payload a rebuild needs).

A damaged generation is repaired by rebuilding it from the store (:mod:`encoderkit.index.repair`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError

HASH = "sha256"


def file_digest(path: Path) -> dict:
    """{"size", "sha256"} of a file, read in blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return {"size": size, HASH: h.hexdigest()}


def record_artifacts(gen_dir: Path) -> dict:
    """The manifest's ``integrity`` entry for a generation folder: every file's size and hash."""
    gen_dir = Path(gen_dir)
    files = {str(f.relative_to(gen_dir)): file_digest(f) for f in sorted(gen_dir.rglob("*")) if f.is_file()}
    return {"algorithm": HASH, "files": files}


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


def check_files(index_dir: Path, manifest: dict, health: Health, *, full: bool = False) -> Path | None:
    """Recorded files present with their sizes (and, with ``full``, their checksums); returns the
    generation folder, or None when it is missing."""
    gen_dir = Path(index_dir) / manifest["artifacts"]
    if not gen_dir.is_dir():
        health.problems.append(f"{gen_dir.name}/ is missing")
        return None
    recorded = (manifest.get("integrity") or {}).get("files")
    if recorded is None:
        health.notes.append("made before checksums were recorded: structure checked only")
    for rel, want in (recorded or {}).items():
        f = gen_dir / rel
        try:
            size = f.stat().st_size
        except OSError:
            health.problems.append(f"{gen_dir.name}/{rel} is missing")
            continue
        health.checked_files += 1
        if size != want.get("size"):
            health.problems.append(
                f"{gen_dir.name}/{rel} has {size} bytes, {want.get('size')} recorded (truncated or overwritten)"
            )
        elif full and file_digest(f)[HASH] != want.get(HASH):
            health.problems.append(f"{gen_dir.name}/{rel} does not match its recorded checksum (overwritten)")
    return gen_dir


def check_generation(index_dir: Path, manifest: dict, retrievers: Sequence = (), *, full: bool = False) -> Health:
    """Cheap (or, with ``full``, checksum) checks of the live generation's artifacts. ``retrievers``:
    instances of the manifest's retrievers, for their own structural checks."""
    health = Health("full" if full else "cheap", int(manifest.get("generation") or 0))
    if not manifest.get("artifacts"):
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
    if manifest.get("artifacts"):
        try:
            ids = np.load(Path(index_dir) / manifest["artifacts"] / "chunk_ids.npy", allow_pickle=False)
            live = np.asarray([r["id"] for r in store.visible_chunks(gen)], dtype=np.int64)
            if ids.shape != live.shape or not np.array_equal(ids, live):
                health.problems.append("chunk_ids.npy and index.db disagree on the live chunks")
        except (OSError, ValueError, EOFError):
            pass  # reported by the artifact checks
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
