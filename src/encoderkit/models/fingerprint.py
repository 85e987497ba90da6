"""One fingerprint for every model kind: a short sha256 that changes whenever the outputs can change.

A model's fingerprint hashes its weight files; a head whose outputs also depend on files or settings
beside the transformer (a classifier's head and pooling, a ColBERT projection and markers) chains
those onto the weights' digest. Fingerprints name ONNX exports in the cache
(``<fingerprint>-<kind>[-int8]``), key index payloads and annotations, and are recorded in manifests,
so the digest of each kind must never change for the same files. Results are remembered per
(file, size, mtime), so a search process hashes a model's weights once.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "model.safetensors").write_bytes(b"w")
>>> a = fingerprint(d); b = fingerprint(d, settings=["mean", True])
>>> len(a), a == fingerprint(d), a != b
(16, True, True)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_MEMO: dict[tuple, str] = {}


def _stamp(f: Path) -> tuple:
    try:
        st = f.stat()
    except OSError:
        return (str(f), None)
    return (str(f), st.st_size, st.st_mtime_ns)


def _stream(h, f: Path) -> None:
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)


def fingerprint(
    folder: str | Path, *, files: Sequence[str] = WEIGHT_FILES, then: Sequence[Path] = (), settings: Any = None
) -> str:
    """16 hex digits: sha256 over ``files`` of ``folder`` that exist, in order (no weight file at all:
    the folder's ``*.safetensors`` or its config, so sharded layouts still get a stable identity); with
    ``then`` (files) or ``settings`` (any JSON value), sha256 of that digest followed by their bytes and
    the settings' sorted JSON."""
    folder = Path(folder)
    paths = [folder / name for name in files]
    extra = [Path(p) for p in then]
    key = (
        tuple(_stamp(p) for p in paths),
        tuple(_stamp(p) for p in extra),
        None if settings is None else json.dumps(settings, sort_keys=True),
    )
    if key in _MEMO:
        return _MEMO[key]
    h = hashlib.sha256()
    found = [p for p in paths if p.is_file()]
    for p in found:
        _stream(h, p)
    if not found:
        for p in sorted(folder.glob("*.safetensors")) or [folder / "config.json"]:
            if p.is_file():
                h.update(p.read_bytes())
    digest = h.hexdigest()[:16]
    if extra or settings is not None:
        chained = hashlib.sha256(digest.encode())
        for p in extra:
            if p.is_file():
                chained.update(p.read_bytes())
        if settings is not None:
            chained.update(key[2].encode())
        digest = chained.hexdigest()[:16]
    _MEMO[key] = digest
    return digest
