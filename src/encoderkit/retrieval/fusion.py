"""Rank fusion: combine ranked lists from several retrievers into one.

Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): ``score(d) = sum_s w_s / (k + rank_s(d))``
with 1-based ranks and k=60; a list that does not contain d adds nothing. It needs no score
calibration, which is why it is the default way to join BM25 and dense results.

>>> rrf({"bm25": ["a", "b"], "dense": ["b", "c"]})[:2]
[('b', 0.03252247488101534), ('a', 0.01639344262295082)]
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

RRF_K = 60


def rrf(
    rankings: Mapping[str, Sequence[Hashable]], k: int = RRF_K, weights: Mapping[str, float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists (best first) into [(key, score)] sorted by score, ties by first appearance."""
    scores: dict[Hashable, float] = {}
    for name, ranked in rankings.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, key in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])
