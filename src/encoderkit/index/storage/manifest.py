"""The index manifest: a JSON file that says what an index is and which generation is live.

Written atomically (temp file + fsync + rename); readers check ``format_version`` and refuse a newer
one with a clear message instead of misreading it. Format 3 lists the live generation's **segments**
(``segments``: name, chunk count, deleted count, current deletion marker, chunk id range) and the
merge policy. Formats 1 and 2 named one ``gen-XXXXXX`` folder (``artifacts``); format 1 manifests (one
``bm25`` and one ``dense`` section) are read as format 2 (a ``retrievers`` list) in memory. Both open
and search as they are, and the next update migrates them in place to format 3.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ...errors import EncoderkitError
from .migrate import pre_segment_problem, upgrade

FORMAT = "encoderkit-index"
FORMAT_VERSION = 3
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


def _repair_hint(index_dir: Path) -> str:
    if (Path(index_dir) / "index.db").is_file():
        return f"run `encoderkit index --index {index_dir} --repair` (rewrites it from the copy kept in index.db)"
    return "rebuild the index with `encoderkit index PATH --index DIR --rebuild`"


def read_manifest(index_dir: Path) -> dict:
    """Read and validate a manifest (upgraded to the current format in memory); every failure is an
    EncoderkitError naming the file and what to do."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not index_dir.exists():
        raise EncoderkitError(f"index '{index_dir}' does not exist", hint="build it with `encoderkit index PATH --index DIR`")
    if not path.is_file():
        if (index_dir / "index.db").is_file():
            raise EncoderkitError(f"index '{index_dir}' has lost its {MANIFEST}", hint=_repair_hint(index_dir))
        raise EncoderkitError(
            f"'{index_dir}' is not an encoderkit index (no {MANIFEST})",
            hint="pass the folder given to `encoderkit index --index`",
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EncoderkitError(f"{path} is corrupted ({type(exc).__name__})", hint=_repair_hint(index_dir)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EncoderkitError(f"{path} is not an encoderkit index manifest", hint=_repair_hint(index_dir))
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION:
        raise EncoderkitError(
            f"index '{index_dir}' has format version {version!r}, newer than this encoderkit understands ({FORMAT_VERSION})",
            hint="upgrade encoderkit (pip install -U encoderkit) or rebuild the index with this version",
        )
    if version < 1:
        raise EncoderkitError(f"index '{index_dir}' has unknown format version {version}", hint="rebuild it with --rebuild")
    manifest = upgrade(manifest)
    problem = manifest_problem(manifest)
    if problem:
        raise EncoderkitError(f"{path} is damaged: {problem}", hint=_repair_hint(index_dir))
    return manifest


_SEG_DIR = re.compile(r"seg-\d{6}")
_DELETES = re.compile(r"del-\d{6}\.npy")
_INT, _STR, _DICT, _LIST = "an integer", "a string", "an object", "a list"
_REQUIRED = {
    ("generation",): _INT,
    ("settings_key",): _STR,
    ("model",): _DICT,
    ("model", "name"): _STR,
    ("model", "fingerprint"): _STR,
    ("model", "pooling"): _STR,
    ("model", "max_length"): _INT,
    ("model", "dim"): _INT,
    ("chunking",): _DICT,
    ("chunking", "size"): _INT,
    ("chunking", "overlap"): _INT,
    ("retrievers",): _LIST,
    ("counts",): _DICT,
    ("counts", "documents"): _INT,
    ("counts", "chunks"): _INT,
}


def _is(value, kind: str) -> bool:
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, {_STR: str, _DICT: dict, _LIST: list}[kind])


def manifest_problem(m: dict) -> str | None:
    """The first thing wrong with a (format 2) manifest's structure, or None. Written by hand: a dozen
    type checks do not need a schema library.

    >>> manifest_problem({"generation": "3"})
    "'generation' should be an integer, not str"
    """
    for keys, kind in _REQUIRED.items():
        value, where = m, ""
        for k in keys:
            where = f"{where}.{k}" if where else k
            if not isinstance(value, dict) or k not in value:
                return f"'{where}' is missing"
            value = value[k]
        if not _is(value, kind):
            return f"'{where}' should be {kind}, not {type(value).__name__}"
    problem = pre_segment_problem(m)
    if problem:
        return problem
    segments = m.get("segments")
    if segments is not None:
        if not isinstance(segments, list):
            return "'segments' should be a list"
        for i, seg in enumerate(segments):
            problem = _segment_problem(seg)
            if problem:
                return f"'segments[{i}]' {problem}"
    for i, r in enumerate(m["retrievers"]):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not isinstance(r.get("settings", {}), dict):
            return f"'retrievers[{i}]' should be an object with a name and settings"
    if not m["retrievers"]:
        return "'retrievers' is empty"
    files = (m.get("integrity") or {}).get("files") if isinstance(m.get("integrity"), dict) else None
    if isinstance(files, dict) and any(".." in str(f).split("/") or str(f).startswith("/") for f in files):
        return "'integrity' names a file outside the index folder"
    if m.get("integrity") is not None and not isinstance(files, dict):
        return "'integrity' should hold a 'files' object"
    return None


def _segment_problem(seg) -> str | None:
    """What is wrong with one ``segments`` entry, or None.

    >>> ok = {"name": "seg-000001", "chunks": 3, "documents": 1, "deleted": 0, "deletes": None, "first": 1, "last": 3}
    >>> _segment_problem(ok)
    >>> _segment_problem({"name": "../x", "chunks": 3})
    'should name a seg-XXXXXX folder'
    """
    if not isinstance(seg, dict) or not isinstance(seg.get("name"), str) or not _SEG_DIR.fullmatch(seg["name"]):
        return "should name a seg-XXXXXX folder"
    for key in ("chunks", "documents", "deleted", "first", "last"):
        if not _is(seg.get(key), _INT):
            return f"'{key}' should be {_INT}"
    if seg["deleted"] > seg["chunks"] or seg["first"] > seg["last"]:
        return "has inconsistent counts"
    deletes = seg.get("deletes")
    if deletes is not None and (not isinstance(deletes, str) or not _DELETES.fullmatch(deletes)):
        return "'deletes' should name a del-XXXXXX.npy file"
    if (deletes is None) != (seg["deleted"] == 0):
        return "has deleted chunks without a deletion marker (or the reverse)"
    return None
