"""Stored vectors on disk: structural checks that read the file in blocks (never through a memory map,
so checking a large segment does not grow the process's resident memory), and releasing the pages of
a memory map that a search touched.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "v.npy")
>>> np.save(path, np.eye(2, dtype="float32"))
>>> vector_problems(path, 2, 2)
[]
>>> np.save(path, np.full((2, 2), np.nan, "float32")); vector_problems(path, 2, 2)
['vectors contain NaN or infinite values']
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

FULL_CHECK_BYTES = 64 << 20  # below this a "cheap" check still reads every vector
SAMPLE_BLOCKS = 32
ROWS = 4096


def npy_header(path: Path) -> tuple[tuple, np.dtype, bool, int]:
    """(shape, dtype, fortran order, data offset) of a .npy file; ValueError if it is not one."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        return shape, dtype, fortran, fh.tell()


def vector_problems(path: Path, n: int, dim: int, *, normalized: bool = True, sample: bool = False) -> list[str]:
    """What is wrong with a segment's stored vectors: not a float32 [n, dim] array, truncated, non-finite
    values, rows that are not unit length (the encoder L2-normalises; an all-zero row is allowed).
    ``sample``: for files over 64 MB read an even spread of blocks instead of every row (the open-time
    check; `encoderkit verify` reads everything and compares checksums)."""
    path = Path(path)
    try:
        shape, dtype, fortran, offset = npy_header(path)
    except (OSError, ValueError, SyntaxError) as exc:
        return [f"vectors.npy cannot be read ({exc})"]
    if dtype != np.float32 or len(shape) != 2 or fortran:
        return [f"vectors are {dtype}{list(shape)}, expected float32 [{n}, {dim}]"]
    if shape[0] != n:
        return [f"{shape[0]} vectors for {n} chunks"]
    if n and shape[1] != dim:
        return [f"vectors have dimension {shape[1]}, the model {dim}"]
    row = shape[1] * 4
    if path.stat().st_size < offset + n * row:
        return ["vectors.npy is truncated"]
    starts = range(0, n, ROWS)
    if sample and n * row > FULL_CHECK_BYTES:
        picks = np.unique(np.linspace(0, max(0, n - 1), SAMPLE_BLOCKS).astype(np.int64) // ROWS * ROWS)
        starts = picks.tolist()
    with open(path, "rb") as fh:
        for i in starts:
            count = min(ROWS, n - i)
            fh.seek(offset + i * row)
            part = np.fromfile(fh, dtype=np.float32, count=count * shape[1]).reshape(-1, shape[1]) if shape[1] else None
            if part is None:
                break
            if not np.isfinite(part).all():
                return ["vectors contain NaN or infinite values"]
            if normalized:
                sq = np.einsum("ij,ij->i", part, part)
                bad = (np.abs(sq - 1.0) > 1e-3) & (sq != 0.0)
                if bad.any():
                    r, norm = i + int(np.argmax(bad)), float(np.sqrt(sq[bad][0]))
                    return [f"vector of chunk row {r} has norm {norm:.4g}, not 1 (overwritten?)"]
    return []


def release_pages(array) -> None:
    """Drop a read-only memory map's pages from this process's resident set (MADV_DONTNEED: the data
    stays in the OS page cache and is mapped again on the next access). No-op for in-memory arrays."""
    mm = getattr(array, "_mmap", None)
    if mm is None:
        base = getattr(array, "base", None)
        while base is not None and mm is None:
            mm = getattr(base, "_mmap", None) if not isinstance(base, mmap.mmap) else base
            base = getattr(base, "base", None)
    if isinstance(mm, mmap.mmap) and hasattr(mm, "madvise"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass
