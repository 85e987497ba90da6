"""One shard of a sharded index seen as one part of a larger collection: its retriever (a
:class:`~encoderkit.retrieval.segmented.SegmentedRetriever` over the shard's segments) with chunk ids
moved into a range of their own (``offset``), so several shards merge into one ranking exactly like
segments do. The shard handles its own deletions; collection statistics (BM25's document frequencies)
are summed over every shard before any shard scores, so scores equal one index's over the same
documents.

>>> offset_of(2), shard_of(np.array([5, offset_of(2) + 7]))
(8796093022208, array([0, 2]))
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

SHARD_BITS = 42  # chunk and document row ids of one shard stay below 2**42 (4 trillion)


def offset_of(shard: int) -> int:
    """Where shard ``shard``'s chunk and document row ids start in the combined id space."""
    return int(shard) << SHARD_BITS


def shard_of(ids: np.ndarray) -> np.ndarray:
    """The shard each combined id belongs to."""
    return np.asarray(ids, dtype=np.int64) >> SHARD_BITS


def local_ids(ids: np.ndarray) -> np.ndarray:
    """Combined ids back to the ids inside their shard."""
    return np.asarray(ids, dtype=np.int64) & ((1 << SHARD_BITS) - 1)


class ShardView:
    """A shard's retriever answering in combined ids (see the module docstring)."""

    skips_deleted = True  # the shard's own segments drop their deleted chunks

    def __init__(self, inner, offset: int, pool=None):
        self.inner = inner
        self.offset = int(offset)
        self.pool = pool  # a concurrent.futures executor: shards answer in parallel (futures have result())

    @property
    def collection_statistics(self) -> bool:
        return bool(getattr(self.inner, "collection_statistics", False))

    def encode_queries(self, queries: Sequence[str]) -> Any:
        return self.inner.encode_queries(queries)

    def statistics(self, encoded: Any, live: np.ndarray | None = None) -> dict:
        if self.pool is not None:
            return self.pool.submit(self.inner.statistics, encoded)
        return self.inner.statistics(encoded)

    def search(self, queries: Sequence[str], k: int, encoded: Any = None, live=None, stats: dict | None = None):
        if self.pool is not None:
            return self.pool.submit(self._search, queries, k, encoded, stats)
        return self._search(queries, k, encoded, stats)

    def _search(self, queries: Sequence[str], k: int, encoded: Any, stats: dict | None):
        kwargs = {"stats": stats} if self.collection_statistics else {}
        return [(np.asarray(ids, np.int64) + self.offset, sc) for ids, sc in self.inner.search(queries, k, encoded, **kwargs)]

    def rerank_scores(self, query: str, chunk_ids: Sequence[int], reranker) -> np.ndarray | None:
        hook = getattr(self.inner, "rerank_scores", None)
        return None if hook is None else hook(query, np.asarray(chunk_ids, np.int64) - self.offset, reranker)
