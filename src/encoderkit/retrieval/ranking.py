"""Rankings and results: what a stage returns, how chunk rankings become document rankings, how
stage rankings are fused, and the hits a user sees. Pure data and pure functions.

Document mode (default): each stage ranks chunks, then a document takes the score and rank of its
best chunk (max-passage), so every stage yields a ranked list of documents. Chunk mode ranks chunks.

>>> r = collapse(np.array([7, 9, 8]), np.array([3.0, 2.0, 1.0]), np.array([1, 2, 1]), "document")
>>> r.keys, r.best_chunk
([1, 2], [7, 9])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fusion import RRF_K, rrf, weighted


@dataclass
class Ranked:
    """One stage's (or the fused) ranking: keys best first (document row ids, or chunk ids in chunk
    mode), with scores and each key's best chunk id."""

    keys: list
    scores: list
    best_chunk: list

    def __len__(self):
        return len(self.keys)

    def head(self, n: int) -> Ranked:
        return Ranked(self.keys[:n], self.scores[:n], self.best_chunk[:n])


@dataclass
class QueryRanking:
    """What a query went through: the final ranking, each stage's ranking, time per stage (ms), and
    the snapshot (committed generation) all of it was computed on."""

    final: Ranked
    stages: dict[str, Ranked]
    timings_ms: dict[str, float]
    snapshot: Any = None


@dataclass
class Hit:
    """One search result. ``stages`` maps stage name -> {"rank", "score", "chunk_id"} (rank 1-based):
    where each stage put this result, and which chunk of it that stage preferred."""

    rank: int
    score: float
    doc_id: str
    chunk_id: int
    title: str = ""
    path: str = ""
    text: str = ""
    start: int = 0
    end: int = 0
    section: str = ""
    stages: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "score": self.score,
            "title": self.title,
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "section": self.section,
            "text": self.text,
            "stages": self.stages,
            "meta": self.meta,
        }


def collapse(chunk_ids: np.ndarray, scores: np.ndarray, docs: np.ndarray, by: str) -> Ranked:
    """Turn a best-first chunk ranking into a ranking of documents (first chunk = best) or chunks.
    ``docs[i]`` is the document of ``chunk_ids[i]``."""
    chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if by == "chunk":
        return Ranked(chunk_ids.tolist(), scores.tolist(), chunk_ids.tolist())
    docs = np.asarray(docs, dtype=np.int64)
    _, first = np.unique(docs, return_index=True)
    first.sort()
    return Ranked(docs[first].tolist(), scores[first].tolist(), chunk_ids[first].tolist())


def fuse(rankings: dict[str, Ranked], k: int = RRF_K, *, method: str = "rrf", weights: dict | None = None) -> Ranked:
    """Fuse stage rankings (``method``: rrf | weighted, see :mod:`.fusion`); a key's shown chunk comes
    from the stage that ranked it highest."""
    if method == "weighted":
        fused = weighted({name: list(zip(r.keys, r.scores)) for name, r in rankings.items()}, weights)
    else:
        fused = rrf({name: r.keys for name, r in rankings.items()}, k=k, weights=weights)
    best: dict = {}
    for r in rankings.values():
        for rank, (key, chunk) in enumerate(zip(r.keys, r.best_chunk)):
            if key not in best or rank < best[key][0]:
                best[key] = (rank, chunk)
    return Ranked([key for key, _ in fused], [s for _, s in fused], [best[key][1] for key, _ in fused])


def stage_table(rankings: dict[str, Ranked]) -> dict:
    """key -> {stage: {"rank": r, "score": s, "chunk_id": c}} for explanations.

    >>> stage_table({"bm25": Ranked(["a"], [2.5], [7])})
    {'a': {'bm25': {'rank': 1, 'score': 2.5, 'chunk_id': 7}}}
    """
    table: dict = {}
    for name, r in rankings.items():
        for rank, (key, score, chunk) in enumerate(zip(r.keys, r.scores, r.best_chunk), start=1):
            table.setdefault(key, {})[name] = {"rank": rank, "score": float(score), "chunk_id": int(chunk)}
    return table
