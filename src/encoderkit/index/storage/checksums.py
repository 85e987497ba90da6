"""Checksums of index files: size and sha256, read in blocks; what a commit records in the manifest.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "f"); open(path, "wb").write(b"abc")
3
>>> file_digest(path)["size"], file_digest(path)["sha256"][:8]
(3, 'ba7816bf')
"""

from __future__ import annotations

import hashlib
from pathlib import Path

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
