"""BM25 over chunk texts, built on bm25s (scoring, sparse index, save/load without pickle).

Defaults follow bm25s' BEIR setup: Lucene BM25 (k1=1.5, b=0.75), lower-casing, English stop words and
the Snowball English stemmer (PyStemmer). Queries go through the same analysis as documents.

>>> idx = BM25Index.build(["the cat sat", "dogs run fast"])      # doctest: +SKIP
>>> idx.search("running dogs", k=1)                               # doctest: +SKIP
(array([1]), array([0.46...], dtype=float32))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .base import ChunkSet, Retriever
from .registry import register


@dataclass(frozen=True)
class BM25Params:
    """Scoring variant and text analysis. ``method``: lucene | robertson | atire | bm25l | bm25+."""

    method: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float = 0.5  # bm25l / bm25+ only
    stemmer: str | None = "english"
    stopwords: str | None = "en"
    lower: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BM25Params:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _stemmer(name: str | None):
    if not name:
        return None
    import Stemmer

    return Stemmer.Stemmer(name)


class BM25Index:
    """A bm25s retriever plus the analysis settings it was built with."""

    def __init__(self, retriever, params: BM25Params, n_docs: int):
        self.retriever = retriever
        self.params = params
        self.n_docs = n_docs
        self._stem = _stemmer(params.stemmer)

    @classmethod
    def build(cls, texts: Sequence[str], params: BM25Params = BM25Params()) -> BM25Index:
        import bm25s

        if not texts:
            return cls(None, params, 0)
        tokens = bm25s.tokenize(
            list(texts), lower=params.lower, stopwords=params.stopwords, stemmer=_stemmer(params.stemmer), show_progress=False
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
        """Query/document analysis: lower-case, split, drop stop words, stem."""
        import bm25s

        return bm25s.tokenize(
            list(texts),
            lower=self.params.lower,
            stopwords=self.params.stopwords,
            stemmer=self._stem,
            return_ids=False,
            show_progress=False,
        )

    def search_many(self, queries: Sequence[str], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top-``k`` (positions, scores) per query; documents scoring 0 (no term match) are dropped."""
        if self.retriever is None or not queries:
            return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in queries]
        k = min(k, self.n_docs)
        docs, scores = self.retriever.retrieve(self.analyze(queries), k=k, show_progress=False, n_threads=1)
        out = []
        for d, s in zip(docs, scores):
            keep = s > 0
            out.append((d[keep].astype(np.int64), s[keep].astype(np.float32)))
        return out

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.search_many([query], k)[0]


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


@register
class BM25Retriever(Retriever):
    """Lexical retrieval over chunk texts (title header included), bm25s underneath."""

    name = "bm25"

    def __init__(self, settings: dict, context):
        super().__init__(settings, context)
        self.params = BM25Params.from_dict(self.settings)
        self.index: BM25Index | None = None
        self.ids = np.zeros(0, np.int64)

    @classmethod
    def default_settings(cls) -> dict:
        return BM25Params().to_dict()

    def build(self, chunks: ChunkSet) -> None:
        self.index = BM25Index.build(chunks.texts, self.params)
        self.ids = np.asarray(chunks.ids, dtype=np.int64)

    def save(self, directory: Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.index.save(directory)

    def verify(self, directory: Path, chunk_ids: np.ndarray) -> list[str]:
        if not len(chunk_ids):
            return []
        index = BM25Index.load(directory, self.params, len(chunk_ids))
        return matrix_problems(index.retriever.scores, len(chunk_ids))

    def load(self, directory: Path, chunk_ids: np.ndarray) -> None:
        self.index = BM25Index.load(directory, self.params, len(chunk_ids))
        self.ids = np.asarray(chunk_ids, dtype=np.int64)
        if self.index.retriever is not None:
            problems = matrix_problems(self.index.retriever.scores, len(self.ids))
            if problems:  # never serve results from a damaged matrix
                raise ValueError(problems[0])

    def search(self, queries: Sequence[str], k: int, encoded: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.ids[pos], sc) for pos, sc in self.index.search_many(list(queries), k)]

    def stats(self) -> dict:
        return {"chunks": int(len(self.ids)), "params": self.params.to_dict()}
