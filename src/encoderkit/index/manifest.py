"""The index manifest: a JSON file that says what an index is and which generation is live.

Written atomically (temp file + fsync + rename); readers check ``format_version`` and refuse a newer
one with a clear message instead of misreading it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import EncoderkitError

FORMAT = "encoderkit-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never a partial one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(index_dir: Path, manifest: dict) -> None:
    manifest = dict(manifest, format=FORMAT, format_version=FORMAT_VERSION)
    atomic_write_text(Path(index_dir) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(index_dir: Path) -> dict:
    """Read and validate a manifest; every failure is an EncoderkitError naming the file."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not index_dir.exists():
        raise EncoderkitError(f"index '{index_dir}' does not exist", hint="build it with `encoderkit index PATH --index DIR`")
    if not path.is_file():
        raise EncoderkitError(f"'{index_dir}' is not an encoderkit index (no {MANIFEST})",
                              hint="pass the folder given to `encoderkit index --index`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderkitError(f"{path} is corrupted ({type(exc).__name__})",
                              hint="rebuild the index with `encoderkit index PATH --index DIR --rebuild`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EncoderkitError(f"{path} is not an encoderkit index manifest", hint="check the --index path")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise EncoderkitError(
            f"index '{index_dir}' has format version {version}, newer than this encoderkit understands ({FORMAT_VERSION})",
            hint="upgrade encoderkit (pip install -U encoderkit) or rebuild the index with this version")
    if version < 1:
        raise EncoderkitError(f"index '{index_dir}' has unknown format version {version}", hint="rebuild it with --rebuild")
    return manifest
