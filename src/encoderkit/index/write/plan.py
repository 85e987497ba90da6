"""How an index changes: what to re-encode, what to reuse, what to remove. Pure functions.

>>> from encoderkit.data.files.sources import SourceDoc
>>> p = plan_update([SourceDoc("a", "new text")], {"b"}, visible={}, pending={}, key="k")
>>> (p.added, p.removed, len(p.encode))
(1, 0, 1)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

from ...data.chunking import WHOLE_DOCUMENT_TEXT
from ...data.files.sources import SourceDoc

CHUNKER_VERSION = 1


@dataclass(frozen=True)
class ChunkSettings:
    """``size`` 0 means no chunking: one chunk per document (``title + " " + text``, the BEIR/MTEB
    protocol), truncated by the encoder. ``titles``: how chunks carry their document's title (see
    :func:`encoderkit.data.chunking.index_text`); ``title_header=False`` is the old spelling of "none"."""

    size: int = 256
    overlap: int = 32
    title_header: bool = True
    titles: str = "auto"

    @classmethod
    def from_dict(cls, d: dict) -> ChunkSettings:
        titles = d.get("titles", "auto") if d.get("title_header", True) else "none"
        return cls(d["size"], d["overlap"], d.get("title_header", True), titles)

    @property
    def title_mode(self) -> str:
        return self.titles if self.title_header else "none"

    def to_dict(self) -> dict:
        d = {
            "size": self.size,
            "overlap": self.overlap,
            "title_header": self.title_header,
            "split_headings": True,
            "tokenizer": "model",
            "chunker_version": CHUNKER_VERSION,
        }
        if self.title_mode != "auto":
            d["titles"] = self.title_mode
        if self.size == 0:  # recorded so that indexes built before the protocol was exact need a rebuild
            d["whole_document_text"] = WHOLE_DOCUMENT_TEXT if self.title_mode != "none" else "text"
        return d


def settings_key(model: dict, chunking: ChunkSettings) -> str:
    """Everything that changes stored chunks or vectors; rows with another key are never reused."""
    payload = {k: model[k] for k in ("fingerprint", "pooling", "max_length")}
    payload.update(chunking.to_dict(), normalize=True)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class UpdatePlan:
    encode: list[SourceDoc] = field(default_factory=list)  # new or changed: to chunk and encode
    keep_pending: set[int] = field(default_factory=set)  # rows encoded by an interrupted run, reused
    drop_pending: list[int] = field(default_factory=list)  # stale rows of an interrupted run
    remove_rows: list[int] = field(default_factory=list)  # visible rows that stop being visible
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    resumed: int = 0
    removed: int = 0

    @property
    def changes(self) -> bool:
        return bool(self.encode or self.keep_pending or self.remove_rows)


def plan_update(
    incoming: Sequence[SourceDoc], remove_ids: set[str], visible: dict, pending: dict, key: str, *, rebuild: bool = False
) -> UpdatePlan:
    """Diff incoming documents against what is visible (and pending from a crashed run).

    ``visible``: doc_id -> row; ``pending``: (doc_id, hash, settings_key) -> row id. Pure function.
    """
    plan = UpdatePlan()
    for doc in incoming:
        row = visible.get(doc.doc_id)
        same = row is not None and row["content_hash"] == doc.content_hash and row["settings_key"] == key
        if same and not rebuild:
            plan.unchanged += 1
            continue
        pend = pending.get((doc.doc_id, doc.content_hash, key))
        if pend is not None:
            plan.keep_pending.add(pend)
            plan.resumed += 1
        else:
            plan.encode.append(doc)
        if row is not None:
            plan.remove_rows.append(row["id"])
            plan.updated += 1
        else:
            plan.added += 1
    incoming_ids = {d.doc_id for d in incoming}
    for doc_id in remove_ids - incoming_ids:
        row = visible.get(doc_id)
        if row is not None:
            plan.remove_rows.append(row["id"])
            plan.removed += 1
    plan.drop_pending = [r for r in pending.values() if r not in plan.keep_pending]
    return plan
