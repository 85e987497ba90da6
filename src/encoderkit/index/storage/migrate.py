"""Every branch for index formats 1 and 2, in one place.

Format 3 (today's) keeps immutable segments (``seg-XXXXXX/``) listed in ``manifest["segments"]``.
Formats 1 and 2 kept one generation folder (``gen-XXXXXX/``) named by ``manifest["artifacts"]``;
format 1 also had one ``bm25`` and one ``dense`` section instead of a ``retrievers`` list, and its
SQLite store (schema 1) one ``embedding`` column per chunk instead of ``chunk_payloads``. Such indexes
open and search as they are (read as one segment without deletions); the next update or
``encoderkit optimize`` migrates them in place without re-encoding (the writer calls
:func:`migrate_store_schema`, then commits segments).

The retrievers' own pre-segment readers (bm25s matrices, a dense folder without ``dense.json``) stay
in :mod:`encoderkit.retrieval`: they are the retrievers' formats, below the index.

>>> m = upgrade({"format_version": 1, "bm25": {"k1": 1.2}, "dense": {"kind": "flat"}})
>>> [r["name"] for r in m["retrievers"]], m["format_version"], m["upgraded_from"], "bm25" in m
(['bm25', 'dense'], 2, 1, False)
>>> pre_segment_folder({"artifacts": "gen-000003"}), has_data({"segments": []}), segment_count({"artifacts": "gen-000003"})
('gen-000003', False, 1)
>>> pre_segment_problem({"artifacts": "seg-1"})
"'artifacts' should name a gen-XXXXXX folder, not 'seg-1'"
"""

from __future__ import annotations

import re

PRE_SEGMENT = "artifacts"  # the manifest key naming a format-1/2 generation folder
_GEN_DIR = re.compile(r"gen-\d{6}")


def upgrade(manifest: dict) -> dict:
    """A format-1 manifest as format 2 (pure; format-2 and -3 manifests come back unchanged)."""
    if manifest.get("format_version") != 1:
        return manifest
    m = {k: v for k, v in manifest.items() if k not in ("bm25", "dense")}
    m["retrievers"] = [
        {"name": "bm25", "settings": manifest.get("bm25") or {}},
        {"name": "dense", "settings": manifest.get("dense") or {}},
    ]
    m["format_version"] = 2
    m["upgraded_from"] = 1
    return m


def pre_segment_folder(manifest: dict) -> str | None:
    """The ``gen-XXXXXX`` folder of a format-1/2 index, None for a segmented one."""
    return manifest.get(PRE_SEGMENT) or None


def has_data(manifest: dict) -> bool:
    """Whether a manifest names anything to search (segments, or a pre-segment generation folder)."""
    return bool(pre_segment_folder(manifest)) or bool(manifest.get("segments"))


def segment_count(manifest: dict) -> int:
    """Segments searched (a pre-segment generation folder counts as one)."""
    return 1 if pre_segment_folder(manifest) else len(manifest.get("segments") or [])


def without_pre_segment(manifest: dict) -> dict:
    """The manifest without its pre-segment folder entry (what a segmented commit writes)."""
    return {k: v for k, v in manifest.items() if k != PRE_SEGMENT}


def pre_segment_problem(manifest: dict) -> str | None:
    """What is wrong with a manifest's pre-segment folder entry, or None."""
    art = manifest.get(PRE_SEGMENT)
    if art is not None and (not isinstance(art, str) or not _GEN_DIR.fullmatch(art)):
        return f"'{PRE_SEGMENT}' should name a gen-XXXXXX folder, not {art!r}"
    return None


def migrated_from(manifest: dict, store_moved: bool) -> int | None:
    """The format an update is migrating from: 1 (a format-1 manifest, or a schema-1 store it just
    moved), 2 (a generation folder), or None (already format 3)."""
    if manifest.get("upgraded_from") or store_moved:
        return 1
    if pre_segment_folder(manifest):
        return 2
    return None


def migrate_store_schema(conn, schema_version: int, payload_key_for: dict[str, str], *, target: int, tables: str) -> bool:
    """Bring a schema-1 SQLite store to schema ``target`` in one transaction: each chunk's ``embedding``
    becomes its "dense" payload, keyed ``payload_key_for[settings_key of its document]`` (an unmatched key
    for rows of other settings, which are never reused). ``tables``: the idempotent DDL added within the
    current schema. True if anything was migrated."""
    if schema_version >= target:
        conn.executescript(tables)
        return False
    with conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS chunk_payloads (chunk INTEGER NOT NULL REFERENCES chunks(id)"
            " ON DELETE CASCADE, retriever TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL,"
            " PRIMARY KEY (chunk, retriever))"
        )
        rows = conn.execute("SELECT c.id, d.settings_key, c.embedding FROM chunks c JOIN documents d ON d.id = c.doc")
        conn.executemany(
            "INSERT OR REPLACE INTO chunk_payloads (chunk, retriever, key, data) VALUES (?, 'dense', ?, ?)",
            [(r[0], payload_key_for.get(r[1], f"legacy:{r[1]}"), r[2]) for r in rows.fetchall()],
        )
        conn.execute("ALTER TABLE chunks DROP COLUMN embedding")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
    conn.executescript(tables)
    return True
