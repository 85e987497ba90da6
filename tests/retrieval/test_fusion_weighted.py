"""Score-normalised weighted fusion next to RRF: the pure function, the pipeline option, bad input."""

from __future__ import annotations

import pytest

from encoderkit import Index
from encoderkit.errors import EncoderkitError
from encoderkit.retrieval.fusion import minmax, rrf, weighted
from encoderkit.retrieval.ranking import Ranked, fuse


def test_weighted_fusion_uses_score_gaps_that_rrf_ignores():
    strong = [("a", 10.0), ("b", 9.99), ("c", 1.0)]
    weak = [("c", 0.9), ("b", 0.8), ("x", 0.1)]
    # RRF puts c (last of the strong list, first of the weak one) on top; the scores say b
    assert [k for k, _ in rrf({"s": [k for k, _ in strong], "w": [k for k, _ in weak]})][0] == "c"
    assert [k for k, _ in weighted({"s": strong, "w": weak})] == ["b", "a", "c", "x"]
    assert [k for k, _ in weighted({"s": strong, "w": weak}, {"s": 1, "w": 3})][0] == "b"
    assert weighted({"s": strong}, {"s": 0})[0][1] == 0.0 and minmax([]) == []
    assert [k for k, _ in weighted({"s": strong, "w": weak}, {"s": 1, "w": 0})][:3] == ["a", "b", "c"]  # weight 0: ignored


def test_fuse_rankings_and_pipeline_option(tmp_path, tiny_encoder):
    r = fuse({"x": Ranked(["a", "b", "c"], [2.0, 1.5, 1.0], [1, 2, 4]), "y": Ranked(["b"], [5.0], [3])}, method="weighted")
    assert r.keys == ["b", "a", "c"] and r.best_chunk == [3, 1, 4] and r.scores[0] == 0.75
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(
        [{"id": f"d{i}", "text": f"text number {i} about {['cats', 'tea', 'tax'][i % 3]}"} for i in range(12)], export_onnx=False
    )
    hits = index.search("cats", fusion="weighted", weights={"bm25": 2, "dense": 1}, k=5)
    assert hits and all(0 <= h.score <= 1 for h in hits)
    with pytest.raises(EncoderkitError, match="unknown fusion"):
        index.search("cats", fusion="max")
    assert index.search("cats", mode="bm25+dense", fusion="weighted", weights={"colbert": 1})  # not run here: ignored
    with pytest.raises(EncoderkitError, match="unknown retriever 'bm52'"):
        index.search("cats", weights={"bm52": 1})
    with pytest.raises(EncoderkitError, match="not a number"):
        index.search("cats", weights={"bm25": -1})
