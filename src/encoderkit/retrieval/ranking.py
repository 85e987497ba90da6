"""Rankings and results: what a stage returns, how chunk rankings become document rankings, how
stage rankings are fused, and the hits a user sees. Pure data and pure functions.

Document mode (default): each stage ranks chunks, then a document takes the score and rank of its
best chunk (max-passage), so every stage yields a ranked list of documents. Chunk mode ranks chunks.

Equal scores are ordered the way trec_eval orders them (``comp_sim_docno`` in its ``form_res_rels.c``):
scores compared in single precision, ties by document id in *descending* string order. Every ranking
this package produces (a stage, its per-document collapse, RRF fusion, reranking) follows that rule,
so a ranking, the run file written from it and trec_eval's reading of that file agree, and the order
never depends on how a retriever happened to return equal scores. ``ties`` carries each key's place
in that order (0 = first among equals); :func:`tie_keys` computes it from document ids.

>>> r = collapse(np.array([7, 9, 8]), np.array([3.0, 2.0, 1.0]), np.array([1, 2, 1]), "document")
>>> r.keys, r.best_chunk
([1, 2], [7, 9])
>>> tie_keys(["d1", "d10", "d2"])        # trec_eval puts "d2" first among equal scores, then "d10", "d1"
[2, 1, 0]
>>> collapse(np.array([5, 6, 7]), np.array([1.0, 1.0, 1.0]), np.array([0, 1, 2]), "document", ties=[2, 1, 0]).keys
[2, 1, 0]
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
    ties: list | None = None  # each key's place among equal scores (see module docstring); None: by key
    chunk_scores: dict | None = None  # document mode: every retrieved chunk's score (explanations)

    def __len__(self):
        return len(self.keys)

    def head(self, n: int) -> Ranked:
        ties = self.ties[:n] if self.ties is not None else None
        return Ranked(self.keys[:n], self.scores[:n], self.best_chunk[:n], ties, self.chunk_scores)

    def tie_of(self) -> dict:
        """key -> tie key."""
        return dict(zip(self.keys, self.ties if self.ties is not None else self.keys))


@dataclass
class QueryRanking:
    """What a query went through: the final ranking, each stage's ranking, time per stage (ms), the
    snapshot (committed generation) all of it was computed on, and how its stages were fused."""

    final: Ranked
    stages: dict[str, Ranked]
    timings_ms: dict[str, float]
    snapshot: Any = None
    fusion: dict | None = None  # how the stages were fused for this query (FusionRule.apply's explanation)


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
    annotations: dict = field(default_factory=dict)
    fmt: str = ""  # the document's format (text, markdown, rst, html, beir): where its headings are
    mid_word: bool = False  # the chunk's text begins inside a word (a token window can)
    mid_line: bool = False  # the chunk's text begins inside a line (so, for prose, maybe inside a sentence)
    fusion: dict | None = None  # how the query's stages were fused (the same for all its hits; --explain)

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
            "annotations": self.annotations,
        }


def tie_keys(doc_ids) -> list[int]:
    """Place of each document id among equal scores, trec_eval's way: descending string order (0 first)."""
    order = sorted(range(len(doc_ids)), key=lambda i: doc_ids[i], reverse=True)
    out = [0] * len(doc_ids)
    for place, i in enumerate(order):
        out[i] = place
    return out


def best_first(scores, ties) -> np.ndarray:
    """Indices that order items best first: score descending (compared in single precision, as trec_eval
    does), then ``ties`` ascending."""
    ties = np.asarray(ties)
    if ties.dtype.kind not in "iu":  # keys that are not row ids (e.g. strings): their sorted order
        ties = np.unique(ties, return_inverse=True)[1] if len(ties) else ties.astype(np.int64)
    return np.lexsort((ties.astype(np.int64), -np.asarray(scores, dtype=np.float32)))


def collapse(chunk_ids: np.ndarray, scores: np.ndarray, docs: np.ndarray, by: str, ties=None) -> Ranked:
    """Turn a chunk ranking into a ranking of documents (a document scores as its best chunk) or of
    chunks. ``docs[i]`` is the document of ``chunk_ids[i]``, ``ties[i]`` that document's tie key
    (default: its row id). Equal scores are ordered by tie key, then chunk id."""
    chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    docs = np.asarray(docs, dtype=np.int64)
    ties = docs if ties is None else np.asarray(ties, dtype=np.int64)
    order = np.lexsort((chunk_ids, ties, -scores.astype(np.float32)))
    chunk_ids, scores, docs, ties = chunk_ids[order], scores[order], docs[order], ties[order]
    if by == "chunk":
        return Ranked(chunk_ids.tolist(), scores.tolist(), chunk_ids.tolist(), (ties * 2**32 + chunk_ids).tolist())
    _, first = np.unique(docs, return_index=True)
    first.sort()
    return Ranked(
        docs[first].tolist(),
        scores[first].tolist(),
        chunk_ids[first].tolist(),
        ties[first].tolist(),
        dict(zip(chunk_ids.tolist(), scores.tolist())),
    )


def fuse(rankings: dict[str, Ranked], k: int = RRF_K, *, method: str = "rrf", weights: dict | None = None) -> Ranked:
    """Fuse stage rankings (``method``: rrf | weighted, see :mod:`.fusion`); equal fused scores ordered
    by tie key; a key's shown chunk comes from the stage that ranked it highest."""
    if method == "weighted":
        fused = weighted({name: list(zip(r.keys, r.scores)) for name, r in rankings.items()}, weights)
    else:
        fused = rrf({name: r.keys for name, r in rankings.items()}, k=k, weights=weights)
    tie: dict = {}
    best: dict = {}
    for r in rankings.values():
        tie.update(r.tie_of())
        for rank, (key, chunk) in enumerate(zip(r.keys, r.best_chunk)):
            if key not in best or rank < best[key][0]:
                best[key] = (rank, chunk)
    keys = [key for key, _ in fused]
    order = best_first([s for _, s in fused], [tie[key] for key in keys]) if fused else []
    keys = [keys[i] for i in order]
    return Ranked(keys, [fused[i][1] for i in order], [best[key][1] for key in keys], [tie[key] for key in keys])


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


def shown_chunk_scores(entry: dict, rankings: dict[str, Ranked], key, shown_chunk: int) -> dict:
    """A hit's per-stage explanation with, for each stage, the score it gave the chunk that is shown
    (``shown_chunk_score``; None when that stage did not retrieve it) next to the chunk it preferred
    (``chunk_id``) and that chunk's score (``score``, the document's score in that stage).

    >>> r = Ranked([5], [0.9], [794], [0], {794: 0.9, 796: 0.7})
    >>> shown_chunk_scores({"dense": {"rank": 1, "score": 0.9, "chunk_id": 794}}, {"dense": r}, 5, 796)
    {'dense': {'rank': 1, 'score': 0.9, 'chunk_id': 794, 'shown_chunk_score': 0.7}}
    """
    out = {}
    for name, st in entry.items():
        st = dict(st)
        r = rankings.get(name)
        if st.get("chunk_id") == shown_chunk:
            st["shown_chunk_score"] = st["score"]
        elif r is not None and r.chunk_scores is not None and shown_chunk in r.chunk_scores:
            st["shown_chunk_score"] = float(r.chunk_scores[shown_chunk])
        else:
            st["shown_chunk_score"] = None
        out[name] = st
    return out
