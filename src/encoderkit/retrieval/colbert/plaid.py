"""PLAID-style search over residual-compressed token vectors (Santhanam, Khattab, Potts & Zaharia,
"PLAID: An Efficient Engine for Late Interaction Retrieval", CIKM 2022), written by hand on numpy
(fast-plaid does not install on this stack).

Storage of ``n`` documents with ``T`` token vectors: ``codes`` [T] (centroid ids), ``residuals`` [T, W]
(packed, see :mod:`.codec`), ``doclens`` [n]; and an inverted file from each centroid to the documents
(positions 0..n-1, ascending) with a token assigned to it (``ivf_docs``, ``ivf_offsets``).

Search for a query ``Q`` [Lq, dim]:

1. centroid scores ``S = Q C^T`` [Lq, centroids];
2. candidates and their approximate scores *without decompressing anything*: every query token probes
   its ``nprobe`` best centroids; a document in the inverted list of a probed centroid of token i gets,
   for token i, the best score among its probed centroids — which is exactly PLAID's centroid interaction
   (the max over the document's centroids), because any centroid it has outside the probed set scores
   lower. For a token whose probed centroids the document does not have, the (nprobe+1)-th best
   centroid score of that token is used: an upper bound of the centroid interaction. Documents hit by no
   probed centroid are not candidates;
3. exact MaxSim on the decompressed vectors of the best ``max(k, ncandidates)`` candidates, decoded
   block by block (:meth:`PlaidIndex.exact`): each block of a few thousand tokens is gathered with
   ``np.take``, decoded without renormalising, scored by one matrix product and scaled by the tokens'
   inverse norms, so no renormalised float copy of the candidates is made and the block stays in cache.
   (Hand-written on numpy: fast-plaid's kernels do not install on this stack. PLAID's per-byte lookup
   tables of residual . query were tried in numpy and lose to the matrix product: 10 ms for the
   residual part of 50k tokens against 5.6 ms to decode them and multiply; and renormalising needs each
   token's centroid anyway. BENCHMARKS.md section 10.)

The exhaustive mode (small indexes) scores every document exactly. Both are pure functions of the
stored arrays, so an index updated in place and one rebuilt with the same centroids return the same
results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .codec import ResidualCodec
from .scores import maxsim_packed, maxsim_rows

FORMAT_VERSION = 1
GRID_LIMIT = 1 << 22  # query tokens x documents above which candidates are gathered sparsely
EXACT_BLOCK = 4096  # tokens decoded at once by exact scoring (2 MB of float32 vectors at dim 128: stays in cache)


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the concatenated ranges [starts[i], starts[i] + lengths[i]).

    >>> ranges(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist()
    [5, 6, 9, 10, 11]
    """
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.arange(total, dtype=np.int64) + np.repeat(np.asarray(starts, np.int64) - before, lengths)


def blocks(lengths: np.ndarray, size: int) -> np.ndarray:
    """Boundaries [0, ..., n] cutting consecutive documents of ``lengths`` tokens into blocks: document i
    joins block ``(tokens before it) // size``, so a block holds under ``size`` tokens plus its last
    document.

    >>> blocks(np.array([3, 4, 2, 9, 1]), 8).tolist()
    [0, 3, 4, 5]
    """
    lengths = np.asarray(lengths, np.int64)
    if len(lengths) == 0:
        return np.zeros(1, np.int64)
    block = (np.cumsum(lengths) - lengths) // max(1, int(size))
    return np.concatenate([[0], np.flatnonzero(np.diff(block)) + 1, [len(lengths)]]).astype(np.int64)


