"""Per-query signals of how sure each first stage is, read from its own ranked list, and the weights a
query gets from them (the query-time half of adaptive fusion, :mod:`.fusion_rule`).

The signal is the normalised score gap of a list: scores min-max normalised over the list's candidates
(best 1, last 0), then ``gap = s_1 - mean(s_2 .. s_10)``. A list with a clear winner has a large gap, a
flat list (many near-equal candidates: a query whose terms are common, or that the encoder cannot
separate) a small one; an empty list (no query term in the collection) has gap 0. It is a query
performance predictor of the kind surveyed by Shtok, Kurland, Carmel, Raiber & Markovits ("Predicting
query performance by query-drift estimation", TOIS 2012: the spread of the top scores) -- written here
in a few lines because no library we use computes it over our lists.

Retrievers' gaps differ by nature (cosine lists are flatter than BM25's), so a query's gap is compared
with the *typical* gap of that retriever on the index's own pseudo-queries (``reference``, measured at
calibration): weight ``w_s * (gap_s / reference_s) ** strength``, clipped to [1/4, 4] times the base.

>>> round(score_gap([9.0, 5.0, 1.0]), 4), score_gap([]), score_gap([2.0])
(0.75, 0.0, 1.0)
>>> query_weights({"bm25": 0.5, "dense": 0.5}, {"bm25": 0.2, "dense": 0.6}, {"bm25": 0.4, "dense": 0.3}, 1.0)
{'bm25': 0.25, 'dense': 1.0}
>>> query_weights({"bm25": 0.5, "dense": 0.5}, {"bm25": 0.2, "dense": 0.6}, {"bm25": 0.4, "dense": 0.3}, 0.0)
{'bm25': 0.5, 'dense': 0.5}
"""

from __future__ import annotations

from typing import Mapping, Sequence

GAP_DEPTH = 10  # the gap compares the best score with the mean of the next GAP_DEPTH - 1
MAX_SHIFT = 4.0  # a query's weight stays within [base / MAX_SHIFT, base * MAX_SHIFT]


def score_gap(scores: Sequence[float], depth: int = GAP_DEPTH) -> float:
    """The normalised gap between a list's best score and the mean of its next ``depth - 1`` (scores best
    first, min-max normalised over the whole list); 0 for an empty list, 1 for a single candidate."""
    if not len(scores):
        return 0.0
    if len(scores) == 1:
        return 1.0
    hi, lo = float(scores[0]), float(min(scores))
    if hi <= lo:
        return 0.0
    nxt = [(float(s) - lo) / (hi - lo) for s in scores[1:depth]]
    return 1.0 - sum(nxt) / len(nxt)


def query_weights(
    base: Mapping[str, float], gaps: Mapping[str, float], reference: Mapping[str, float], strength: float
) -> dict[str, float]:
    """Each list's weight for one query: ``base * (gap / reference) ** strength``, the factor clipped to
    [1/MAX_SHIFT, MAX_SHIFT]; ``strength`` 0 (or no reference for a list) keeps the base weight."""
    out = {}
    for name, w in base.items():
        ref = float(reference.get(name) or 0.0)
        if strength <= 0 or ref <= 0 or w <= 0:
            out[name] = float(w)
            continue
        ratio = max(float(gaps.get(name, 0.0)), 1e-6) / ref
        factor = min(MAX_SHIFT, max(1.0 / MAX_SHIFT, ratio**strength))
        out[name] = float(w) * factor
    return out


def overlap_at(lists: Mapping[str, Sequence], k: int = GAP_DEPTH) -> float:
    """Share of the top-``k`` keys that every list has in its top ``k`` (1: they agree; explanations).

    >>> overlap_at({"bm25": ["a", "b", "c"], "dense": ["b", "a", "d"]}, k=3)
    0.6667
    """
    tops = [set(list(keys)[:k]) for keys in lists.values()]
    if not tops or not all(tops):
        return 0.0
    common = set.intersection(*tops)
    return round(len(common) / max(len(t) for t in tops), 4)
