"""Rank fusion: combine ranked lists from several retrievers into one.

- ``rrf``, reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009):
  ``score(d) = sum_s w_s / (k + rank_s(d))`` with 1-based ranks and k=60; a list that does not contain
  d adds nothing. It needs no score calibration, but it ignores how far apart the scores are, so with
  equal weights a much weaker list can pull the fused order below the stronger list alone.
- ``weighted``, a convex combination of scores normalised per query (min-max over each list's
  candidates: the best gets 1, the last 0; a list that does not contain d adds 0), as analysed by
  Bruch, Gai & Ingber ("An Analysis of Fusion Functions for Hybrid Retrieval", TOIS 2023), who find it
  more robust than RRF once each list has a weight.

>>> rrf({"bm25": ["a", "b"], "dense": ["b", "c"]})[:2]
[('b', 0.03252247488101534), ('a', 0.01639344262295082)]
>>> weighted({"bm25": [("a", 9.0), ("b", 5.0), ("c", 1.0)], "dense": [("b", 0.8), ("c", 0.6)]}, {"bm25": 1, "dense": 2})
[('b', 0.8333333333333334), ('a', 0.3333333333333333), ('c', 0.0)]
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

RRF_K = 60
FUSIONS = ("auto", "rrf", "weighted")
DEFAULT_FUSION = "auto"  # the index's own rule (fusion_rule, index.calibrate); without one, resolve_fusion


def resolve_fusion(method: str, late_interaction: bool) -> str:
    """What ``auto`` fusion means for an index without a fusion rule of its own (built before calibration,
    or too small to calibrate): ``weighted`` (each retriever's
    ``weighted_fusion_weight``: bm25 1, dense 0.25, colbert 6) when a late-interaction retriever is among
    them, ``rrf`` (equal weights) otherwise.

    How it was chosen (``benchmarks/colbert_scifact.py``, docs/late-interaction.md): on 80 held-out SciFact
    *train* queries, over RRF and a grid of weighted rules, the rule whose worst margin over the best
    single input (every pair and the triple of bm25, dense, colbert) is largest: weighted {1, 0.25, 6},
    worst dev margin -0.0028 (RRF: -0.0278, dense+colbert). Without ColBERT, RRF stays the default
    (bm25+dense +0.0309 over BM25 on dev; the weighted rule there is also above its best input).

    >>> resolve_fusion("auto", True), resolve_fusion("auto", False), resolve_fusion("rrf", True)
    ('weighted', 'rrf', 'rrf')
    """
    if method != "auto":
        return method
    return "weighted" if late_interaction else "rrf"


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


def minmax(scores: Sequence[float]) -> list[float]:
    """Scores mapped to [0, 1] (best 1, worst 0); all equal -> all 1.

    >>> minmax([3.0, 2.0, 1.0]), minmax([5.0])
    ([1.0, 0.5, 0.0], [1.0])
    """
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def weighted(
    scored: Mapping[str, Sequence[tuple[Hashable, float]]], weights: Mapping[str, float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fuse scored lists (best first) into [(key, score)]: the weighted mean of per-list min-max
    normalised scores (weights default to 1), sorted by score, ties by first appearance."""
    total: dict[Hashable, float] = {}
    wsum = 0.0
    for name, items in scored.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        wsum += w
        for (key, _), s in zip(items, minmax([float(s) for _, s in items])):
            total[key] = total.get(key, 0.0) + w * s
    wsum = wsum or 1.0
    return sorted(((key, s / wsum) for key, s in total.items()), key=lambda kv: -kv[1])