def build_ivf(codes: np.ndarray, doclens: np.ndarray, n_centroids: int) -> tuple[np.ndarray, np.ndarray]:
    """(documents per centroid, ascending, concatenated [P] int32; offsets [C + 1]).

    >>> docs, off = build_ivf(np.array([1, 1, 0, 1]), np.array([2, 2]), 3)
    >>> docs.tolist(), off.tolist()
    ([1, 0, 1], [0, 1, 3, 3])
    """
    n = len(doclens)
    offsets = np.zeros(n_centroids + 1, np.int64)
    if len(codes) == 0:
        return np.zeros(0, np.int32), offsets
    doc_of = np.repeat(np.arange(n, dtype=np.int64), np.asarray(doclens, np.int64))
    keys = np.unique(np.asarray(codes, np.int64) * n + doc_of)
    offsets[1:] = np.cumsum(np.bincount(keys // n, minlength=n_centroids))
    return (keys % n).astype(np.int32), offsets


def _expand_codes(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))


class PlaidIndex:
    """Compressed token vectors of ``n`` documents plus the centroid -> documents inverted file."""

    def __init__(self, codec: ResidualCodec, codes, residuals, doclens, ivf: tuple | None = None):
        self.codec = codec
        self.codes = codes
        self.residuals = residuals
        self.doclens = np.asarray(doclens, np.int32)
        self.offsets = np.concatenate([[0], np.cumsum(self.doclens, dtype=np.int64)])
        self.ivf_docs, self.ivf_offsets = ivf if ivf is not None else build_ivf(codes, self.doclens, codec.n_centroids)
        self._dense: np.ndarray | None = None

    @property
    def n_docs(self) -> int:
        return int(len(self.doclens))

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def encode(cls, codec: ResidualCodec, docs: list[np.ndarray], block: int = 65536) -> tuple[PlaidIndex, float]:
        """Compress documents (each [tokens_i, dim], unit vectors); returns (index, sum of squared
        residual norms, for the drift measure)."""
        codes, residuals, doclens, sq = cls._compress(codec, docs, block)
        return cls(codec, codes, residuals, doclens), sq

    @staticmethod
    def _compress(codec: ResidualCodec, docs: list[np.ndarray], block: int):
        doclens = np.array([len(d) for d in docs], np.int32)
        codes, residuals, sq = [], [], 0.0
        buf, size = [], 0
        for d in docs + [None]:
            if d is not None and len(d):
                buf.append(d)
                size += len(d)
            if buf and (d is None or size >= block):
                c, r, s = codec.encode(np.concatenate(buf))
                codes.append(c)
                residuals.append(r)
                sq += s
                buf, size = [], 0
        codes = np.concatenate(codes) if codes else np.zeros(0, codec.code_dtype)
        residuals = np.concatenate(residuals) if residuals else np.zeros((0, codec.residual_width), np.uint8)
        return codes, residuals, doclens, sq

    # ------------------------------------------------------------------ updates (new objects)
    def append(self, docs: list[np.ndarray]) -> tuple[PlaidIndex, float]:
        """This index with ``docs`` added after its documents (positions n, n+1, ...)."""
        codes, residuals, doclens, sq = self._compress(self.codec, docs, 65536)
        new_docs, new_off = build_ivf(codes, doclens, self.codec.n_centroids)
        all_codes = np.concatenate([_expand_codes(self.ivf_offsets), _expand_codes(new_off)])
        all_docs = np.concatenate([np.asarray(self.ivf_docs, np.int32), new_docs + np.int32(self.n_docs)])
        order = np.argsort(all_codes, kind="stable")  # two sorted runs: a linear merge
        offsets = np.zeros(self.codec.n_centroids + 1, np.int64)
        offsets[1:] = np.cumsum(np.bincount(all_codes, minlength=self.codec.n_centroids))
        out = PlaidIndex(
            self.codec,
            np.concatenate([np.asarray(self.codes), codes]),
            np.concatenate([np.asarray(self.residuals), residuals]),
            np.concatenate([self.doclens, doclens]),
            (all_docs[order], offsets),
        )
        return out, sq

    def select(self, keep: np.ndarray) -> PlaidIndex:
        """This index restricted to the documents where ``keep`` is True (order kept)."""
        keep = np.asarray(keep, bool)
        tokens = np.repeat(keep, self.doclens)
        remap = (np.cumsum(keep) - 1).astype(np.int32)
        docs = np.asarray(self.ivf_docs)
        entry = keep[docs]
        codes = _expand_codes(self.ivf_offsets)[entry]
        offsets = np.zeros(self.codec.n_centroids + 1, np.int64)
        offsets[1:] = np.cumsum(np.bincount(codes, minlength=self.codec.n_centroids))
        return PlaidIndex(
            self.codec,
            np.asarray(self.codes)[tokens],
            np.asarray(self.residuals)[tokens],
            self.doclens[keep],
            (remap[docs[entry]], offsets),
        )

    # ------------------------------------------------------------------ reading vectors
    def decompress(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token vectors of the documents at ``positions``, laid end to end; offsets [len + 1])."""
        positions = np.asarray(positions, np.int64)
        lens = self.doclens[positions].astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)])
        idx = ranges(self.offsets[positions], lens)
        if self._dense is not None:
            return np.take(self._dense, idx, axis=0), offsets
        codes = np.take(np.asarray(self.codes), idx)
        return self.codec.decode(codes, np.take(np.asarray(self.residuals), idx, axis=0)), offsets

    def exact(self, q: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact MaxSim of ``q`` [Lq, dim] against the decompressed documents at ``positions`` (any order).

        Residual-compressed vectors are scored block by block without materialising the renormalised
        vectors (see the module doc); the result is :func:`.maxsim_packed` over :meth:`decompress` up to
        float rounding. Decompressed-in-memory and float16 indexes use that reference path."""
        positions = np.asarray(positions, np.int64)
        if self._dense is not None or self.codec.nbits == 0:
            tokens, offsets = self.decompress(positions)
            return maxsim_packed(q, tokens, offsets)
        q = np.ascontiguousarray(q, np.float32)
        lens = self.doclens[positions].astype(np.int64)
        starts = self.offsets[positions]
        codes, residuals = np.asarray(self.codes), np.asarray(self.residuals)
        out = np.zeros(len(positions), np.float32)
        cuts = blocks(lens, EXACT_BLOCK)
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist()):  # a few blocks per query, not one per document
            idx = ranges(starts[a:b], lens[a:b])
            vec = self.codec.decode_unnormalized(np.take(codes, idx), np.take(residuals, idx, axis=0))
            inv = 1.0 / np.clip(np.sqrt(np.einsum("td,td->t", vec, vec)), 1e-12, None)
            out[a:b] = maxsim_rows(q, vec, np.concatenate([[0], np.cumsum(lens[a:b])]), inv)
        return out

    def cache_decompressed(self) -> None:
        """Keep every vector decompressed in memory (exhaustive search of a small index)."""
        if self._dense is None:
            self._dense = self.codec.decode(np.asarray(self.codes), np.asarray(self.residuals))

    # ------------------------------------------------------------------ search
    def candidates(self, q: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """(document positions, approximate scores) from centroid interactions (see the module doc)."""
        n, C = self.n_docs, self.codec.n_centroids
        if n == 0 or len(q) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        S = np.asarray(q, np.float32) @ self.codec.centroids.T  # [Lq, C]
        Lq = S.shape[0]
        p = int(max(1, min(nprobe, C)))
        if p < C:
            part = np.argpartition(-S, p, axis=1)
            top = part[:, :p]
            floor = S[np.arange(Lq), part[:, p]]
        else:
            top = np.tile(np.arange(C), (Lq, 1))
            floor = np.full(Lq, -1.0, np.float32)
        cs = top.ravel()
        qi = np.repeat(np.arange(Lq), p)
        starts = self.ivf_offsets[cs]
        lens = self.ivf_offsets[cs + 1] - starts
        docs = np.asarray(self.ivf_docs)[ranges(starts, lens)].astype(np.int64)
        rows = np.repeat(qi, lens)
        vals = np.repeat(S[qi, cs], lens)
        if Lq * n <= GRID_LIMIT:
            grid = np.full(Lq * n, -np.inf, np.float32)
            np.maximum.at(grid, rows * n + docs, vals)
            grid = grid.reshape(Lq, n)
            cand = np.flatnonzero(np.isfinite(grid).any(axis=0))
            sub = grid[:, cand]
        else:
            cand, inv = np.unique(docs, return_inverse=True)
            sub = np.full((Lq, len(cand)), -np.inf, np.float32)
            np.maximum.at(sub, (rows, inv), vals)
        approx = np.where(np.isfinite(sub), sub, floor[:, None]).sum(axis=0)
        return cand.astype(np.int64), approx.astype(np.float32)

    def search(
        self, q: np.ndarray, k: int, *, nprobe: int = 16, ncandidates: int = 0, exhaustive: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (positions, exact MaxSim scores), best first (ties: lower position first)."""
        if self.n_docs == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if exhaustive:
            positions = np.arange(self.n_docs, dtype=np.int64)
        else:
            positions, approx = self.candidates(q, nprobe)
            m = max(k, ncandidates)
            if len(positions) > m:
                keep = np.argsort(-approx, kind="stable")[:m]
                positions = np.sort(positions[keep])
        scores = self.exact(q, positions)
        order = np.argsort(-scores, kind="stable")[:k]
        return positions[order], scores[order]

    # ------------------------------------------------------------------ storage
    def nbytes(self) -> dict:
        vec = int(np.asarray(self.codes).nbytes + np.asarray(self.residuals).nbytes)
        other = int(
            self.doclens.nbytes + np.asarray(self.ivf_docs).nbytes + self.ivf_offsets.nbytes + self.codec.centroids.nbytes
        )
        return {"vectors": vec, "ivf_and_centroids": other}

    def save(self, directory: Path, extra: dict | None = None) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.codec.save(directory / "codec")
        for name, arr in (
            ("codes", self.codes),
            ("residuals", self.residuals),
            ("doclens", self.doclens),
            ("ivf_docs", self.ivf_docs),
            ("ivf_offsets", self.ivf_offsets),
        ):
            np.save(directory / f"{name}.npy", np.asarray(arr), allow_pickle=False)
        meta = {"format_version": FORMAT_VERSION, "documents": self.n_docs, "tokens": self.n_tokens, **(extra or {})}
        (directory / "plaid.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = True) -> tuple[PlaidIndex, dict]:
        directory = Path(directory)
        meta = json.loads((directory / "plaid.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unknown ColBERT index format {meta.get('format_version')}")
        mode = "r" if mmap else None

        def arr(name):
            return np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False)

        codec = ResidualCodec.load(directory / "codec")
        index = cls(
            codec, arr("codes"), arr("residuals"), arr("doclens"), (arr("ivf_docs"), np.load(directory / "ivf_offsets.npy"))
        )
        if index.n_tokens != meta["tokens"] or index.n_docs != meta["documents"]:
            raise ValueError("ColBERT index files disagree with plaid.json")
        return index, meta
