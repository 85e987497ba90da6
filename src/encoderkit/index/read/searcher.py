"""The read side of an index: load the committed generation, run the query pipeline, build hits.

A searcher follows commits made by any process (it reloads when the manifest changes, reusing the
segments it already loaded) and reads every result from the generation its ranking was computed on,
so an update landing between ranking and reading never mixes two generations. While it searches a
generation it holds that generation's reader lease, so no writer deletes its files
(:mod:`encoderkit.index.storage.leases`). It is safe to share between threads: reloading is serialised,
and every caller gets a complete snapshot object (never a half-loaded one).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Sequence

from ...data.textsafe import clean_text
from ...errors import EncoderkitError
from ...retrieval.base import IndexContext
from ...retrieval.options import SearchOptions, parse_mode
from ...retrieval.pipeline import Snapshot, rank
from ...retrieval.ranking import Hit, QueryRanking, shown_chunk_scores, stage_table
from ...retrieval.registry import get as get_retriever
from ..calibrate import stored_rule
from ..storage.integrity import Health, check_files, check_generation, damaged_error
from ..storage.leases import Lease
from ..storage.manifest import MANIFEST, read_manifest, retriever_names
from ..storage.migrate import has_data, pre_segment_folder
from ..storage.store import Store
from .filters import allowed_documents, parse_filters
from .snapshot import load_snapshot


class IndexSearcher:
    """Searches one index folder. Made by :class:`encoderkit.index.Index`; shares its store and context."""

    def __init__(self, path: Path, store: Store, context: IndexContext):
        self.path = Path(path)
        self.store = store
        self.context = context
        self._snapshot: Snapshot | None = None
        self._reload = threading.Lock()
        self._mtime = self._manifest_mtime()

    def _manifest_mtime(self) -> tuple:
        """What changes when a commit replaces the manifest (it is renamed into place: a new inode), even
        when two commits land within the file system's timestamp granularity."""
        try:
            st = (self.path / MANIFEST).stat()
        except OSError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def forget_snapshot(self) -> None:
        """Drop the loaded generation (reloaded on the next search)."""
        self._snapshot = None

    @property
    def retrievers(self) -> list[str]:
        return retriever_names(self.context.manifest)

    def snapshot(self) -> Snapshot | None:
        """The loaded live generation; reloaded when a newer one has been committed (by any process)."""
        snap = self._snapshot
        if snap is not None and self._manifest_mtime() == self._mtime and snap.gen == self.context.manifest["generation"]:
            return snap  # the common case: no lock taken
        with self._reload:
            return self._load_snapshot()

    def _load_snapshot(self) -> Snapshot | None:
        for _ in range(20):  # a writer may collect a generation between our reading and leasing it
            mtime = self._manifest_mtime()
            if mtime != self._mtime:
                fresh = read_manifest(self.path)
                if fresh["model"]["fingerprint"] != self.context.manifest["model"]["fingerprint"]:
                    self.context.reset_encoder()
                self.context.manifest = fresh
                self._mtime = mtime
            m = self.context.manifest
            if self._snapshot is not None and self._snapshot.gen == m["generation"]:
                return self._snapshot
            if not has_data(m):
                self._drop()
                return None
            lease = Lease(m["generation"]) if pre_segment_folder(m) else Lease.acquire(self.path, m["generation"])
            if lease is None:  # collected already: a newer generation is live
                self._mtime = 0
                continue
            try:
                snap = self._load_checked(m)
            except BaseException:
                lease.release()
                raise
            snap.lease = lease
            self._drop()
            self._snapshot = snap
            return snap
        raise EncoderkitError(f"index '{self.path}' keeps changing under this reader", hint="search again")

    def _drop(self) -> None:
        if self._snapshot is not None and self._snapshot.lease is not None:
            self._snapshot.lease.release()
        self._snapshot = None

    def close(self) -> None:
        self._drop()

    def release_before(self, gen: int) -> None:
        """Let go of the lease of a loaded generation older than ``gen`` (a commit in this process made
        it stale; its files are open already, so collecting them cannot disturb a search in flight).
        The loaded segments stay for reuse by the next snapshot."""
        snap = self._snapshot
        if snap is not None and snap.gen < gen and snap.lease is not None:
            snap.lease.release()
            snap.lease = None

    def _load_checked(self, m: dict) -> Snapshot:
        """Load the live generation after the cheap checks (recorded sizes; shapes, counts, finite
        values while loading); on any failure, the full checks name what is damaged, in one line."""
        health = Health("cheap", m["generation"])
        snap = None
        if check_files(self.path, m, health) is not None and health.ok:
            try:
                snap = load_snapshot(self.path, m, self.context, self.store, self._snapshot)
            except Exception as exc:  # whatever damaged bytes make a reader raise is a finding, not a crash
                health.problems.append(f"cannot read generation {m['generation']} ({type(exc).__name__}: {exc})")
        if not health.ok:
            retrievers = [get_retriever(e["name"])(e.get("settings") or {}, self.context) for e in m["retrievers"]]
            full = check_generation(self.path, m, retrievers, full=True)
            raise damaged_error(self.path, full if not full.ok else health)
        return snap

    def rank_many(self, queries: Sequence[str], options: SearchOptions | None = None, **overrides) -> list[QueryRanking]:
        """Final ranking plus every stage's ranking and timing, per query, as keys (document row ids or
        chunk ids): the building block for search and evaluation. ``options`` (or keyword overrides of
        it): a :class:`~encoderkit.retrieval.options.SearchOptions`."""
        o = SearchOptions.of(options, **overrides)
        stages = parse_mode(o.mode, self.retrievers)
        parsed = parse_filters(o.filters)
        snap = self.snapshot()
        allowed = allowed_documents(self.store, snap.gen, parsed) if parsed and snap is not None else None
        return rank(
            snap,
            [clean_text(q) if isinstance(q, str) else q for q in queries],  # invalid Unicode: data.textsafe policy
            stages,
            o,
            chunk_texts=self.store.chunk_texts,
            allowed_docs=allowed,
            default_rule=stored_rule(self.context.manifest),
        )

    def search_many(self, queries: Sequence[str], options: SearchOptions | None = None, **overrides) -> list[list[Hit]]:
        """The top ``k`` hits of each query."""
        o = SearchOptions.of(options, **overrides).check()
        rankings = self.rank_many(queries, SearchOptions.of(o, depth=max(o.depth, o.k)))
        return [self.hits(r, o.k) for r in rankings]

    def hits(self, ranking: QueryRanking, k: int) -> list[Hit]:
        """The top ``k`` of a ranking as hits (text, offsets, section, title, per-stage explanation)."""
        return ranking_hits(self.store, ranking, k)

    def document_ids(self, rowids: Sequence[int] | None = None) -> dict[int, str]:
        """Document row id -> user-facing document id (all live documents when ``rowids`` is None)."""
        if rowids is None:
            gen = self.context.manifest["generation"]
            return {row["id"]: doc_id for doc_id, row in self.store.visible_documents(gen).items()}
        return {r: row["doc_id"] for r, row in self.store.documents_by_rowid(list(rowids)).items()}


