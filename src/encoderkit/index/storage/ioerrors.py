"""Full disks and other I/O errors while writing an index, as one line a user can act on.

Nothing here undoes anything: the commit protocol already guarantees that a failed write leaves the
last committed generation intact (SQLite rolls the transaction back, a generation is built in a
temporary folder that is removed on failure, the manifest is replaced atomically), and every group
of chunks saved before the failure is reused by the next run. This module only turns
``sqlite3.OperationalError: database or disk is full`` and ``OSError: [Errno 28]`` into
"disk full writing PATH (X free, about Y needed)" plus what to do.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ...errors import EncoderkitError

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)
_IO = (errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM)
RESUME = "the index keeps its last committed state, and the next run resumes from the chunks already saved"


def human(n: float) -> str:
    """Bytes for people.

    >>> human(512), human(3 * 2**20), human(5.5 * 2**30)
    ('512 B', '3.0 MB', '5.5 GB')
    """
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def free_bytes(path: Path) -> int | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def disk_full(path: Path | str, needed: int | None) -> EncoderkitError:
    free = free_bytes(Path(path))
    parts = [f"{human(free)} free" if free is not None else None, f"about {human(needed)} needed" if needed else None]
    detail = ", ".join(p for p in parts if p)
    return EncoderkitError(
        f"disk full writing {path}" + (f" ({detail})" if detail else ""),
        hint=f"free some space (or move the index) and run the same command again: {RESUME}",
    )


def estimate_needed(index_dir: Path, manifest: dict, new_chunks: int = 0) -> int:
    """Rough bytes an update needs on disk: a new generation as large as the current one scaled to
    the new chunk count, plus the store's share for the new chunks."""
    chunks = int((manifest.get("counts") or {}).get("chunks") or 0)
    gen_bytes = sum(int(v.get("size", 0)) for v in ((manifest.get("integrity") or {}).get("files") or {}).values())
    db = Path(index_dir) / "index.db"
    db_bytes = db.stat().st_size if db.exists() else 0
    dim = int((manifest.get("model") or {}).get("dim") or 384)
    per_chunk_gen = gen_bytes / chunks if chunks and gen_bytes else 4 * dim + 600
    per_chunk_db = db_bytes / chunks if chunks and db_bytes else 4 * dim + 2500
    return int(per_chunk_gen * (chunks + new_chunks) + per_chunk_db * new_chunks) + (1 << 20)


@contextmanager
def io_errors(index_dir: Path, needed: Callable[[], int] | None = None):
    """Translate disk-full and I/O errors raised inside into one-line EncoderkitErrors."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        msg = str(exc)
        db = Path(index_dir) / "index.db"
        if "full" in msg:
            raise disk_full(db, _safe(needed)) from None
        if "I/O" in msg or "readonly" in msg or "read-only" in msg:
            raise EncoderkitError(f"cannot write {db} ({msg})", hint=f"check the disk and its permissions; {RESUME}") from None
        raise
    except OSError as exc:
        where = exc.filename or index_dir
        if exc.errno in _FULL or short_write(exc):
            raise disk_full(where, _safe(needed)) from None
        if exc.errno in _IO:
            raise EncoderkitError(
                f"cannot write {where} ({exc.strerror or exc})", hint=f"check the disk and its permissions; {RESUME}"
            ) from None
        raise


def short_write(exc: OSError) -> bool:
    """numpy's ``tofile`` (under ``np.save``) reports a disk that filled up mid-write as an OSError without
    an errno: "N requested and M written".

    >>> short_write(OSError("4096 requested and 512 written")), short_write(OSError(5, "Input/output error"))
    (True, False)
    """
    return exc.errno is None and " requested and " in str(exc) and str(exc).rstrip().endswith("written")


def io_problem(exc: BaseException) -> str:
    """A few words on an I/O failure for a warning ("disk full", "I/O error", ...).

    >>> io_problem(OSError(28, "No space left on device")), io_problem(OSError("8 requested and 0 written"))
    ('disk full', 'disk full')
    """
    if isinstance(exc, sqlite3.Error):
        return "disk full" if "full" in str(exc) else f"database error: {exc}"
    if isinstance(exc, OSError) and (exc.errno in _FULL or short_write(exc)):
        return "disk full"
    return f"{getattr(exc, 'strerror', None) or exc}"


def _safe(needed: Callable[[], int] | None) -> int | None:
    try:
        return needed() if needed else None
    except Exception:  # an estimate must never mask the real error
        return None
