"""The index manifest: a JSON file that says what an index is and which generation is live.

Written atomically (temp file + fsync + rename); readers check ``format_version`` and refuse a newer
one with a clear message instead of misreading it. Format 1 manifests (one ``bm25`` and one ``dense``
section) are read as format 2 (a ``retrievers`` list) in memory; the next update writes format 2.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import EncoderkitError

FORMAT = "encoderkit-index"
FORMAT_VERSION = 2
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


def upgrade(manifest: dict) -> dict:
    """A format-1 manifest as format 2 (pure; format-2 manifests come back unchanged).

    >>> m = upgrade({"format_version": 1, "bm25": {"k1": 1.2}, "dense": {"kind": "flat"}})
    >>> [r["name"] for r in m["retrievers"]], m["format_version"], m["upgraded_from"], "bm25" in m
    (['bm25', 'dense'], 2, 1, False)
    """
    if manifest.get("format_version") != 1:
        return manifest
    m = {k: v for k, v in manifest.items() if k not in ("bm25", "dense")}
    m["retrievers"] = [
        {"name": "bm25", "settings": manifest.get("bm25") or {}},
        {"name": "dense", "settings": manifest.get("dense") or {}},
    ]
    m["format_version"] = FORMAT_VERSION
    m["upgraded_from"] = 1
    return m


def retriever_names(manifest: dict) -> list[str]:
    return [r["name"] for r in manifest.get("retrievers") or []]


def retriever_settings(manifest: dict, name: str) -> dict | None:
    for r in manifest.get("retrievers") or []:
        if r["name"] == name:
            return r.get("settings") or {}
    return None


def write_manifest(index_dir: Path, manifest: dict) -> None:
    manifest = {k: v for k, v in manifest.items() if k != "upgraded_from"}
    manifest.update(format=FORMAT, format_version=FORMAT_VERSION)
    atomic_write_text(Path(index_dir) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(index_dir: Path) -> dict:
    """Read and validate a manifest (upgraded to the current format in memory); every failure is an
    EncoderkitError naming the file."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not index_dir.exists():
        raise EncoderkitError(f"index '{index_dir}' does not exist", hint="build it with `encoderkit index PATH --index DIR`")
    if not path.is_file():
        raise EncoderkitError(
            f"'{index_dir}' is not an encoderkit index (no {MANIFEST})",
            hint="pass the folder given to `encoderkit index --index`",
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderkitError(
            f"{path} is corrupted ({type(exc).__name__})",
            hint="rebuild the index with `encoderkit index PATH --index DIR --rebuild`",
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EncoderkitError(f"{path} is not an encoderkit index manifest", hint="check the --index path")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise EncoderkitError(
            f"index '{index_dir}' has format version {version}, newer than this encoderkit understands ({FORMAT_VERSION})",
            hint="upgrade encoderkit (pip install -U encoderkit) or rebuild the index with this version",
        )
    if version < 1:
        raise EncoderkitError(f"index '{index_dir}' has unknown format version {version}", hint="rebuild it with --rebuild")
    return upgrade(manifest)
