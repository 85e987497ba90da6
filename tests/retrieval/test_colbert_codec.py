"""Residual compression: bit packing, round-trip error within the bound the buckets imply, storage,
token pooling."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.retrieval.colbert.codec import ResidualCodec, auto_centroids, pack, unpack
from encoderkit.retrieval.colbert.token_pooling import pool_tokens
from support.colbert import clustered_docs


@pytest.mark.parametrize("nbits", [1, 2, 4])
def test_pack_unpack_round_trip(nbits):
    rng = np.random.default_rng(nbits)
    buckets = rng.integers(0, 2**nbits, size=(7, 32)).astype(np.uint8)
    packed = pack(buckets, nbits)
    assert packed.shape == (7, 32 * nbits // 8) and packed.dtype == np.uint8
    assert np.array_equal(unpack(packed, nbits), buckets)


def sample(n_docs=200):
    return np.concatenate(clustered_docs(n_docs, dim=32, seed=3))


@pytest.mark.parametrize("nbits", [1, 2, 4])
def test_round_trip_error_within_the_bucket_bound(nbits):
    vectors = sample()
    codec = ResidualCodec.train(vectors, n_centroids=64, nbits=nbits, niter=8, seed=0)
    codes, packed, _ = codec.encode(vectors)
    assert codes.dtype == np.uint16 and packed.shape == (len(vectors), 32 * nbits // 8)
    residual = vectors - codec.centroids[codes.astype(np.int64)]
    decoded = codec.decode(codes, packed, renormalize=False)
    err = np.abs(decoded - vectors)
    # every value lies in its bucket [edge_j, edge_j+1]; it decodes to weight_j inside that bucket, so the
    # error is at most the larger distance from the weight to the bucket's edges (outer edges: data range)
    edges = np.concatenate([[residual.min()], codec.cutoffs, [residual.max()]])
    bucket = np.searchsorted(codec.cutoffs, residual, side="left")
    bound = np.maximum(codec.weights - edges[:-1], edges[1:] - codec.weights)[bucket]
    assert (err <= bound + 1e-6).all()
    assert np.all(np.diff(codec.cutoffs) >= 0) and np.all(np.diff(codec.weights) >= 0)
    cos = (codec.decode(codes, packed) * vectors).sum(1)  # renormalised: unit vectors close to the originals
    assert np.allclose(np.linalg.norm(codec.decode(codes, packed), axis=1), 1, atol=1e-5)
    assert cos.mean() > {1: 0.85, 2: 0.95, 4: 0.99}[nbits]


def test_more_bits_smaller_error_and_float16_reference(tmp_path):
    vectors = sample()
    errors = []
    for nbits in (1, 2, 4):
        codec = ResidualCodec.train(vectors, n_centroids=64, nbits=nbits, niter=8, seed=0)
        codes, packed, _ = codec.encode(vectors)
        errors.append(float(np.abs(codec.decode(codes, packed) - vectors).mean()))
    assert errors[0] > errors[1] > errors[2]
    exact = ResidualCodec.train(vectors, n_centroids=64, nbits=0, niter=8, seed=0)
    codes, packed, _ = exact.encode(vectors)
    assert exact.bytes_per_token == 2 + 64 and packed.shape[1] == 64
    np.testing.assert_allclose(exact.decode(codes, packed), vectors, atol=1e-3)
    exact.save(tmp_path / "c")
    again = ResidualCodec.load(tmp_path / "c")
    assert np.array_equal(again.centroids, exact.centroids) and again.nbits == 0
    assert ResidualCodec.train(vectors, n_centroids=64, nbits=2, niter=8, seed=0).bytes_per_token == 2 + 8


def test_training_is_deterministic_and_saves(tmp_path):
    vectors = sample()
    a = ResidualCodec.train(vectors, n_centroids=32, nbits=2, niter=5, seed=1)
    b = ResidualCodec.train(vectors, n_centroids=32, nbits=2, niter=5, seed=1)
    assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.cutoffs, b.cutoffs)
    a.save(tmp_path / "codec")
    c = ResidualCodec.load(tmp_path / "codec")
    assert np.array_equal(c.weights, a.weights) and c.stats == a.stats
    assert np.array_equal(c.encode(vectors)[1], a.encode(vectors)[1])
    tiny = ResidualCodec.train(vectors[:5], n_centroids=64, nbits=2, niter=2)  # fewer vectors than centroids
    assert tiny.n_centroids == 5 and auto_centroids(0) == 1
    with pytest.raises(ValueError):
        ResidualCodec.train(vectors[:, :30][:, :13], n_centroids=4, nbits=1)  # 13 dims x 1 bit: not whole bytes


def test_token_pooling():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(21, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    pooled = pool_tokens(v, 2)
    assert pooled.shape == (1 + 10, 8)  # [CLS] kept, 20 others -> 10 groups
    assert np.array_equal(pooled[0], v[0]) and np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
    assert np.array_equal(pool_tokens(v, 2), pooled)  # deterministic
    assert pool_tokens(v, 3).shape == (1 + 7, 8) and pool_tokens(v, 1) is not None and pool_tokens(v, 1).shape == v.shape
    assert pool_tokens(v[:3], 2).shape == (3, 8)  # too short to pool
    # identical tokens merge first: two copies of a vector pool into that vector
    dup = np.concatenate([v[:1], v[1:2], v[1:2], v[2:3], v[2:3]])
    assert np.allclose(sorted(map(tuple, pool_tokens(dup, 2)[1:])), sorted(map(tuple, v[1:3])), atol=1e-6)


def test_retriever_trains_its_codec_on_a_seeded_sample_of_tokens():
    from encoderkit.retrieval.base import IndexContext
    from encoderkit.retrieval.colbert.retriever import ColBERTRetriever

    docs = clustered_docs(200, 16, seed=1)
    r = ColBERTRetriever(ColBERTRetriever.check_settings({"sample_tokens": 500, "n_centroids": 32}), IndexContext(".", {}))
    a, b = r.train_codec(docs), r.train_codec(docs)
    assert a.stats["trained_on_tokens"] == 500 and a.n_centroids == 32
    assert np.array_equal(a.centroids, b.centroids)
