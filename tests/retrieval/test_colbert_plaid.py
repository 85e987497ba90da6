"""PLAID-style search: candidates contain the exhaustive top-k; exact scores; updates in place equal a
rebuild with the same centroids; storage round trip."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.retrieval.colbert.codec import ResidualCodec
from encoderkit.retrieval.colbert.plaid import PlaidIndex, build_ivf
from encoderkit.retrieval.colbert.scores import maxsim_packed
from support.colbert import clustered_docs

DIM = 16


@pytest.fixture(scope="module")
def setup():
    docs = clustered_docs(120, DIM, seed=0)
    codec = ResidualCodec.train(np.concatenate(docs), n_centroids=64, nbits=2, niter=10, seed=0)
    index, _ = PlaidIndex.encode(codec, docs)
    queries = [d[:6] for d in clustered_docs(20, DIM, seed=9)]
    return docs, codec, index, queries


def test_exhaustive_is_exact_maxsim_of_decompressed_vectors(setup):
    docs, codec, index, queries = setup
    tokens, offsets = index.decompress(np.arange(index.n_docs))
    for q in queries[:5]:
        ref = maxsim_packed(q, tokens, offsets)
        pos, scores = index.search(q, 10, exhaustive=True)
        assert np.allclose(scores, np.sort(ref)[::-1][:10], atol=1e-5)
        assert np.allclose(ref[pos], scores)


def test_plaid_candidates_contain_the_exhaustive_top_k(setup):
    docs, codec, index, queries = setup
    overlap = []
    for q in queries:
        top, top_scores = index.search(q, 10, exhaustive=True)
        cand, approx = index.candidates(q, nprobe=2)
        assert set(top.tolist()) <= set(cand.tolist())
        assert len(cand) < index.n_docs and np.isfinite(approx).all()
        pos, scores = index.search(q, 10, nprobe=2, ncandidates=len(cand))  # every candidate scored exactly
        assert np.array_equal(pos, top) and np.allclose(scores, top_scores)
        pos, _ = index.search(q, 10, nprobe=2, ncandidates=40)  # a third of the index scored exactly
        overlap.append(len(set(pos.tolist()) & set(top.tolist())) / 10)
    assert np.mean(overlap) >= 0.9


def test_candidates_are_the_centroid_interaction_for_probed_tokens(setup):
    docs, codec, index, queries = setup
    q = queries[0]
    cand, approx = index.candidates(q, nprobe=codec.n_centroids)  # everything probed: exact centroid interaction
    S = q @ codec.centroids.T
    for p, a in zip(cand[:20], approx[:20]):
        cents = np.asarray(index.codes)[index.offsets[p] : index.offsets[p + 1]].astype(np.int64)
        assert np.isclose(a, S[:, cents].max(axis=1).sum(), atol=1e-5)


def test_append_and_select_equal_a_rebuild_with_the_same_centroids(setup):
    docs, codec, index, queries = setup
    first, _ = PlaidIndex.encode(codec, docs[:80])
    grown, _ = first.append(docs[80:])
    keep = np.ones(len(docs), bool)
    keep[[3, 50, 81, 119]] = False
    updated = grown.select(keep)
    rebuilt, _ = PlaidIndex.encode(codec, [d for d, k in zip(docs, keep) if k])
    for name in ("codes", "residuals", "doclens", "ivf_docs", "ivf_offsets"):
        assert np.array_equal(np.asarray(getattr(updated, name)), np.asarray(getattr(rebuilt, name))), name
    for q in queries:
        a, b = updated.search(q, 10, nprobe=4), rebuilt.search(q, 10, nprobe=4)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_save_load_round_trip_and_ivf(setup, tmp_path):
    docs, codec, index, queries = setup
    index.save(tmp_path / "ix", {"note": 1})
    back, meta = PlaidIndex.load(tmp_path / "ix")
    assert meta["note"] == 1 and back.n_docs == index.n_docs and back.n_tokens == index.n_tokens
    for q in queries[:3]:
        a, b = index.search(q, 5), back.search(q, 5)
        assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    docs_, off = build_ivf(np.asarray(index.codes), index.doclens, codec.n_centroids)
    for c in range(codec.n_centroids):  # the documents listed under a centroid are those having it
        listed = set(docs_[off[c] : off[c + 1]].tolist())
        having = {p for p in range(index.n_docs) if c in set(np.asarray(index.codes)[index.offsets[p] : index.offsets[p + 1]])}
        assert listed == having
    empty, _ = PlaidIndex.encode(codec, [])
    assert empty.search(queries[0], 5)[0].size == 0


@pytest.mark.parametrize("nbits", [1, 2, 4])
def test_blocked_exact_scoring_equals_the_reference_decode_path(nbits, monkeypatch):
    """exact() scores blocks of not-renormalised vectors scaled by inverse norms: the same scores (1e-4)
    and rankings as renormalised decoding + maxsim_packed, whatever the block size and position order."""
    import encoderkit.retrieval.colbert.plaid as plaid

    docs = clustered_docs(150, DIM, seed=3) + [np.zeros((0, DIM), np.float32)]  # an empty document too
    codec = ResidualCodec.train(np.concatenate([d for d in docs if len(d)]), n_centroids=32, nbits=nbits, seed=1)
    index, _ = PlaidIndex.encode(codec, docs)
    queries = [d[:8] for d in clustered_docs(12, DIM, seed=11)]
    rng = np.random.default_rng(0)
    for block in (1, 7, 64, 4096):
        monkeypatch.setattr(plaid, "EXACT_BLOCK", block)
        for q in queries:
            positions = rng.permutation(index.n_docs)[:90]  # unsorted, as reranking asks
            ref = maxsim_packed(q, *index.decompress(positions))
            got = index.exact(q, positions)
            np.testing.assert_allclose(got, ref, atol=1e-4)
            assert got[positions == len(docs) - 1].tolist() in ([], [0.0])
            # rankings: the same order wherever the reference scores are not within rounding of each other
            order_ref, order_got = np.argsort(-ref, kind="stable"), np.argsort(-got, kind="stable")
            gaps = np.diff(ref[order_ref])
            if np.all(np.abs(gaps) > 1e-4):
                assert np.array_equal(order_ref, order_got)


def test_plaid_search_equals_search_on_decompressed_vectors(setup):
    """search() (blocked exact scoring) returns what the cached decompressed path returns."""
    docs, codec, index, queries = setup
    dense = PlaidIndex(codec, index.codes, index.residuals, index.doclens, (index.ivf_docs, index.ivf_offsets))
    dense.cache_decompressed()
    for q in queries:
        for kw in ({"nprobe": 2}, {"nprobe": 4, "ncandidates": 50}, {"exhaustive": True}):
            (pa, sa), (pb, sb) = index.search(q, 10, **kw), dense.search(q, 10, **kw)
            np.testing.assert_allclose(sa, sb, atol=1e-4)
            assert np.array_equal(pa, pb) or np.allclose(sa, sb, atol=1e-6)  # equal up to float-rounding ties
