"""Arrays written straight to disk, safely when the disk fills up.

A memory-mapped ``.npy`` opened for writing (``np.lib.format.open_memmap(mode="w+")``) is a sparse
file: its pages get disk blocks only when they are first written through the mapping, and when the file
system has none left the kernel kills the process with SIGBUS: no message, no cleanup. Reserving the
blocks first (``posix_fallocate``) turns that into an ordinary ``OSError(ENOSPC)`` before any page is
touched, which the index's I/O-error handling reports as "disk full" with nothing lost. Written here
because numpy has no reserving variant of ``open_memmap``.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.npy"
>>> out = reserved_memmap(path, np.float32, (2, 3)); out[:] = 1; out.flush(); del out
>>> float(np.load(path).sum())
6.0
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np


def reserved_memmap(path: str | Path, dtype, shape: tuple[int, ...]) -> np.memmap:
    """``np.lib.format.open_memmap(path, "w+", dtype, shape)`` with every block of the file reserved on disk
    first; ``OSError(ENOSPC, ..., path)`` (and no file left behind) when the disk cannot hold it."""
    path = Path(path)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    size = path.stat().st_size
    try:
        if size and hasattr(os, "posix_fallocate"):
            fd = os.open(path, os.O_RDWR)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
    except OSError as exc:
        del out
        path.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
            raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without fallocate: as before
            raise
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    return out
