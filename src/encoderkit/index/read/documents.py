"""One stored document as a reader sees it: its text rebuilt from its chunks, and where each chunk sits.

The store keeps chunks, not whole documents; chunk ``i`` holds ``text[start_i:end_i]`` of the original,
so the text is rebuilt by laying the chunks at their offsets (overlaps written once). Characters no
chunk covered (whitespace the chunker skipped) become spaces, so every offset a hit reports still
points at the same characters.

>>> rebuild_text([(0, 9, "Cats purr"), (5, 20, "purr when happy.")])
'Cats purr when happy.'
>>> rebuild_text([(0, 4, "Cats"), (6, 10, "purr")])
'Cats  purr'
"""

from __future__ import annotations

import json
from typing import Sequence

from ..storage.store import VISIBLE


def rebuild_text(spans: Sequence[tuple[int, int, str]]) -> str:
    """The document text from (start, end, text) chunk spans, in any order."""
    out: list[str] = []
    pos = 0
    for start, end, text in sorted(spans):
        if end <= pos:
            continue
        if start > pos:
            out.append(" " * (start - pos))
            pos = start
        out.append(text[pos - start :])
        pos = max(pos, start + len(text))
    return "".join(out)


def document_view(store, gen: int, doc_id: str) -> dict | None:
    """The document ``doc_id`` visible at generation ``gen``: id, title, path, meta, text and chunks
    (id, start, end, section); None when no such document is live."""
    row = store.conn.execute(f"SELECT * FROM documents d WHERE d.doc_id = :id AND {VISIBLE}", {"id": doc_id, "g": gen}).fetchone()
    if row is None:
        return None
    chunks = store.conn.execute(
        "SELECT id, ord, start_char, end_char, section, text FROM chunks WHERE doc = ? ORDER BY ord", (row["id"],)
    ).fetchall()
    return {
        "doc_id": row["doc_id"],
        "title": row["title"],
        "path": row["path"],
        "meta": json.loads(row["meta"] or "{}"),
        "n_chars": row["n_chars"],
        "text": rebuild_text([(c["start_char"], c["end_char"], c["text"]) for c in chunks]),
        "chunks": [
            {"chunk_id": c["id"], "start": c["start_char"], "end": c["end_char"], "section": c["section"]} for c in chunks
        ],
    }
