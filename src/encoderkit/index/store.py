"""SQLite store of documents, chunks and per-retriever chunk payloads: the index's source of truth.

Rows carry generations so an interrupted update never disturbs what searches see: a row is visible at
generation G when ``added_gen <= G`` and (``removed_gen`` is NULL or ``removed_gen > G``). An update
writes new rows at G+1 ("pending") and marks replaced rows ``removed_gen = G+1``; committing the
manifest to G+1 makes them take effect at once. Pending rows that survive a crash are reused by the
next run (resume) when their content hash and settings still match.

``chunk_payloads`` holds what a retriever computed per chunk at indexing time (a dense vector, token
vectors, ...), under the retriever's name and a key saying what produced it; artifacts are rebuilt
from it without re-encoding. Schema 1 (one ``embedding`` column on ``chunks``) is migrated in place by
:meth:`Store.migrate` on the first write.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Sequence

SCHEMA_VERSION = 2

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
    n_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc);
CREATE TABLE IF NOT EXISTS chunk_payloads (
    chunk INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    retriever TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (chunk, retriever)
);
"""

VISIBLE = "d.added_gen <= :g AND (d.removed_gen IS NULL OR d.removed_gen > :g)"


class Store:
    """Thin wrapper over one SQLite file; every write method runs in one transaction."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: safe against process crashes
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.row_factory = sqlite3.Row

    @classmethod
    def create(cls, path: Path) -> Store:
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

    @property
    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def check(self) -> None:
        """Raise sqlite3.DatabaseError if the file is not a readable index database."""
        version = self.schema_version
        if not 1 <= version <= SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"unknown schema version {version or None}")

    def migrate(self, payload_key_for: dict[str, str]) -> bool:
        """Bring a schema-1 database to schema 2 in one transaction: each chunk's ``embedding`` becomes
        its "dense" payload, keyed ``payload_key_for[settings_key of its document]`` (an unmatched
        key for rows of other settings, which are never reused). True if anything was migrated."""
        if self.schema_version >= SCHEMA_VERSION:
            return False
        with self.conn:
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS chunk_payloads (chunk INTEGER NOT NULL REFERENCES chunks(id)"
                " ON DELETE CASCADE, retriever TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL,"
                " PRIMARY KEY (chunk, retriever))"
            )
            rows = self.conn.execute("SELECT c.id, d.settings_key, c.embedding FROM chunks c JOIN documents d ON d.id = c.doc")
            self.conn.executemany(
                "INSERT OR REPLACE INTO chunk_payloads (chunk, retriever, key, data) VALUES (?, 'dense', ?, ?)",
                [(r[0], payload_key_for.get(r[1], f"legacy:{r[1]}"), r[2]) for r in rows.fetchall()],
            )
            self.conn.execute("ALTER TABLE chunks DROP COLUMN embedding")
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        return True

    # ------------------------------------------------------------------ reads
    def visible_documents(self, gen: int) -> dict[str, sqlite3.Row]:
        """doc_id -> row for every document visible at generation ``gen``."""
        rows = self.conn.execute(f"SELECT * FROM documents d WHERE {VISIBLE}", {"g": gen})
        return {r["doc_id"]: r for r in rows}

    def pending_documents(self, gen: int) -> dict[tuple[str, str, str], int]:
        """(doc_id, content_hash, settings_key) -> row id of rows written after ``gen`` (resume cache)."""
        rows = self.conn.execute("SELECT id, doc_id, content_hash, settings_key FROM documents WHERE added_gen > ?", (gen,))
        return {(r["doc_id"], r["content_hash"], r["settings_key"]): r["id"] for r in rows}

    def documents_by_rowid(self, rowids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not rowids:
            return {}
        q = ",".join("?" * len(rowids))
        return {r["id"]: r for r in self.conn.execute(f"SELECT * FROM documents WHERE id IN ({q})", [int(r) for r in rowids])}

    def chunks_by_id(self, chunk_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not chunk_ids:
            return {}
        q = ",".join("?" * len(chunk_ids))
        sql = f"SELECT id, doc, ord, start_char, end_char, section, text, n_tokens FROM chunks WHERE id IN ({q})"
        return {r["id"]: r for r in self.conn.execute(sql, [int(c) for c in chunk_ids])}

    def chunk_texts(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk id -> the text that was indexed for it (title header + chunk)."""
        if not chunk_ids:
            return {}
        q = ",".join("?" * len(chunk_ids))
        rows = self.conn.execute(f"SELECT id, index_text FROM chunks WHERE id IN ({q})", [int(c) for c in chunk_ids])
        return {r["id"]: r["index_text"] for r in rows}

    def visible_chunks(self, gen: int) -> Iterator[sqlite3.Row]:
        """(id, doc, index_text) of every chunk visible at ``gen``, ordered by id."""
        sql = f"SELECT c.id, c.doc, c.index_text FROM chunks c JOIN documents d ON d.id = c.doc WHERE {VISIBLE} ORDER BY c.id"
        yield from self.conn.execute(sql, {"g": gen})

    def payloads(self, gen: int, retriever: str) -> Iterator[tuple[int, str, bytes]]:
        """(chunk id, key, data) of ``retriever``'s payloads for the chunks visible at ``gen``, by chunk id."""
        sql = (
            f"SELECT p.chunk, p.key, p.data FROM chunk_payloads p JOIN chunks c ON c.id = p.chunk "
            f"JOIN documents d ON d.id = c.doc WHERE p.retriever = :r AND {VISIBLE} ORDER BY p.chunk"
        )
        yield from self.conn.execute(sql, {"g": gen, "r": retriever})

    def payloads_of(self, retriever: str, chunk_ids: Sequence[int]) -> dict[int, tuple[str, bytes]]:
        """chunk id -> (key, data) of ``retriever``'s payloads for the given chunks (those that have one)."""
        out: dict[int, tuple[str, bytes]] = {}
        ids = [int(c) for c in chunk_ids]
        for i in range(0, len(ids), 900):  # SQLite's limit on bound parameters
            part = ids[i : i + 900]
            q = ",".join("?" * len(part))
            sql = f"SELECT chunk, key, data FROM chunk_payloads WHERE retriever = ? AND chunk IN ({q})"
            for chunk, key, data in self.conn.execute(sql, [retriever, *part]):
                out[chunk] = (key, data)
        return out

    def chunks_missing_payload(self, gen: int, retriever: str, key: str) -> list[tuple[int, str]]:
        """(chunk id, index_text) of chunks visible at ``gen`` with no ``retriever`` payload under ``key``."""
        sql = (
            f"SELECT c.id, c.index_text FROM chunks c JOIN documents d ON d.id = c.doc "
            f"LEFT JOIN chunk_payloads p ON p.chunk = c.id AND p.retriever = :r AND p.key = :k "
            f"WHERE {VISIBLE} AND p.chunk IS NULL ORDER BY c.id"
        )
        return [(r[0], r[1]) for r in self.conn.execute(sql, {"g": gen, "r": retriever, "k": key})]

    def count_visible(self, gen: int) -> tuple[int, int]:
        docs = self.conn.execute(f"SELECT COUNT(*) FROM documents d WHERE {VISIBLE}", {"g": gen}).fetchone()[0]
        chunks = self.conn.execute(
            f"SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.doc WHERE {VISIBLE}", {"g": gen}
        ).fetchone()[0]
        return docs, chunks

    # ------------------------------------------------------------------ writes
    def reset_pending_removals(self, gen: int) -> None:
        """Undo removal marks left by an interrupted run (they were never committed)."""
        with self.conn:
            self.conn.execute("UPDATE documents SET removed_gen = NULL WHERE removed_gen > ?", (gen,))

    def add_documents(
        self,
        docs: Iterable[dict],
        chunks: Iterable[list[dict]],
        payloads: dict[str, tuple[str, Sequence[Sequence[bytes]]]],
        *,
        gen: int,
        settings_key: str,
    ) -> list[int]:
        """Insert documents with their chunks, and each retriever's chunk payloads, as pending at ``gen``.
        ``payloads``: retriever -> (key, per document a list of one payload per chunk)."""
        ids = []
        docs, chunks = list(docs), list(chunks)
        with self.conn:
            for i, (doc, doc_chunks) in enumerate(zip(docs, chunks)):
                cur = self.conn.execute(
                    "INSERT INTO documents (doc_id, path, title, fmt, content_hash, settings_key, n_chars, meta,"
                    " added_gen) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        doc["doc_id"],
                        doc.get("path", ""),
                        doc.get("title", ""),
                        doc.get("fmt", "text"),
                        doc["content_hash"],
                        settings_key,
                        doc["n_chars"],
                        json.dumps(doc.get("meta") or {}),
                        gen,
                    ),
                )
                rowid = cur.lastrowid
                ids.append(rowid)
                chunk_ids = []
                for c in doc_chunks:
                    cur = self.conn.execute(
                        "INSERT INTO chunks (doc, ord, start_char, end_char, section, text, index_text, n_tokens)"
                        " VALUES (?,?,?,?,?,?,?,?)",
                        (rowid, c["ord"], c["start"], c["end"], c["section"], c["text"], c["index_text"], c["n_tokens"]),
                    )
                    chunk_ids.append(cur.lastrowid)
                for name, (key, per_doc) in payloads.items():
                    self.conn.executemany(
                        "INSERT OR REPLACE INTO chunk_payloads (chunk, retriever, key, data) VALUES (?,?,?,?)",
                        [(cid, name, key, data) for cid, data in zip(chunk_ids, per_doc[i])],
                    )
        return ids

    def put_payloads(self, retriever: str, key: str, items: Sequence[tuple[int, bytes]]) -> None:
        """Store (or replace) ``retriever``'s payloads for existing chunks."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO chunk_payloads (chunk, retriever, key, data) VALUES (?,?,?,?)",
                [(int(c), retriever, key, data) for c, data in items],
            )

    def drop_payloads(self, keep: Sequence[str]) -> None:
        """Delete payloads of retrievers the index no longer has."""
        q = ",".join("?" * len(keep)) or "''"
        with self.conn:
            self.conn.execute(f"DELETE FROM chunk_payloads WHERE retriever NOT IN ({q})", list(keep))

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
            cur = self.conn.execute(
                "DELETE FROM documents WHERE removed_gen IS NOT NULL AND removed_gen <= ?", (committed_gen - 1,)
            )
        return cur.rowcount
