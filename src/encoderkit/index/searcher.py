"""The read side of an index: load the committed generation, run the query pipeline, build hits.

A searcher follows commits made by any process (it reloads when the manifest changes) and reads every
result from the generation its ranking was computed on, so an update landing between ranking and
reading never mixes two generations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import EncoderkitError
from ..retrieval.base import IndexContext
from ..retrieval.pipeline import Snapshot, parse_mode, rank
from ..retrieval.ranking import Hit, QueryRanking, stage_table
from .manifest import MANIFEST, read_manifest, retriever_names
from .store import Store


class IndexSearcher:
    """Searches one index folder. Made by :class:`encoderkit.index.Index`; shares its store and context."""

    def __init__(self, path: Path, store: Store, context: IndexContext):
        self.path = Path(path)
        self.store = store
        self.context = context
        self._snapshot: Snapshot | None = None
        self._mtime = self._manifest_mtime()

    def _manifest_mtime(self) -> int:
        try:
            return (self.path / MANIFEST).stat().st_mtime_ns
        except OSError:
            return 0

    def forget_snapshot(self) -> None:
        """Drop the loaded generation (reloaded on the next search)."""
        self._snapshot = None

    @property
    def retrievers(self) -> list[str]:
        return retriever_names(self.context.manifest)

    def snapshot(self) -> Snapshot | None:
        """The loaded live generation; reloaded when a newer one has been committed (by any process)."""
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
        self._snapshot = None
        if m.get("artifacts"):
            directory = self.path / m["artifacts"]
            try:
                self._snapshot = Snapshot.load(directory, m["generation"], m["retrievers"], self.context)
            except (OSError, ValueError, RuntimeError) as exc:
                raise EncoderkitError(
                    f"index '{self.path}' is damaged: cannot read {directory.name} ({exc})",
                    hint="rebuild it with `encoderkit index PATH --index DIR --rebuild`",
                ) from None
        return self._snapshot

    def rank_many(
        self,
        queries: Sequence[str],
        *,
        mode: str = "hybrid",
        depth: int = 100,
        by: str = "document",
        rrf_k: int = 60,
        fusion: str | None = None,
        weights: dict[str, float] | None = None,
        reranker=None,
        rerank_depth: int = 50,
        rerank_fusion: str = "none",
    ) -> list[QueryRanking]:
        """Final ranking plus every stage's ranking and timing, per query, as keys (document row ids or
        chunk ids). The building block for search and evaluation."""
        stages = parse_mode(mode, self.retrievers)
        return rank(
            self.snapshot(),
            queries,
            stages,
            depth=depth,
            by=by,
            rrf_k=rrf_k,
            fusion=fusion,
            weights=weights,
            reranker=reranker,
            rerank_depth=rerank_depth,
            rerank_fusion=rerank_fusion,
            chunk_texts=self.store.chunk_texts,
        )

    def search_many(self, queries: Sequence[str], *, k: int = 10, depth: int = 100, **kw) -> list[list[Hit]]:
        if not isinstance(k, int) or k < 1:
            raise EncoderkitError(f"k must be a positive number of results, got {k!r}", hint="pass k >= 1")
        rankings = self.rank_many(queries, depth=max(depth, k), **kw)
        return [self.hits(r, k) for r in rankings]

    def hits(self, ranking: QueryRanking, k: int) -> list[Hit]:
        """The top ``k`` of a ranking as hits (text, offsets, section, title, per-stage explanation)."""
        final, snap = ranking.final, ranking.snapshot
        if snap is None:
            return []
        keys, scores, chunk_ids = final.keys[:k], final.scores[:k], final.best_chunk[:k]
        chunks = self.store.chunks_by_id(chunk_ids)
        docs = self.store.documents_by_rowid(sorted({c["doc"] for c in chunks.values()}))
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
                    stages=table.get(key, {}),
                )
            )
        return hits

    def document_ids(self, rowids: Sequence[int] | None = None) -> dict[int, str]:
        """Document row id -> user-facing document id (all live documents when ``rowids`` is None)."""
        if rowids is None:
            gen = self.context.manifest["generation"]
            return {row["id"]: doc_id for doc_id, row in self.store.visible_documents(gen).items()}
        return {r: row["doc_id"] for r, row in self.store.documents_by_rowid(list(rowids)).items()}
