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

ANNOTATION_TABLES = """
CREATE TABLE IF NOT EXISTS doc_annotations (
    doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    annotator TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (doc, annotator)
);
CREATE TABLE IF NOT EXISTS doc_filter_values (
    doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    annotator TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS doc_filter_values_fv ON doc_filter_values(field, value);
CREATE INDEX IF NOT EXISTS doc_filter_values_doc ON doc_filter_values(doc);
"""

# added within schema 2 (idempotent): what a segmented commit looks up by generation
GENERATION_INDEXES = """
CREATE INDEX IF NOT EXISTS documents_added_gen ON documents(added_gen);
CREATE INDEX IF NOT EXISTS documents_removed_gen ON documents(removed_gen);
"""

_SCHEMA = (
    """
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
    + ANNOTATION_TABLES
    + GENERATION_INDEXES
)

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

    def checkpoint(self) -> bool:
        """Move the write-ahead log into the database file and empty it, so the store's size on disk is
        what it stays (False when a reader holds the log: nothing changes then)."""
        try:
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        return bool(busy) and busy[0] == 0

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
        """Bring a schema-1 database to schema 2 (:func:`~.migrate.migrate_store_schema`); True if anything
        was migrated."""
        from .migrate import migrate_store_schema

        return migrate_store_schema(
            self.conn, self.schema_version, payload_key_for, target=SCHEMA_VERSION, tables=ANNOTATION_TABLES + GENERATION_INDEXES
        )

    # ------------------------------------------------------------------ reads
    def visible_documents(self, gen: int, doc_ids=None) -> dict[str, sqlite3.Row]:
        """doc_id -> row for every document visible at generation ``gen`` (only ``doc_ids`` when given)."""
        if doc_ids is None:
            rows = self.conn.execute(f"SELECT * FROM documents d WHERE {VISIBLE}", {"g": gen})
            return {r["doc_id"]: r for r in rows}
        out, wanted = {}, list(doc_ids)
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            q = ",".join("?" * len(part))
            sql = (
                f"SELECT * FROM documents d WHERE d.doc_id IN ({q}) AND d.added_gen <= ? "
                "AND (d.removed_gen IS NULL OR d.removed_gen > ?)"
            )
            out.update({r["doc_id"]: r for r in self.conn.execute(sql, [*part, gen, gen])})
        return out

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

    def char_before(self, chunks: Sequence[sqlite3.Row], width: int = 1) -> dict[int, str]:
        """chunk id -> the ``width`` document characters just before each chunk (from the previous chunk of
        the same document; "" when unknown or at the document start): tells whether a chunk begins inside a
        word, a line or a sentence."""
        out: dict[int, str] = {}
        for c in chunks:
            if not c["ord"] or not c["start_char"]:
                continue
            prev = self.conn.execute(
                "SELECT start_char, end_char, text FROM chunks WHERE doc = ? AND ord = ?", (c["doc"], c["ord"] - 1)
            ).fetchone()
            if prev is None:
                continue
            i = c["start_char"] - 1 - prev["start_char"]
            known = 0 <= i < len(prev["text"]) and c["start_char"] <= prev["end_char"]
            out[c["id"]] = prev["text"][max(0, i + 1 - width) : i + 1] if known else " "
        return out

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

    def chunk_rows(self, gen: int, *, added_at: int | None = None, after: int = 0, limit: int = 100_000) -> list[tuple]:
        """(id, doc, index_text) of up to ``limit`` chunks visible at ``gen`` with ids above ``after``, by id;
        ``added_at``: only those of documents added at that generation (what an update adds)."""
        extra = " AND d.added_gen = :a" if added_at is not None else ""
        sql = (
            f"SELECT c.id, c.doc, c.index_text FROM chunks c JOIN documents d ON d.id = c.doc "
            f"WHERE {VISIBLE}{extra} AND c.id > :after ORDER BY c.id LIMIT :n"
        )
        return self.conn.execute(sql, {"g": gen, "a": added_at, "after": after, "n": limit}).fetchall()

    def removed_chunk_ids(self, gen: int) -> list[int]:
        """Ids of the chunks of documents removed at generation ``gen`` (replaced or deleted by it)."""
        sql = "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc WHERE d.removed_gen = ? ORDER BY c.id"
        return [r[0] for r in self.conn.execute(sql, (gen,))]

    def payloads_between(self, retriever: str, first: int, last: int) -> dict[int, tuple[str, bytes]]:
        """chunk id -> (key, data) of ``retriever``'s payloads for chunk ids in [first, last]."""
        sql = "SELECT chunk, key, data FROM chunk_payloads WHERE chunk BETWEEN ? AND ? AND retriever = ?"
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(sql, (int(first), int(last), retriever))}

    def texts_between(self, first: int, last: int) -> dict[int, tuple[int, str]]:
        """chunk id -> (document row id, index_text) for chunk ids in [first, last]."""
        sql = "SELECT id, doc, index_text FROM chunks WHERE id BETWEEN ? AND ?"
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(sql, (int(first), int(last)))}

    def tie_order(self, gen: int):
        """Row ids of the documents visible at ``gen`` in descending document-id order (UTF-8 byte order
        is code point order, the order of Python strings): trec_eval's order among equal scores."""
        import numpy as np

        sql = f"SELECT d.id FROM documents d WHERE {VISIBLE} ORDER BY d.doc_id DESC"
        return np.fromiter((r[0] for r in self.conn.execute(sql, {"g": gen})), dtype=np.int64)

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

    def has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    def docs_missing_annotation(self, gen: int, annotator: str, key: str) -> list[int]:
        """Row ids of documents visible at ``gen`` with no ``annotator`` annotation under ``key``."""
        sql = (
            f"SELECT d.id FROM documents d LEFT JOIN doc_annotations a ON a.doc = d.id AND a.annotator = :a "
            f"AND a.key = :k WHERE {VISIBLE} AND a.doc IS NULL ORDER BY d.id"
        )
        return [r[0] for r in self.conn.execute(sql, {"g": gen, "a": annotator, "k": key})]

    def chunk_spans(self, rowids: Sequence[int]) -> dict[int, list[tuple[int, int, str]]]:
        """doc row id -> (start, end, text) of its chunks (offsets into the document's text)."""
        out: dict[int, list[tuple[int, int, str]]] = {int(r): [] for r in rowids}
        if not rowids:
            return out
        q = ",".join("?" * len(rowids))
        for r in self.conn.execute(
            f"SELECT doc, start_char, end_char, text FROM chunks WHERE doc IN ({q})", [int(x) for x in rowids]
        ):
            out[r[0]].append((r[1], r[2], r[3]))
        return out

    def annotations(self, rowids: Sequence[int]) -> dict[int, dict[str, dict]]:
        """doc row id -> {annotator: its stored annotation} (documents without any are left out)."""
        if not rowids or not self.has_table("doc_annotations"):
            return {}
        q = ",".join("?" * len(rowids))
        out: dict[int, dict[str, dict]] = {}
        for r in self.conn.execute(
            f"SELECT doc, annotator, data FROM doc_annotations WHERE doc IN ({q})", [int(x) for x in rowids]
        ):
            out.setdefault(r[0], {})[r[1]] = json.loads(r[2])
        return out

    def documents_with_values(self, gen: int, field: str, values: Sequence[str]) -> set[int]:
        """Row ids of documents visible at ``gen`` with any of ``values`` for filter ``field``."""
        if not self.has_table("doc_filter_values"):
            return set()
        q = ",".join("?" * len(values))
        sql = (
            f"SELECT DISTINCT v.doc FROM doc_filter_values v JOIN documents d ON d.id = v.doc "
            f"WHERE v.field = ? AND v.value IN ({q}) AND d.added_gen <= ? AND (d.removed_gen IS NULL OR d.removed_gen > ?)"
        )
        return {r[0] for r in self.conn.execute(sql, [field, *values, gen, gen])}

    def filter_fields(self, gen: int) -> set[str]:
        """The filter fields documents visible at ``gen`` have values for: annotation fields (``label``,
        ``entity``...) and ``meta.KEY`` for every key of the documents' own metadata."""
        fields: set[str] = set()
        if self.has_table("doc_filter_values"):
            sql = f"SELECT DISTINCT v.field FROM doc_filter_values v JOIN documents d ON d.id = v.doc WHERE {VISIBLE}"
            fields |= {r[0] for r in self.conn.execute(sql, {"g": gen})}
        sql = f"SELECT DISTINCT d.meta FROM documents d WHERE {VISIBLE} AND d.meta != '{{}}'"
        for r in self.conn.execute(sql, {"g": gen}):
            meta = json.loads(r[0] or "{}")
            fields |= {f"meta.{k}" for k in meta} if isinstance(meta, dict) else set()
        return fields

    def documents_with_meta(self, gen: int, key: str, values: Sequence[str]) -> set[int]:
        """Row ids of visible documents whose user metadata ``key`` equals (or, for a list, contains) a value."""
        out = set()
        wanted = {str(v).lower() for v in values}
        for r in self.conn.execute(f"SELECT d.id, d.meta FROM documents d WHERE {VISIBLE}", {"g": gen}):
            value = json.loads(r[1] or "{}").get(key)
            items = value if isinstance(value, list) else [value]
            if any(str(x).lower() in wanted for x in items if x is not None):
                out.add(r[0])
        return out

    def annotation_counts(self, gen: int) -> dict[str, int]:
        if not self.has_table("doc_annotations"):
            return {}
        sql = (
            f"SELECT a.annotator, COUNT(*) FROM doc_annotations a JOIN documents d ON d.id = a.doc "
            f"WHERE {VISIBLE} GROUP BY a.annotator"
        )
        return {r[0]: r[1] for r in self.conn.execute(sql, {"g": gen})}

    def count_documents(self, gen: int) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM documents d WHERE {VISIBLE}", {"g": gen}).fetchone()[0]

    def count_visible(self, gen: int) -> tuple[int, int]:
        docs = self.conn.execute(f"SELECT COUNT(*) FROM documents d WHERE {VISIBLE}", {"g": gen}).fetchone()[0]
        chunks = self.conn.execute(
            f"SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.doc WHERE {VISIBLE}", {"g": gen}
        ).fetchone()[0]
        return docs, chunks

    def manifest_copy(self) -> dict | None:
        """The manifest as of the last commit (kept so a lost or damaged manifest.json can be rebuilt)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    # ------------------------------------------------------------------ writes
    def save_manifest_copy(self, manifest: dict) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('manifest', ?)", (json.dumps(manifest, sort_keys=True),))

    def defer_pending(self, gen: int) -> int:
        """Move rows written after ``gen`` by an unfinished update one generation up, so a commit of
        ``gen + 1`` that is not that update (a repair) neither shows nor loses them; they stay
        resumable. Also undoes its uncommitted removal marks. Returns the number of rows moved."""
        with self.conn:
            self.conn.execute("UPDATE documents SET removed_gen = NULL WHERE removed_gen > ?", (gen,))
            cur = self.conn.execute("UPDATE documents SET added_gen = added_gen + 1 WHERE added_gen > ?", (gen,))
        return cur.rowcount

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

    def put_annotations(self, annotator: str, key: str, items: Sequence[tuple[int, dict, dict[str, list[str]]]]) -> None:
        """Store (or replace) ``annotator``'s annotation and filter values for documents (row id, data, values)."""
        with self.conn:
            for doc, data, values in items:
                self.conn.execute(
                    "INSERT OR REPLACE INTO doc_annotations (doc, annotator, key, data) VALUES (?,?,?,?)",
                    (int(doc), annotator, key, json.dumps(data, ensure_ascii=False)),
                )
                self.conn.execute("DELETE FROM doc_filter_values WHERE doc = ? AND annotator = ?", (int(doc), annotator))
                self.conn.executemany(
                    "INSERT INTO doc_filter_values (doc, annotator, field, value) VALUES (?,?,?,?)",
                    [(int(doc), annotator, f, str(v).lower()) for f, vs in values.items() for v in vs],
                )

    def drop_annotations(self, keep: Sequence[str]) -> None:
        """Delete annotations of annotators the index no longer has."""
        q = ",".join("?" * len(keep)) or "''"
        with self.conn:
            self.conn.execute(f"DELETE FROM doc_annotations WHERE annotator NOT IN ({q})", list(keep))
            self.conn.execute(f"DELETE FROM doc_filter_values WHERE annotator NOT IN ({q})", list(keep))

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

    def purge(self, oldest_held: int) -> int:
        """Physically delete rows no longer visible at ``oldest_held``, the oldest generation a reader
        may still search (the live one when no reader holds an older one)."""
        with self.conn:
            cur = self.conn.execute("DELETE FROM documents WHERE removed_gen IS NOT NULL AND removed_gen <= ?", (oldest_held,))
        return cur.rowcount
