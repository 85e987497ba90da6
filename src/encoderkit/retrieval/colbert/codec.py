"""ColBERTv2 residual compression (Santhanam et al., NAACL 2022), written by hand on numpy + faiss
(pylate / fast-plaid do not install on this stack).

A token vector ``v`` is stored as the id of its nearest centroid ``c`` (k-means on a sample of the
index's token vectors, faiss, spherical) plus its residual ``v - c`` quantised to ``nbits`` (1, 2 or 4)
bits per dimension. The bucket cut-offs are quantiles of held-out residual values and each bucket's
weight (the value it decodes to) is the quantile at its middle, so the buckets follow the data.
``nbits=0`` keeps the vectors as float16 (the uncompressed reference). Decoding is ``c + weights[bucket]``,
renormalised to unit length.

Bytes per token: the centroid id (2 bytes up to 65,536 centroids, else 4) + ``dim * nbits / 8``
(128 dims: 1 bit 18 B, 2 bits 34 B, 4 bits 66 B; float16 258 B).

>>> pack(np.array([[3, 0, 1, 2]], np.uint8), 2).tolist()       # 4 two-bit values in one byte
[[198]]
>>> lookup_table(np.array([-1.0, -0.1, 0.1, 1.0], np.float32), 2)[198].tolist()
[1.0, -1.0, -0.10000000149011612, 0.10000000149011612]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...runtime import n_threads

NBITS = (0, 1, 2, 4)


def pack(buckets: np.ndarray, nbits: int) -> np.ndarray:
    """Bucket indices [n, dim] (each < 2**nbits) packed into bytes [n, dim * nbits / 8], first value in
    the high bits."""
    per = 8 // nbits
    n, dim = buckets.shape
    b = buckets.astype(np.uint8).reshape(n, dim // per, per)
    shifts = (8 - nbits * (np.arange(per) + 1)).astype(np.uint8)
    return np.bitwise_or.reduce(b << shifts, axis=2).astype(np.uint8)


def unpack(packed: np.ndarray, nbits: int) -> np.ndarray:
    """The inverse of :func:`pack`: bucket indices [n, dim]."""
    per = 8 // nbits
    shifts = (8 - nbits * (np.arange(per) + 1)).astype(np.uint8)
    out = (packed[:, :, None] >> shifts) & np.uint8((1 << nbits) - 1)
    return out.reshape(packed.shape[0], -1)


def lookup_table(weights: np.ndarray, nbits: int) -> np.ndarray:
    """[256, 8 / nbits]: the decoded values of every possible byte (decoding is one gather)."""
    return np.asarray(weights, np.float32)[unpack(np.arange(256, dtype=np.uint8)[:, None], nbits)]


def normalize(x: np.ndarray) -> np.ndarray:
    return (x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)).astype(np.float32)


def auto_centroids(n_tokens: int) -> int:
    """Default number of centroids: the power of two nearest below 4 * sqrt(tokens) (ColBERTv2 uses 16 *
    sqrt; fewer centroids keep k-means affordable on a CPU), between 1 and the number of tokens.

    >>> auto_centroids(1_500_000), auto_centroids(20_000), auto_centroids(10)
    (4096, 512, 8)
    """
    if n_tokens <= 0:
        return 1
    k = 2 ** int(np.floor(np.log2(max(1.0, 4 * np.sqrt(n_tokens)))))
    return int(max(1, min(k, n_tokens)))


@dataclass
class ResidualCodec:
    """Centroids [C, dim] + residual buckets. Build with :meth:`train`; :meth:`encode` / :meth:`decode`."""

    centroids: np.ndarray
    nbits: int
    cutoffs: np.ndarray  # [2**nbits - 1]
    weights: np.ndarray  # [2**nbits]
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        self.centroids = np.ascontiguousarray(self.centroids, np.float32)
        self._table = lookup_table(self.weights, self.nbits) if self.nbits else None
        self._search = None

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def n_centroids(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def code_dtype(self):
        return np.uint16 if self.n_centroids <= 65536 else np.int32

    @property
    def residual_width(self) -> int:
        """Bytes of residual per token (float16 when nbits is 0)."""
        return self.dim * 2 if self.nbits == 0 else self.dim * self.nbits // 8

    @property
    def bytes_per_token(self) -> int:
        return int(np.dtype(self.code_dtype).itemsize + self.residual_width)

    # ------------------------------------------------------------------ training
    @classmethod
    def train(
        cls, sample: np.ndarray, *, n_centroids: int, nbits: int, niter: int = 10, seed: int = 0, heldout: float = 0.05
    ) -> ResidualCodec:
        """k-means (faiss, spherical) on ``sample`` [n, dim]; bucket cut-offs and weights from the
        residuals of a held-out part of it (all of it when the sample is tiny)."""
        import faiss

        if nbits not in NBITS:
            raise ValueError(f"nbits must be one of {NBITS}")
        sample = normalize(np.asarray(sample, np.float32))
        n, dim = sample.shape
        if n == 0:
            raise ValueError("cannot train a codec on no vectors")
        if nbits and (dim * nbits) % 8:
            raise ValueError(f"dim {dim} x {nbits} bits is not a whole number of bytes")
        order = np.random.default_rng(seed).permutation(n)
        n_held = int(n * heldout) if n * heldout >= 256 else 0
        held, fit = sample[order[:n_held]], sample[order[n_held:]]
        if not n_held:
            held = fit
        k = int(max(1, min(n_centroids, len(fit))))
        faiss.omp_set_num_threads(n_threads())
        km = faiss.Kmeans(
            dim,
            k,
            niter=niter,
            seed=seed,
            spherical=True,
            verbose=False,
            min_points_per_centroid=1,
            max_points_per_centroid=256,
        )
        km.train(np.ascontiguousarray(fit))
        centroids = normalize(km.centroids)
        probe = cls(centroids, 0, np.zeros(0, np.float32), np.zeros(1, np.float32))
        residuals = held - centroids[probe.assign(held)]
        if nbits:
            levels = 2**nbits
            values = residuals.ravel()
            cutoffs = np.quantile(values, np.arange(1, levels) / levels).astype(np.float32)
            weights = np.quantile(values, (np.arange(levels) + 0.5) / levels).astype(np.float32)
        else:
            cutoffs, weights = np.zeros(0, np.float32), np.zeros(1, np.float32)
        stats = {
            "trained_on_tokens": int(n),
            "mean_sq_residual": float((residuals**2).sum(axis=1).mean()),
            "niter": niter,
            "seed": seed,
        }
        return cls(centroids, nbits, cutoffs, weights, stats)

    # ------------------------------------------------------------------ encoding
    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """Nearest centroid (inner product) of each vector."""
        import faiss

        if len(vectors) == 0:
            return np.zeros(0, self.code_dtype)
        if self._search is None:
            faiss.omp_set_num_threads(n_threads())
            self._search = faiss.IndexFlatIP(self.dim)
            self._search.add(self.centroids)
        _, idx = self._search.search(np.ascontiguousarray(vectors, np.float32), 1)
        return idx[:, 0].astype(self.code_dtype)

    def encode(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(codes [n], residuals [n, residual_width] uint8, sum of squared residual norms) of unit vectors."""
        vectors = np.asarray(vectors, np.float32)
        codes = self.assign(vectors)
        residual = vectors - self.centroids[codes]
        sq = float((residual**2).sum())
        if self.nbits == 0:
            packed = vectors.astype(np.float16).view(np.uint8).reshape(len(vectors), -1)
        else:
            buckets = np.searchsorted(self.cutoffs, residual, side="left").astype(np.uint8)
            packed = pack(buckets, self.nbits)
        return codes, np.ascontiguousarray(packed), sq

    def decode(self, codes: np.ndarray, residuals: np.ndarray, *, renormalize: bool = True) -> np.ndarray:
        """Token vectors [n, dim] float32 from codes and packed residuals."""
        residuals = np.asarray(residuals)
        if self.nbits == 0:
            return np.ascontiguousarray(residuals).view(np.float16).reshape(len(residuals), self.dim).astype(np.float32)
        out = self.decode_unnormalized(codes, residuals)
        return normalize(out) if renormalize else out

    def decode_unnormalized(self, codes: np.ndarray, residuals: np.ndarray) -> np.ndarray:
        """``centroid + decoded residual`` [n, dim] float32 (nbits > 0), not renormalised: two ``np.take``
        gathers (several times faster than fancy indexing ``table[residuals]``) and an in-place add."""
        residuals = np.asarray(residuals)
        out = np.take(self._table, residuals, axis=0).reshape(len(residuals), self.dim)
        out += np.take(self.centroids, np.asarray(codes, np.intp), axis=0)
        return out

    # ------------------------------------------------------------------ storage
    def save(self, directory: Path) -> None:
        import json

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "centroids.npy", self.centroids, allow_pickle=False)
        np.save(directory / "bucket_cutoffs.npy", np.asarray(self.cutoffs, np.float32), allow_pickle=False)
        np.save(directory / "bucket_weights.npy", np.asarray(self.weights, np.float32), allow_pickle=False)
        (directory / "codec.json").write_text(json.dumps({"format_version": 1, "nbits": self.nbits, "stats": self.stats}))

    @classmethod
    def load(cls, directory: Path) -> ResidualCodec:
        import json

        directory = Path(directory)
        meta = json.loads((directory / "codec.json").read_text())
        if meta.get("format_version") != 1:
            raise ValueError(f"unknown codec format {meta.get('format_version')}")
        centroids = np.load(directory / "centroids.npy", allow_pickle=False)
        problem = centroid_problem(centroids)
        if problem:
            raise ValueError(f"codec/centroids.npy: {problem}")
        return cls(
            centroids,
            int(meta["nbits"]),
            np.load(directory / "bucket_cutoffs.npy", allow_pickle=False),
            np.load(directory / "bucket_weights.npy", allow_pickle=False),
            meta.get("stats") or {},
        )


def centroid_problem(centroids: np.ndarray) -> str | None:
    """What is wrong with a codec's centroids (non-finite values, rows far from unit length), or None.

    >>> centroid_problem(np.eye(3, dtype=np.float32)), centroid_problem(np.full((2, 2), np.nan, np.float32))
    (None, 'non-finite values')
    """
    c = np.asarray(centroids, dtype=np.float32)
    if c.ndim != 2 or not len(c):
        return f"shape {c.shape}"
    if not np.isfinite(c).all():
        return "non-finite values"
    norms = np.linalg.norm(c, axis=1)
    if np.abs(norms - 1.0).max() > 1e-2:
        return f"centroid norms {float(norms.min()):.3f}..{float(norms.max()):.3f}, expected 1"
    return None
