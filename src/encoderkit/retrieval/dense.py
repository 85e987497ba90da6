"""Dense vector search with faiss: exact inner product by default, HNSW or IVF for large corpora.

Vectors are L2-normalised by the encoder, so inner product is cosine similarity. The exact index is
rebuilt from ``vectors.npy`` on load (a copy, fast); HNSW/IVF graphs are saved with
``faiss.write_index`` (faiss' own documented binary format, not pickle) beside the vectors.

>>> idx = DenseIndex.build(np.eye(3, dtype="float32"))            # doctest: +SKIP
>>> idx.search(np.array([[0, 1, 0]], "float32"), k=1)             # doctest: +SKIP
(array([[1]]), array([[1.]], dtype=float32))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..runtime import n_threads

KINDS = ("flat", "hnsw", "ivf")


@dataclass(frozen=True)
class DenseParams:
    """``kind``: flat (exact) | hnsw | ivf. HNSW: ``m``, ``ef_construction``, ``ef_search``.
    IVF: ``nlist`` (0 = 4*sqrt(n)), ``nprobe``."""

    kind: str = "flat"
    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 0
    nprobe: int = 16

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DenseParams":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _faiss():
    import faiss

    faiss.omp_set_num_threads(n_threads())
    return faiss


class DenseIndex:
    def __init__(self, index, vectors: np.ndarray, params: DenseParams):
        self.index = index
        self.vectors = vectors
        self.params = params

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @classmethod
    def build(cls, vectors: np.ndarray, params: DenseParams = DenseParams()) -> "DenseIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(cls._make(vectors, params), vectors, params)

    @staticmethod
    def _make(vectors: np.ndarray, params: DenseParams):
        faiss = _faiss()
        n, d = vectors.shape
        if params.kind == "flat" or n == 0:
            index = faiss.IndexFlatIP(d)
        elif params.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, params.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = params.ef_construction
        elif params.kind == "ivf":
            nlist = params.nlist or max(1, int(4 * math.sqrt(n)))
            nlist = min(nlist, max(1, n // 39))  # faiss wants ~39 training points per list
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
        else:
            raise ValueError(f"unknown dense index kind {params.kind!r}; use one of {KINDS}")
        if n:
            index.add(vectors)
        return index

    def save(self, directory: Path) -> None:
        np.save(Path(directory) / "vectors.npy", self.vectors, allow_pickle=False)
        if self.params.kind != "flat" and self.n:
            _faiss().write_index(self.index, str(Path(directory) / "dense.faiss"))

    @classmethod
    def load(cls, directory: Path, params: DenseParams) -> "DenseIndex":
        vectors = np.load(Path(directory) / "vectors.npy", allow_pickle=False)
        graph = Path(directory) / "dense.faiss"
        if params.kind != "flat" and graph.is_file():
            index = _faiss().read_index(str(graph))
        else:
            index = cls._make(vectors, params if params.kind == "flat" else DenseParams())
        return cls(index, vectors, params)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions [m, k], scores [m, k]) by inner product; unused slots are -1 and dropped later."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.n)
        if k == 0:
            m = queries.shape[0]
            return np.zeros((m, 0), np.int64), np.zeros((m, 0), np.float32)
        if self.params.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.params.ef_search, k)
        elif self.params.kind == "ivf":
            self.index.nprobe = self.params.nprobe
        scores, positions = self.index.search(queries, k)
        return positions.astype(np.int64), scores.astype(np.float32)
