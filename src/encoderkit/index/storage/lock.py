"""The writer lock: one process updates an index at a time (advisory ``flock`` on ``write.lock``)."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from ...errors import EncoderkitError

LOCK = "write.lock"


@contextmanager
def writer_lock(index_dir: Path):
    """Hold the index's writer lock for the duration; fail at once (no waiting) if another holds it."""
    fh = open(Path(index_dir) / LOCK, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise EncoderkitError(
            f"index '{index_dir}' is being updated by another process", hint="wait for it to finish, then run again"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
