"""SQLite store of documents and chunks (with their embeddings): the index's source of truth.

Rows carry generations so an interrupted update never disturbs what searches see: a row is visible at
generation G when ``added_gen <= G`` and (``removed_gen`` is NULL or ``removed_gen > G``). An update
writes new rows at G+1 ("pending") and marks replaced rows ``removed_gen = G+1``; committing the
manifest to G+1 makes them take effect at once. Pending rows that survive a crash are reused by the
next run (resume) when their content hash and settings still match.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    fmt TEXT NOT NULL DEFAULT 'text',
    content_hash TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    n_chars INTEGER NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    added_gen INTEGER NOT NULL,
    removed_gen INTEGER
);
CREATE INDEX IF NOT EXISTS documents_doc_id ON documents(doc_id);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    section TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    index_text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc);
"""

VISIBLE = "d.added_gen <= :g AND (d.removed_gen IS NULL OR d.removed_gen > :g)"


class Store:
    """Thin wrapper over one SQLite file; every write method runs in one transaction."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: safe against process crashes
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.row_factory = sqlite3.Row

    @classmethod
    def create(cls, path: Path) -> "Store":
        """Create the database file with its schema (WAL journal: readers never block the writer)."""
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        with conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.close()
        return cls(path)

    def close(self) -> None:
        self.conn.close()

    def check(self) -> None:
        """Raise sqlite3.DatabaseError if the file is not a readable index database."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or int(row[0]) > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"unknown schema version {row[0] if row else None}")

    # ------------------------------------------------------------------ reads
    def visible_documents(self, gen: int) -> dict[str, sqlite3.Row]:
        """doc_id -> row for every document visible at generation ``gen``."""
        rows = self.conn.execute(f"SELECT * FROM documents d WHERE {VISIBLE}", {"g": gen})
        return {r["doc_id"]: r for r in rows}

    def pending_documents(self, gen: int) -> dict[tuple[str, str, str], int]:
        """(doc_id, content_hash, settings_key) -> row id of rows written after ``gen`` (resume cache)."""
        rows = self.conn.execute(
            "SELECT id, doc_id, content_hash, settings_key FROM documents WHERE added_gen > ?", (gen,))
        return {(r["doc_id"], r["content_hash"], r["settings_key"]): r["id"] for r in rows}

    def documents_by_rowid(self, rowids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not rowids:
            return {}
        q = ",".join("?" * len(rowids))
        return {r["id"]: r for r in self.conn.execute(f"SELECT * FROM documents WHERE id IN ({q})", list(rowids))}

    def chunks_by_id(self, chunk_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not chunk_ids:
            return {}
        q = ",".join("?" * len(chunk_ids))
        sql = (f"SELECT id, doc, ord, start_char, end_char, section, text, n_tokens FROM chunks "
               f"WHERE id IN ({q})")
        return {r["id"]: r for r in self.conn.execute(sql, [int(c) for c in chunk_ids])}

    def chunk_texts(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk id -> the text that was embedded for it (title header + chunk)."""
        if not chunk_ids:
            return {}
        q = ",".join("?" * len(chunk_ids))
        rows = self.conn.execute(f"SELECT id, index_text FROM chunks WHERE id IN ({q})", [int(c) for c in chunk_ids])
        return {r["id"]: r["index_text"] for r in rows}

    def visible_chunks(self, gen: int) -> Iterator[sqlite3.Row]:
        """(chunk id, doc row id, index_text, embedding) for every visible chunk, ordered by id."""
        sql = (f"SELECT c.id, c.doc, c.index_text, c.embedding FROM chunks c "
               f"JOIN documents d ON d.id = c.doc WHERE {VISIBLE} ORDER BY c.id")
        yield from self.conn.execute(sql, {"g": gen})

    def count_visible(self, gen: int) -> tuple[int, int]:
        docs = self.conn.execute(f"SELECT COUNT(*) FROM documents d WHERE {VISIBLE}", {"g": gen}).fetchone()[0]
        chunks = self.conn.execute(
            f"SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.doc WHERE {VISIBLE}", {"g": gen}).fetchone()[0]
        return docs, chunks

    # ------------------------------------------------------------------ writes
    def reset_pending_removals(self, gen: int) -> None:
        """Undo removal marks left by an interrupted run (they were never committed)."""
        with self.conn:
            self.conn.execute("UPDATE documents SET removed_gen = NULL WHERE removed_gen > ?", (gen,))

    def add_documents(self, docs: Iterable[dict], chunks: Iterable[list[dict]], embeddings: Iterable[np.ndarray],
                      *, gen: int, settings_key: str) -> list[int]:
        """Insert documents with their chunks and chunk embeddings as pending at ``gen``."""
        ids = []
        with self.conn:
            for doc, doc_chunks, emb in zip(docs, chunks, embeddings):
                cur = self.conn.execute(
                    "INSERT INTO documents (doc_id, path, title, fmt, content_hash, settings_key, n_chars, meta,"
                    " added_gen) VALUES (?,?,?,?,?,?,?,?,?)",
                    (doc["doc_id"], doc.get("path", ""), doc.get("title", ""), doc.get("fmt", "text"),
                     doc["content_hash"], settings_key, doc["n_chars"], json.dumps(doc.get("meta") or {}), gen))
                rowid = cur.lastrowid
                ids.append(rowid)
                self.conn.executemany(
                    "INSERT INTO chunks (doc, ord, start_char, end_char, section, text, index_text, n_tokens,"
                    " embedding) VALUES (?,?,?,?,?,?,?,?,?)",
                    [(rowid, c["ord"], c["start"], c["end"], c["section"], c["text"], c["index_text"],
                      c["n_tokens"], np.asarray(e, dtype=np.float32).tobytes())
                     for c, e in zip(doc_chunks, emb)])
        return ids

    def mark_removed(self, rowids: Sequence[int], gen: int) -> None:
        with self.conn:
            self.conn.executemany("UPDATE documents SET removed_gen = ? WHERE id = ?", [(gen, r) for r in rowids])

    def delete_rows(self, rowids: Sequence[int]) -> None:
        with self.conn:
            self.conn.executemany("DELETE FROM documents WHERE id = ?", [(r,) for r in rowids])

    def purge(self, committed_gen: int) -> int:
        """Physically delete rows no longer visible at the previous generation (kept one generation
        so a searcher still holding it finds its rows)."""
        with self.conn:
            cur = self.conn.execute("DELETE FROM documents WHERE removed_gen IS NOT NULL AND removed_gen <= ?",
                                    (committed_gen - 1,))
        return cur.rowcount
