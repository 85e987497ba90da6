"""BM25 scored by hand over segment postings agrees with bm25s, and segments with deletions score
exactly like one index over the live documents (collection-wide statistics), for all five variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoderkit.retrieval.base import ChunkSet, IndexContext, add_statistics
from encoderkit.retrieval.bm25 import BM25Retriever
from encoderkit.retrieval.bm25_params import BM25Params
from encoderkit.retrieval.bm25_variants import METHODS
from encoderkit.retrieval.bm25s_index import BM25Index
from encoderkit.retrieval.postings import Postings, merge
from encoderkit.retrieval.segmented import Part, SegmentedRetriever

WORDS = (
    "cell protein gene expression cancer tumor patient risk blood immune virus infection dose trial brain "
    "neuron receptor mutation therapy drug response model study effect increase decrease level the of and"
).split()


def synthetic(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, int(rng.integers(3, 40)))) for _ in range(n)]
    return texts + ["", "the of and", "x", "cells cells cells proteins"]


QUERIES = ["cell protein expression", "tumor tumor risk", "the", "immune response to virus infection", "zzz unknown", "drugs"]


def _retriever(method: str, texts: list[str], ids=None) -> BM25Retriever:
    r = BM25Retriever(BM25Params(method=method).to_dict(), IndexContext(None, {}))
    ids = np.arange(len(texts)) if ids is None else np.asarray(ids)
    r.build(ChunkSet(ids, ids.copy(), texts))
    return r


def _all_scores(r, queries, n, **kw) -> np.ndarray:
    out = np.zeros((len(queries), n), np.float32)
    for i, (ids, sc) in enumerate(r.search(queries, n, **kw)):
        out[i, ids] = sc
    return out


def _agreement(texts: list[str], queries: list[str], method: str) -> float:
    ref = BM25Index.build(texts, BM25Params(method=method))
    mine = _all_scores(_retriever(method, texts), queries, len(texts))
    worst = 0.0
    for i, q in enumerate(queries):
        want = np.asarray(ref.scores(q), dtype=np.float32)
        want = np.where(want > 0, want, 0)  # the index returns matching chunks only
        worst = max(worst, float(np.abs(mine[i] - want).max()))
    return worst


@pytest.mark.parametrize("method", METHODS)
def test_one_segment_scores_like_bm25s(method):
    assert _agreement(synthetic(300), QUERIES, method) <= 1e-6


def test_one_segment_scores_like_bm25s_on_scifact(scifact_dir):
    docs = [json.loads(line) for line in (scifact_dir / "corpus.jsonl").read_text().splitlines()[:1500]]
    texts = [f"{d['title']}\n{d['text']}" for d in docs]
    queries = [json.loads(line)["text"] for line in (scifact_dir / "queries.jsonl").read_text().splitlines()[:100]]
    for method in METHODS:
        assert _agreement(texts, queries, method) <= 1e-6, method


@pytest.mark.parametrize("method", METHODS)
def test_segments_with_deletions_score_like_one_index_over_live_documents(method):
    texts = synthetic(240, seed=1)
    n = len(texts)
    rng = np.random.default_rng(2)
    deleted = np.zeros(n, dtype=bool)
    deleted[rng.choice(n, 60, replace=False)] = True
    bounds = [0, 50, 51, 130, n]  # uneven segments, one of a single chunk
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        ids = np.arange(a, b)
        live = ~deleted[a:b]
        parts.append(Part(ids, None if live.all() else live, _retriever(method, texts[a:b], ids)))
    seg = SegmentedRetriever("bm25", parts, parts[0].retriever)
    got = _all_scores(seg, QUERIES, n)
    live_ids = np.flatnonzero(~deleted)
    one = _retriever(method, [texts[i] for i in live_ids], live_ids)
    want = _all_scores(one, QUERIES, n)
    assert np.array_equal(got, want)  # bit for bit, not just close
    assert not got[:, deleted].any()


def test_statistics_add_up_like_one_collection():
    texts = synthetic(100, seed=3)
    a, b = _retriever("lucene", texts[:40]), _retriever("lucene", texts[40:], np.arange(40, len(texts)))
    whole = _retriever("lucene", texts)
    enc = whole.encode_queries(QUERIES)
    assert add_statistics([a.statistics(enc), b.statistics(enc)]) == whole.statistics(enc)
    live = np.ones(len(texts) - 40, bool)
    live[:5] = False
    assert a.statistics(enc)["documents"] + b.statistics(enc, live)["documents"] == len(texts) - 5


def test_postings_merge_equals_a_fresh_build(tmp_path):
    texts = synthetic(150, seed=4)
    halves = [Postings.from_tokens([t.split() for t in texts[:70]]), Postings.from_tokens([t.split() for t in texts[70:]])]
    live = [np.ones(70, bool), np.ones(len(texts) - 70, bool)]
    live[0][[3, 10, 11]] = False
    live[1][0] = False
    merge([(halves[0], live[0]), (halves[1], live[1])], tmp_path / "merged")
    merged = Postings.load(tmp_path / "merged", deep=True)
    keep = [t for t, ok in zip(texts, np.concatenate(live)) if ok]
    fresh = Postings.from_tokens([t.split() for t in keep])
    for field in ("hashes", "term_offsets", "offsets", "docs", "tfs", "lengths"):
        assert np.array_equal(np.asarray(getattr(merged, field)), np.asarray(getattr(fresh, field))), field
    assert merged.terms == fresh.terms
