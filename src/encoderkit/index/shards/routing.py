"""A sharded index: N ordinary indexes (``shard-000/``, ``shard-001/``, ...) behind one folder, searched
as one. ``shards.json`` lists the shards (format, routing rule).

Routing is by document id and deterministic: a document already in a shard stays there (so updates and
deletes reach it), a new one goes to the shard that wins rendezvous hashing (highest
``sha256(shard name + NUL + id)``; Thaler & Ravishankar, 1998), which spreads documents evenly and, when
a shard is added, sends it only its share of *new* documents without moving old ones.

Search scatters to every shard and gathers exactly: each retriever's statistics (BM25 document
frequencies, document count and lengths) are summed over all shards before any shard scores, every
shard returns its top candidates in one id space (:mod:`encoderkit.index.shards.view`), and the
usual pipeline (fusion, reranking, one result per document) runs over the combined candidates, so the
results equal one index over the same documents.

>>> route("doc-1", ["shard-000", "shard-001"]) in ("shard-000", "shard-001")
True
>>> route("doc-1", ["shard-000", "shard-001"]) == route("doc-1", ["shard-001", "shard-000"])
True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from ...errors import EncoderkitError

SHARDS_FILE = "shards.json"
SHARDS_FORMAT = 1


def shard_name(i: int) -> str:
    """Folder name of shard ``i``.

    >>> shard_name(3)
    'shard-003'
    """
    return f"shard-{i:03d}"


def route(doc_id: str, shards: Sequence[str]) -> str:
    """The shard a new document goes to (rendezvous hashing over the shard names)."""
    if not shards:
        raise EncoderkitError("a sharded index needs at least one shard", hint="create it with --shards N")
    return max(shards, key=lambda s: hashlib.sha256(f"{s}\0{doc_id}".encode()).digest())


def is_sharded(path: str | Path) -> bool:
    return (Path(path) / SHARDS_FILE).is_file()


def read_shards(path: str | Path) -> dict:
    """``shards.json`` checked: format, a non-empty list of shard folders that exist."""
    path = Path(path)
    try:
        meta = json.loads((path / SHARDS_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise EncoderkitError(f"cannot read {path / SHARDS_FILE}: {exc}", hint="restore it from a backup") from None
    if meta.get("format") != SHARDS_FORMAT:
        raise EncoderkitError(f"{path / SHARDS_FILE} has format {meta.get('format')!r}", hint="upgrade encoderkit")
    names = meta.get("shards")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.startswith("shard-") for n in names):
        raise EncoderkitError(f"{path / SHARDS_FILE} lists no valid shards", hint="restore it from a backup")
    missing = [n for n in names if not (path / n).is_dir()]
    if missing:
        raise EncoderkitError(f"sharded index '{path}' is missing {', '.join(missing)}", hint="restore the shard folders")
    return meta


def write_shards(path: str | Path, names: Sequence[str]) -> None:
    """Write ``shards.json`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path / f".{SHARDS_FILE}.tmp-{os.getpid()}"
    data = {"format": SHARDS_FORMAT, "routing": "rendezvous-sha256", "shards": list(names)}
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data, indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path / SHARDS_FILE)
