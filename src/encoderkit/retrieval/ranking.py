"""The query pipeline over one committed generation: first-stage retrieval, per-document collapse,
fusion. Used by :class:`encoderkit.index.Index`; no state beyond the loaded :class:`Snapshot`.

Document mode (default): each stage ranks chunks, then a document takes the score and rank of its
best chunk (max-passage), so every stage yields a ranked list of documents; hybrid fuses those lists
with reciprocal rank fusion. Chunk mode ranks and fuses chunks directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .bm25 import BM25Index, BM25Params
from .dense import DenseIndex, DenseParams
from .fusion import RRF_K, rrf

MODES = ("bm25", "dense", "hybrid")
STAGES = {"bm25": ("bm25",), "dense": ("dense",), "hybrid": ("bm25", "dense")}


@dataclass
class Snapshot:
    """The search artifacts of one generation, loaded."""

    gen: int
    chunk_ids: np.ndarray
    chunk_docs: np.ndarray
    bm25: BM25Index
    dense: DenseIndex
    n_docs: int = 0

    @classmethod
    def load(cls, directory: Path, gen: int, bm25_params: BM25Params, dense_params: DenseParams) -> "Snapshot":
        chunk_ids = np.load(directory / "chunk_ids.npy", allow_pickle=False)
        chunk_docs = np.load(directory / "chunk_docs.npy", allow_pickle=False)
        bm25 = BM25Index.load(directory / "bm25", bm25_params, len(chunk_ids))
        dense = DenseIndex.load(directory, dense_params)
        n_docs = int(len(np.unique(chunk_docs))) if len(chunk_docs) else 0
        return cls(gen, chunk_ids, chunk_docs, bm25, dense, n_docs)

    @property
    def n_chunks(self) -> int:
        return int(len(self.chunk_ids))


@dataclass
class Ranked:
    """One stage's (or the fused) ranking: keys best first, with scores and each key's best chunk."""

    keys: list
    scores: list
    best_pos: list  # position (into chunk_ids) of the chunk that gave the key its score

    def __len__(self):
        return len(self.keys)


@dataclass
class QueryRanking:
    """What a query went through: the final ranking, each stage's ranking, and time per stage (ms)."""

    final: Ranked
    stages: dict[str, Ranked]
    timings_ms: dict[str, float]


@dataclass
class Hit:
    """One search result. ``stages`` maps stage name -> {"rank", "score"} (rank 1-based)."""

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

    def to_dict(self) -> dict:
        return {"rank": self.rank, "doc_id": self.doc_id, "chunk_id": self.chunk_id, "score": self.score,
                "title": self.title, "path": self.path, "start": self.start, "end": self.end,
                "section": self.section, "text": self.text, "stages": self.stages}


def collapse(positions: np.ndarray, scores: np.ndarray, chunk_docs: np.ndarray, by: str) -> Ranked:
    """Turn a best-first chunk ranking into a ranking of documents (first = best chunk) or chunks."""
    positions = np.asarray(positions)
    valid = positions >= 0
    positions, scores = positions[valid], np.asarray(scores)[valid]
    if by == "chunk":
        return Ranked(positions.tolist(), scores.tolist(), positions.tolist())
    docs = chunk_docs[positions]
    _, first = np.unique(docs, return_index=True)
    first.sort()
    return Ranked(docs[first].tolist(), scores[first].tolist(), positions[first].tolist())


def fetch_depth(depth: int, snap: Snapshot, by: str) -> int:
    """How many chunks to fetch so that, usually, ``depth`` distinct documents come back."""
    if by == "chunk" or snap.n_docs == 0:
        return min(depth, snap.n_chunks)
    ratio = snap.n_chunks / snap.n_docs
    return min(snap.n_chunks, int(math.ceil(depth * ratio * 1.3)) + 10)


def stage_rankings(stage: str, queries: Sequence[str], qvecs, snap: Snapshot, depth: int, by: str) -> list[Ranked]:
    """Rank documents (or chunks) for each query with one first-stage retriever, ``depth`` deep."""
    fetch = fetch_depth(depth, snap, by)
    out: list[Ranked] = []
    while True:
        if stage == "bm25":
            raw = snap.bm25.search_many(queries, fetch)
        else:
            pos, sc = snap.dense.search(qvecs, fetch)
            raw = list(zip(pos, sc))
        out = [collapse(p, s, snap.chunk_docs, by) for p, s in raw]
        short = [i for i, (r, (p, _)) in enumerate(zip(out, raw)) if len(r) < depth and len(p) >= fetch]
        if not short or fetch >= snap.n_chunks:
            break
        fetch = min(snap.n_chunks, fetch * 2)  # a few documents had many matching chunks: dig deeper
    for r in out:
        del r.keys[depth:], r.scores[depth:], r.best_pos[depth:]
    return out


def fuse(rankings: dict[str, Ranked], k: int = RRF_K) -> Ranked:
    """RRF over stage rankings; a key's best chunk comes from the stage that ranked it highest."""
    fused = rrf({name: r.keys for name, r in rankings.items()}, k=k)
    best: dict = {}
    for name, r in rankings.items():
        for rank, (key, pos) in enumerate(zip(r.keys, r.best_pos)):
            if key not in best or rank < best[key][0]:
                best[key] = (rank, pos)
    return Ranked([key for key, _ in fused], [s for _, s in fused], [best[key][1] for key, _ in fused])


def stage_table(rankings: dict[str, Ranked]) -> dict:
    """key -> {stage: {"rank": r, "score": s}} for explanations."""
    table: dict = {}
    for name, r in rankings.items():
        for rank, (key, score) in enumerate(zip(r.keys, r.scores), start=1):
            table.setdefault(key, {})[name] = {"rank": rank, "score": float(score)}
    return table
