"""One retriever over many segments (or shards): every part is searched, the results merged into one
ranking by score (equal scores by chunk id), deleted chunks left out.

Retrievers whose scores depend on the whole collection (``collection_statistics``, e.g. BM25's
document frequencies) are searched in two phases, as Lucene's ``DFS_QUERY_THEN_FETCH`` does across
shards: the parts' :meth:`Retriever.statistics` are summed first, then every part scores with the sum,
so a chunk scores the same however the collection is split. A distributed index can put a
:class:`SegmentedRetriever` over remote parts that offer ``statistics`` and ``search``; a part may answer
with a pending result (an object with ``result()``): every part is asked before any answer is awaited,
so remote parts work in parallel.

>>> import numpy as np
>>> class Fixed:
...     collection_statistics = skips_deleted = False
...     def __init__(self, ids, scores): self.ids, self.scores = np.array(ids), np.array(scores, np.float32)
...     def encode_queries(self, queries): return None
...     def search(self, queries, k, encoded=None): return [(self.ids[:k], self.scores[:k])]
>>> parts = [Part(np.array([1, 2]), None, Fixed([1, 2], [0.9, 0.4])),
...          Part(np.array([5, 6]), np.array([False, True]), Fixed([5, 6], [0.8, 0.7]))]
>>> ids, scores = SegmentedRetriever("x", parts).search(["q"], 2)[0]
>>> ids.tolist(), [round(float(s), 2) for s in scores]
([1, 6], [0.9, 0.7])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .base import add_statistics, top_k


def resolve(answer: Any) -> Any:
    """A part's answer, waiting for it when the part answered with a pending result.

    >>> class Later:
    ...     def result(self): return 42
    >>> resolve(Later()), resolve(7)
    (42, 7)
    """
    done = getattr(answer, "result", None)
    return done() if callable(done) else answer


@dataclass
class Part:
    """One segment's chunks (ascending), which are live (None: all) and its loaded retriever."""

    chunk_ids: np.ndarray
    live: np.ndarray | None
    retriever: Any

    @property
    def deleted(self) -> int:
        return 0 if self.live is None else int(len(self.live) - np.count_nonzero(self.live))


class SegmentedRetriever:
    """The Retriever query interface (``encode_queries``, ``statistics``, ``search``) over parts."""

    def __init__(self, name: str, parts: Sequence[Part], template=None):
        self.name = name
        self.parts = list(parts)
        self.template = template if template is not None else (self.parts[0].retriever if self.parts else None)
        self.collection_statistics = bool(getattr(self.template, "collection_statistics", False))

    def __getattr__(self, name: str):
        """What is the same for every segment (``model``, ``payload_key``, ``settings``) is the first
        segment's retriever's."""
        if name.startswith("__") or name in ("template", "parts"):
            raise AttributeError(name)
        if self.template is None:
            raise AttributeError(f"{self.name} has no segments, so no {name!r}")
        return getattr(self.template, name)

    def configure(self, **settings) -> None:
        """Change search-time settings (e.g. ``nprobe``) of every segment's retriever in place."""
        for p in self.parts:
            p.retriever.settings.update(settings)
        if self.template is not None and all(p.retriever is not self.template for p in self.parts):
            self.template.settings.update(settings)

    def encode_queries(self, queries: Sequence[str]) -> Any:
        return self.template.encode_queries(queries) if self.template is not None else None

    def statistics(self, encoded: Any) -> dict:
        """The collection's statistics for these encoded queries: the parts' shares summed."""
        if not self.collection_statistics:
            return {}
        asked = [p.retriever.statistics(encoded, p.live) for p in self.parts]  # every part first: remote ones overlap
        return add_statistics(resolve(a) for a in asked)

    def search(self, queries: Sequence[str], k: int, encoded: Any = None, *, stats: dict | None = None):
        if encoded is None:
            encoded = self.encode_queries(queries)
        if self.collection_statistics and stats is None:
            stats = self.statistics(encoded)
        asked = [self._search_part(p, queries, k, encoded, stats) for p in self.parts]
        per_part = [resolve(a) for a in asked]
        out = []
        for i in range(len(queries)):
            ids = [r[i][0] for r in per_part]
            scores = [r[i][1] for r in per_part]
            if not ids:
                out.append((np.zeros(0, np.int64), np.zeros(0, np.float32)))
                continue
            out.append(top_k(np.concatenate(scores), np.concatenate(ids), k))
        return out

    def rerank_scores(self, query: str, chunk_ids: Sequence[int], reranker) -> np.ndarray | None:
        """Scores of ``reranker`` for the given chunks from what the parts store (each chunk asked of the
        segment holding it), or None when any part cannot give them."""
        ids = np.asarray(chunk_ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        todo = np.ones(len(ids), dtype=bool)
        for part in self.parts:
            hook = getattr(part.retriever, "rerank_scores", None)
            if not len(part.chunk_ids) or not todo.any():
                continue
            pos = np.clip(np.searchsorted(part.chunk_ids, ids), 0, len(part.chunk_ids) - 1)
            mine = todo & (part.chunk_ids[pos] == ids)
            if not mine.any():
                continue
            scores = resolve(hook(query, ids[mine], reranker)) if hook is not None else None
            if scores is None:
                return None
            out[mine] = np.asarray(scores, dtype=np.float32)
            todo &= ~mine
        return None if todo.any() else out

    def _search_part(self, part: Part, queries, k: int, encoded, stats):
        r = part.retriever
        kwargs = {}
        if self.collection_statistics:
            kwargs["stats"] = stats
        if getattr(type(r), "skips_deleted", False):
            return r.search(queries, k, encoded, live=part.live, **kwargs)
        deleted = part.deleted
        raw = resolve(r.search(queries, k + deleted, encoded, **kwargs))
        if not deleted:
            return raw
        out = []
        for ids, sc in raw:  # a retriever that knows nothing of deletions: drop them here
            ids = np.asarray(ids, dtype=np.int64)
            pos = np.clip(np.searchsorted(part.chunk_ids, ids), 0, max(0, len(part.chunk_ids) - 1))
            keep = part.live[pos] & (part.chunk_ids[pos] == ids)
            out.append((ids[keep][:k], np.asarray(sc)[keep][:k]))
        return out
