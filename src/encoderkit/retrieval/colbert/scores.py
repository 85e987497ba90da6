"""MaxSim, the late-interaction score (Khattab & Zaharia, 2020), as small pure functions.

``MaxSim(q, d) = sum over query tokens i of max over document tokens j of <q_i, d_j>``. Vectors are
L2-normalised, so each term is a cosine. Three layouts of the same computation:

- :func:`maxsim` — padded batches with masks (queries x documents);
- :func:`maxsim_packed` — one query against documents laid end to end (``offsets``);
- :func:`maxsim_rows` — the same, a document's tokens along the rows of the similarity matrix, with an
  optional per-token scale (what PLAID's exact stage uses on not-yet-renormalised decoded vectors);
- :func:`maxsim_torch` — padded batches as torch tensors, differentiable (training).

A document without any vector scores 0; masked query positions add nothing.

>>> q = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)                  # one query, two tokens
>>> d = np.array([[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [0.0, 0.0]]], np.float32)
>>> maxsim(q, np.ones((1, 2), bool), d, np.array([[True, True], [True, False]])).astype(float).round(2).tolist()
[[1.8, 1.0]]
>>> maxsim_packed(q[0], d.reshape(-1, 2)[[0, 1, 2]], np.array([0, 2, 3])).astype(float).round(2).tolist()
[1.8, 1.0]
"""

from __future__ import annotations

import numpy as np


def maxsim(q: np.ndarray, q_mask: np.ndarray, d: np.ndarray, d_mask: np.ndarray) -> np.ndarray:
    """Scores [n_queries, n_docs] of padded batches ``q`` [nq, Lq, dim] and ``d`` [nd, Ld, dim]; masks
    say which positions are real (queries: which take part in the sum)."""
    q = np.asarray(q, np.float32)
    d = np.asarray(d, np.float32)
    if q.shape[0] == 0 or d.shape[0] == 0 or d.shape[1] == 0:
        return np.zeros((q.shape[0], d.shape[0]), np.float32)
    sim = np.einsum("qid,njd->qnij", q, d)
    sim = np.where(np.asarray(d_mask, bool)[None, :, None, :], sim, -np.inf)
    best = sim.max(axis=-1)
    best = np.where(np.isfinite(best), best, 0.0)
    return (best * np.asarray(q_mask, np.float32)[:, None, :]).sum(axis=-1).astype(np.float32)


def maxsim_packed(q: np.ndarray, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Scores [n] of one query ``q`` [Lq, dim] (its scoring positions only) against n documents whose
    vectors lie end to end in ``tokens`` [T, dim]; document i is ``tokens[offsets[i]:offsets[i+1]]``."""
    offsets = np.asarray(offsets, np.int64)
    n = len(offsets) - 1
    out = np.zeros(max(n, 0), np.float32)
    if n <= 0 or len(tokens) == 0:
        return out
    sim = np.asarray(q, np.float32) @ np.asarray(tokens, np.float32).T  # [Lq, T]
    nonempty = np.diff(offsets) > 0
    best = np.maximum.reduceat(sim, offsets[:-1][nonempty], axis=1)  # [Lq, n_nonempty]
    out[nonempty] = best.sum(axis=0)
    return out


def maxsim_rows(q: np.ndarray, tokens: np.ndarray, offsets: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """:func:`maxsim_packed` computed as ``tokens @ q.T`` [T, Lq]: with many more document tokens than
    query tokens BLAS is faster in this layout (about 2x here), and the max over a document reads
    contiguous rows. ``scale`` [T] multiplies each token's similarities first: the inverse norms of
    vectors that were not renormalised give the scores of the renormalised vectors (up to float
    rounding) without a pass over ``tokens`` to divide them.

    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> t = np.array([[2.0, 0.0], [1.2, 1.6], [0.0, 3.0]], np.float32)  # unit vectors times 2, 2, 3
    >>> maxsim_rows(q, t, np.array([0, 2, 3]), 1 / np.linalg.norm(t, axis=1)).astype(float).round(2).tolist()
    [1.8, 1.0]
    """
    offsets = np.asarray(offsets, np.int64)
    n = len(offsets) - 1
    out = np.zeros(max(n, 0), np.float32)
    if n <= 0 or len(tokens) == 0:
        return out
    sim = np.asarray(tokens, np.float32) @ np.asarray(q, np.float32).T  # [T, Lq]
    if scale is not None:
        sim *= np.asarray(scale, np.float32)[:, None]
    nonempty = np.diff(offsets) > 0
    best = np.maximum.reduceat(sim, offsets[:-1][nonempty], axis=0)  # [n_nonempty, Lq]
    out[nonempty] = best.sum(axis=1)
    return out


def maxsim_torch(q, q_mask, d, d_mask):
    """Differentiable MaxSim of torch tensors: ``q`` [B, Lq, dim], ``d`` [N, Ld, dim] -> [B, N]."""
    import torch

    sim = torch.einsum("qid,njd->qnij", q, d)
    sim = sim.masked_fill(~d_mask.bool()[None, :, None, :], float("-inf"))
    best = sim.max(dim=-1).values
    best = torch.where(torch.isfinite(best), best, torch.zeros_like(best))
    return (best * q_mask.to(best.dtype)[:, None, :]).sum(dim=-1)
