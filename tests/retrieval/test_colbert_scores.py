"""MaxSim against a brute-force reference: random tensors, masks, padding, empty documents."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.retrieval.colbert.scores import maxsim, maxsim_packed, maxsim_rows, maxsim_torch


def brute_force(q_tokens: list[np.ndarray], d_tokens: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((len(q_tokens), len(d_tokens)))
    for a, q in enumerate(q_tokens):
        for b, d in enumerate(d_tokens):
            total = 0.0
            for qi in q:
                best = max((float(np.dot(qi, dj)) for dj in d), default=0.0)
                total += best
            out[a, b] = total
    return out


def unit(rng, n, dim):
    v = rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def padded(items: list[np.ndarray], width: int, dim: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Pad with garbage (not zeros) so a wrong mask shows up in the scores."""
    x = rng.normal(size=(len(items), width, dim)).astype(np.float32) * 5
    mask = np.zeros((len(items), width), bool)
    for i, t in enumerate(items):
        x[i, : len(t)] = t
        mask[i, : len(t)] = True
    return x, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maxsim_layouts_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    dim = 8
    queries = [unit(rng, int(n), dim) for n in rng.integers(1, 7, 4)]
    docs = [unit(rng, int(n), dim) for n in rng.integers(0, 12, 9)]  # some documents have no vectors
    docs[3] = np.zeros((0, dim), np.float32)
    ref = brute_force(queries, docs)
    q, qm = padded(queries, 8, dim, rng)
    d, dm = padded(docs, 13, dim, rng)
    np.testing.assert_allclose(maxsim(q, qm, d, dm), ref, rtol=1e-5, atol=1e-5)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in docs])])
    tokens = np.concatenate(docs)
    for a, qv in enumerate(queries):
        np.testing.assert_allclose(maxsim_packed(qv, tokens, offsets), ref[a], rtol=1e-5, atol=1e-5)
    torch = pytest.importorskip("torch")
    got = maxsim_torch(torch.from_numpy(q), torch.from_numpy(qm), torch.from_numpy(d), torch.from_numpy(dm))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)
    assert ref[:, 3].tolist() == [0.0] * len(queries)


def test_maxsim_torch_is_differentiable_and_edge_cases():
    import torch

    q = torch.randn(2, 3, 4, requires_grad=True)
    d = torch.randn(5, 6, 4)
    dm = torch.ones(5, 6, dtype=torch.bool)
    dm[1] = False
    s = maxsim_torch(q, torch.ones(2, 3, dtype=torch.bool), d, dm)
    s.sum().backward()
    assert s.shape == (2, 5) and torch.isfinite(q.grad).all() and (s[:, 1] == 0).all()
    assert maxsim_packed(np.ones((2, 4), np.float32), np.zeros((0, 4), np.float32), np.array([0])).shape == (0,)
    assert maxsim(np.zeros((0, 3, 4)), np.zeros((0, 3), bool), np.zeros((2, 3, 4)), np.ones((2, 3), bool)).shape == (0, 2)


def test_maxsim_rows_equals_maxsim_packed_with_and_without_a_scale():
    rng = np.random.default_rng(5)
    q = rng.normal(size=(7, 12)).astype(np.float32)
    tokens = rng.normal(size=(40, 12)).astype(np.float32)
    offsets = np.array([0, 5, 5, 17, 40])  # one empty document
    np.testing.assert_allclose(maxsim_rows(q, tokens, offsets), maxsim_packed(q, tokens, offsets), atol=1e-5)
    norms = np.linalg.norm(tokens, axis=1)
    unit = tokens / norms[:, None]
    np.testing.assert_allclose(maxsim_rows(q, tokens, offsets, 1 / norms), maxsim_packed(q, unit, offsets), atol=1e-5)
    assert maxsim_rows(q, np.zeros((0, 12), np.float32), np.array([0, 0])).tolist() == [0.0]
