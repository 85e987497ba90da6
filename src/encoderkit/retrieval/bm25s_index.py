"""bm25s' own BM25 index (eager score matrices), kept for three jobs: reading the ``bm25/`` folders of
indexes written before segments (formats 1 and 2, until their next update migrates them) and serving
as the reference the hand-written segment scoring is checked against (``tests/agreement/test_bm25_agreement.py``),
and the in-memory BM25 of training (negative mining, validation, teachers).

>>> idx = BM25Index.build(["the cat sat", "dogs run fast"], BM25Params())   # doctest: +SKIP
>>> idx.search("running dogs", k=1)                                          # doctest: +SKIP
(array([1]), array([0.46...], dtype=float32))
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .bm25_params import BM25Params, analyze, stemmer


class BM25Index:
    """A bm25s retriever plus the analysis settings it was built with."""

    def __init__(self, retriever, params: BM25Params, n_docs: int):
        self.retriever = retriever
        self.params = params
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: Sequence[str], params: BM25Params = BM25Params()) -> BM25Index:
        import bm25s

        if not texts:
            return cls(None, params, 0)
        tokens = bm25s.tokenize(
            list(texts), lower=params.lower, stopwords=params.stopwords, stemmer=stemmer(params.stemmer), show_progress=False
        )
        retriever = bm25s.BM25(method=params.method, k1=params.k1, b=params.b, delta=params.delta)
        retriever.index(tokens, show_progress=False)
        return cls(retriever, params, len(texts))

    def save(self, directory: Path) -> None:
        if self.retriever is not None:
            self.retriever.save(str(directory), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: Path, params: BM25Params, n_docs: int, *, mmap: bool = True) -> BM25Index:
        import bm25s

        if n_docs == 0:
            return cls(None, params, 0)
        retriever = bm25s.BM25.load(str(directory), mmap=mmap, allow_pickle=False, show_progress=False)
        return cls(retriever, params, n_docs)

    def analyze(self, texts: Sequence[str]) -> list[list[str]]:
        """The terms of each text under this index's analysis settings (what bm25s' scoring takes)."""
        return analyze(list(texts), self.params)

    def search_many(self, queries: Sequence[str], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top-``k`` (positions, scores) per query; documents scoring 0 (no term match) are dropped."""
        if self.retriever is None or not queries:
            return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in queries]
        k = min(k, self.n_docs)
        docs, scores = self.retriever.retrieve(analyze(queries, self.params), k=k, show_progress=False, n_threads=1)
        out = []
        for d, s in zip(docs, scores):
            keep = s > 0
            out.append((d[keep].astype(np.int64), s[keep].astype(np.float32)))
        return out

    def scores(self, query: str) -> np.ndarray:
        """Every document's score for one query (bm25s' own ``get_scores``)."""
        tokens = analyze([query], self.params)[0]
        return self.retriever.get_scores(tokens) if tokens else np.zeros(self.n_docs, np.float32)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.search_many([query], k)[0]


def is_bm25s_folder(directory: Path) -> bool:
    return (Path(directory) / "params.index.json").is_file() or (Path(directory) / "data.csc.index.npy").is_file()


def matrix_problems(scores: dict, n_chunks: int) -> list[str]:
    """What is wrong with a bm25s score matrix (CSC: data, indices, indptr, num_docs) for ``n_chunks``."""
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    if int(scores.get("num_docs", n_chunks)) != n_chunks:
        return [f"built for {scores.get('num_docs')} chunks, the generation has {n_chunks}"]
    if data.ndim != 1 or indices.shape != data.shape or indptr.ndim != 1 or len(indptr) < 1:
        return ["score matrix arrays have inconsistent shapes"]
    if int(indptr[0]) != 0 or int(indptr[-1]) != len(data) or (len(indptr) > 1 and bool(np.any(np.diff(indptr) < 0))):
        return ["score matrix pointers are out of order"]
    if len(data) and (not bool(np.isfinite(data).all()) or float(np.min(data)) < 0):
        return ["term scores contain NaN, infinite or negative values"]
    if len(indices) and (int(np.min(indices)) < 0 or int(np.max(indices)) >= n_chunks):
        return ["term postings point outside the generation's chunks"]
    return []
