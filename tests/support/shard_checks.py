"""Comparing the results of a sharded index with one index over the same documents."""

from __future__ import annotations

import numpy as np

from support.corpus import QUERIES


def results(index, modes=("bm25", "dense", "hybrid")) -> dict:
    out = {}
    for mode in modes:
        for q in QUERIES:
            hits = index.search(q, mode=mode, k=30, depth=100)
            out[(mode, q)] = [(h.doc_id, round(h.score, 6), h.text) for h in hits]
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert [x[0] for x in a[key]] == [x[0] for x in b[key]], key
        assert np.allclose([x[1] for x in a[key]], [x[1] for x in b[key]], atol=1e-6), key
        assert [x[2] for x in a[key]] == [x[2] for x in b[key]], key
