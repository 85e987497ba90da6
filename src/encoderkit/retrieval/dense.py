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
from typing import Any, Sequence

import numpy as np

from ..runtime import n_threads
from .base import ChunkSet, Retriever
from .registry import register

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
    def from_dict(cls, d: dict) -> DenseParams:
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
    def build(cls, vectors: np.ndarray, params: DenseParams = DenseParams()) -> DenseIndex:
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
        Path(directory).mkdir(parents=True, exist_ok=True)
        np.save(Path(directory) / "vectors.npy", self.vectors, allow_pickle=False)
        if self.params.kind != "flat" and self.n:
            _faiss().write_index(self.index, str(Path(directory) / "dense.faiss"))

    @classmethod
    def load(cls, directory: Path, params: DenseParams, vectors: np.ndarray | None = None) -> DenseIndex:
        if vectors is None:
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


def vector_problems(vectors: np.ndarray, n: int, dim: int, *, normalized: bool = True, block: int = 65536) -> list[str]:
    """What is wrong with stored chunk vectors: shape, dtype, non-finite values, rows that are not unit
    length (the encoder L2-normalises; an all-zero row is allowed). Reads in blocks (mmap-friendly).

    >>> vector_problems(np.eye(2, dtype="float32"), 2, 2), vector_problems(np.full((2, 2), np.nan, "float32"), 2, 2)
    ([], ['vectors contain NaN or infinite values'])
    """
    if vectors.dtype != np.float32 or vectors.ndim != 2:
        return [f"vectors are {vectors.dtype}{list(vectors.shape)}, expected float32 [{n}, {dim}]"]
    if vectors.shape[0] != n:
        return [f"{vectors.shape[0]} vectors for {n} chunks"]
    if n and vectors.shape[1] != dim:
        return [f"vectors have dimension {vectors.shape[1]}, the model {dim}"]
    for i in range(0, n, block):
        part = np.asarray(vectors[i : i + block])
        if not np.isfinite(part).all():
            return ["vectors contain NaN or infinite values"]
        if normalized:
            sq = np.einsum("ij,ij->i", part, part)
            bad = (np.abs(sq - 1.0) > 1e-3) & (sq != 0.0)
            if bad.any():
                row, norm = i + int(np.argmax(bad)), float(np.sqrt(sq[bad][0]))
                return [f"vector of chunk row {row} has norm {norm:.4g}, not 1 (overwritten?)"]
    return []


def payload_key(model: dict) -> str:
    """What the stored chunk vectors depend on: the model's weights, pooling, token limit, normalisation.

    >>> payload_key({"fingerprint": "ab12", "pooling": "mean", "max_length": 256})
    'ab12|mean|256|l2'
    """
    return f"{model['fingerprint']}|{model['pooling']}|{model['max_length']}|l2"


@register
class DenseRetriever(Retriever):
    """Bi-encoder retrieval: the index's model embeds every chunk; queries are embedded at search time."""

    name = "dense"
    encodes = True
    incremental = True

    def __init__(self, settings: dict, context):
        super().__init__(settings, context)
        self.params = DenseParams.from_dict(self.settings)
        self.index: DenseIndex | None = None
        self.ids = np.zeros(0, np.int64)

    @classmethod
    def default_settings(cls) -> dict:
        return DenseParams().to_dict()

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        checked = super().check_settings(settings)
        if checked["kind"] not in KINDS:
            from ..errors import EncoderkitError

            raise EncoderkitError(f"unknown dense index kind '{checked['kind']}'", hint=f"use one of: {', '.join(KINDS)}")
        return checked

    @property
    def dim(self) -> int:
        return int(self.context.manifest["model"]["dim"])

    def payload_key(self) -> str:
        return payload_key(self.context.manifest["model"])

    def encode_chunks(self, texts: Sequence[str]) -> list[bytes]:
        vecs = self.context.encoder.encode(list(texts), batch_size=32, show_progress=False)
        return [np.ascontiguousarray(v, dtype=np.float32).tobytes() for v in vecs]

    def _vectors(self, chunks: ChunkSet) -> np.ndarray:
        if not len(chunks):
            return np.zeros((0, self.dim), np.float32)
        return np.frombuffer(b"".join(chunks.payloads), dtype=np.float32).reshape(len(chunks), -1).copy()

    def build(self, chunks: ChunkSet) -> None:
        self.index = DenseIndex.build(self._vectors(chunks), self.params)
        self.ids = np.asarray(chunks.ids, dtype=np.int64)

    def add(self, chunks: ChunkSet) -> None:
        vectors = np.vstack([self.index.vectors, self._vectors(chunks)])
        self.ids = np.concatenate([self.ids, np.asarray(chunks.ids, dtype=np.int64)])
        order = np.argsort(self.ids, kind="stable")
        self.ids, vectors = self.ids[order], vectors[order]
        self.index = DenseIndex.build(vectors, self.params)

    def remove(self, chunk_ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, np.asarray(chunk_ids, dtype=np.int64))
        self.ids = self.ids[keep]
        self.index = DenseIndex.build(self.index.vectors[keep], self.params)

    def save(self, directory: Path) -> None:
        self.index.save(directory)

    @staticmethod
    def _folder(directory: Path) -> Path:
        directory = Path(directory)
        if not (directory / "vectors.npy").is_file() and (directory.parent / "vectors.npy").is_file():
            return directory.parent  # format 1: the vectors sat at the top of the generation folder
        return directory

    def verify(self, directory: Path, chunk_ids: np.ndarray) -> list[str]:
        vectors = np.load(self._folder(directory) / "vectors.npy", mmap_mode="r", allow_pickle=False)
        return vector_problems(vectors, len(chunk_ids), self.dim)

    def load(self, directory: Path, chunk_ids: np.ndarray) -> None:
        self.ids = np.asarray(chunk_ids, dtype=np.int64)
        vectors = np.load(self._folder(directory) / "vectors.npy", allow_pickle=False)
        problems = vector_problems(vectors, len(self.ids), self.dim)
        if problems:  # never serve results from damaged vectors
            raise ValueError(problems[0])
        self.index = DenseIndex.load(self._folder(directory), self.params, vectors=vectors)

    def encode_queries(self, queries: Sequence[str]) -> Any:
        return self.context.encoder.encode(list(queries), batch_size=64)

    def search(self, queries: Sequence[str], k: int, encoded: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        qvecs = encoded if encoded is not None else self.encode_queries(queries)
        pos, sc = self.index.search(qvecs, k)
        out = []
        for p, s in zip(pos, sc):
            keep = p >= 0
            out.append((self.ids[p[keep]], s[keep]))
        return out

    def stats(self) -> dict:
        n = self.index.n if self.index is not None else 0
        return {"chunks": n, "vector_bytes": int(self.index.vectors.nbytes) if n else 0, "params": self.params.to_dict()}