def ranking_hits(store, ranking: QueryRanking, k: int) -> list[Hit]:
    """The top ``k`` of a ranking as hits, read from ``store`` (an index's :class:`Store`, or anything
    with its ``chunks_by_id``, ``documents_by_rowid``, ``annotations`` and ``char_before``, e.g. the
    router of a sharded index)."""
    final, snap = ranking.final, ranking.snapshot
    if snap is None:
        return []
    keys, scores, chunk_ids = final.keys[:k], final.scores[:k], final.best_chunk[:k]
    chunks = store.chunks_by_id(chunk_ids)
    docs = store.documents_by_rowid(sorted({c["doc"] for c in chunks.values()}))
    annotations = store.annotations(list(docs))
    before = store.char_before(list(chunks.values()), width=8)
    table = stage_table(ranking.stages)
    hits = []
    for rank_, (key, score, cid) in enumerate(zip(keys, scores, chunk_ids), start=1):
        c = chunks.get(cid)
        if c is None or c["doc"] not in docs:  # purged by a concurrent update: skip, never crash
            continue
        d = docs[c["doc"]]
        hits.append(
            Hit(
                rank=rank_,
                score=float(score),
                doc_id=d["doc_id"],
                chunk_id=int(cid),
                title=d["title"],
                path=d["path"],
                text=c["text"],
                start=c["start_char"],
                end=c["end_char"],
                section=c["section"],
                meta=json.loads(d["meta"] or "{}"),
                annotations=annotations.get(c["doc"], {}),
                stages=shown_chunk_scores(table.get(key, {}), ranking.stages, key, int(cid)),
                fmt=d["fmt"],
                mid_word=before.get(cid, "")[-1:].isalnum() and c["text"][:1].isalnum(),
                mid_line=begins_mid_line(before.get(cid, "")),
                fusion=ranking.fusion,
            )
        )
    return hits


def begins_mid_line(text_before: str) -> bool:
    """Whether a chunk preceded by ``text_before`` (the few document characters before it) begins inside a
    line and not right after the end of a sentence: its first sentence or line is then a fragment.

    >>> begins_mid_line(""), begins_mid_line("a line\\n"), begins_mid_line("the end. "), begins_mid_line("%b ")
    (False, False, False, True)
    """
    if text_before[-1:] in ("", "\n"):
        return False
    return not re.search(r"[.!?][\"')\]]*\s+$", text_before)
