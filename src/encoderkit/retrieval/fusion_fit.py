"""Choosing a fusion rule from judged queries -- pseudo-queries of the index's own documents
(calibration) or a user's labelled queries (tuning) -- and saying how sure the choice is: pure functions
over each query's first-stage rankings and its judgements.

- :func:`choose_rule`: the candidate (:func:`~.fusion_rule.candidate_rules`) with the best mean nDCG@10;
  ties go to the smaller per-query shift, then to the more even weights (the simpler rule).
- :func:`cross_validate`: k-fold: choose on k-1 folds, score the held-out fold; what a tuned rule is
  expected to give on new queries (the choice's own optimism removed).
- :func:`bootstrap_ci`: a percentile bootstrap interval of a mean per-query difference (Efron &
  Tibshirani 1993; the paired test of Sakai, "Statistical reform in IR", SIGIR Forum 2014).

>>> from encoderkit.retrieval.ranking import Ranked
>>> good = Ranked(["a", "b", "c"], [3.0, 2.0, 1.0], [0, 1, 2])
>>> bad = Ranked(["b", "c", "a"], [3.0, 2.0, 1.0], [1, 2, 0])
>>> samples = [Sample({"bm25": bad, "dense": good}, {"a": 1})] * 4
>>> rule, table = choose_rule(samples, candidate_rules(["bm25", "dense"]))
>>> rule.method, rule.weights["dense"] > rule.weights["bm25"], round(table[0][1], 4)
('weighted', True, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .fusion_rule import FusionRule, candidate_rules  # noqa: F401  (re-exported for callers)
from .fusion_signals import score_gap
from .metrics import ndcg_at
from .ranking import Ranked

# a list under this share of the best list's nDCG on pseudo-queries is dropped. Set a priori, not fitted on
# any queries: on the pseudo-queries of the six indexes of BENCHMARKS 17 the weaker list scored 0.47-0.78 of
# the better one (raw: benchmarks/results/fusion-corpora/), and a list that knows nothing scores near 0
# (tests/retrieval/test_fusion_adaptive.py).
USELESS_SHARE = 1 / 3
DEFAULT_STRENGTH = 1.0  # the per-query shift of a calibrated rule (chosen on dev queries, docs/fusion.md)


@dataclass
class Sample:
    """One judged query: its first-stage rankings (name -> Ranked, depth deep) and judgements {key: grade}."""

    rankings: dict[str, Ranked]
    relevant: dict


def typical_gaps(samples: Sequence[Sample]) -> dict[str, float]:
    """Each retriever's median score gap over the samples (the reference a query's gap is compared with)."""
    names = sorted({n for s in samples for n in s.rankings})
    out = {}
    for n in names:
        gaps = [score_gap(s.rankings[n].scores) for s in samples if n in s.rankings]
        out[n] = float(np.median(gaps)) if gaps else 0.0
    return out


def rule_scores(rule: FusionRule, samples: Sequence[Sample], k: int = 10) -> np.ndarray:
    """nDCG@k of each sample's fused ranking under ``rule``."""
    return np.array([ndcg_at(rule.apply(s.rankings)[0].keys, s.relevant, k) for s in samples], dtype=np.float64)


def single_scores(name: str, samples: Sequence[Sample], k: int = 10) -> np.ndarray:
    """nDCG@k of each sample's ranking from one retriever alone."""
    return np.array([ndcg_at(s.rankings[name].keys, s.relevant, k) for s in samples], dtype=np.float64)


def _simplicity(rule: FusionRule) -> tuple:
    w = np.array(list(rule.weights.values()), dtype=np.float64)
    spread = float(np.abs(w / w.sum() - 1 / len(w)).sum()) if w.sum() > 0 else 1.0
    return (rule.strength, spread, rule.method != "weighted")


def choose_rule(
    samples: Sequence[Sample], rules: Sequence[FusionRule], reference: dict | None = None, groups: Sequence[str] | None = None
) -> tuple[FusionRule, list[tuple[FusionRule, float]]]:
    """The best rule on ``samples`` (with ``reference`` gaps, default :func:`typical_gaps` of the samples)
    and every candidate's objective, best first. The objective is the mean nDCG@10; with ``groups`` (a
    label per sample: a kind of query), the *worst* group's margin over the best single list of that
    group (a rule that keeps up with the better list on every kind of query), ties by the mean."""
    if not samples:
        raise ValueError("no samples to choose a fusion rule on")
    reference = typical_gaps(samples) if reference is None else reference
    names = sorted({n for s in samples for n in s.rankings})
    labels = list(groups) if groups is not None else ["all"] * len(samples)
    index = {g: np.array([i for i, x in enumerate(labels) if x == g]) for g in sorted(set(labels))}
    best_single = {g: max(single_scores(n, [samples[i] for i in ix]).mean() for n in names) for g, ix in index.items()}
    table = []
    for rule in rules:
        rule = rule.with_(reference=reference)
        per = rule_scores(rule, samples)
        worst = min(per[ix].mean() - best_single[g] for g, ix in index.items()) if groups is not None else per.mean()
        table.append((rule, float(worst), float(per.mean())))
    table.sort(key=lambda rm: (-round(rm[1], 9), -round(rm[2], 9), _simplicity(rm[0])))
    return table[0][0], [(r, m) for r, m, _ in table]


def calibrated_rule(samples: Sequence[Sample], base: dict[str, float] | None = None) -> FusionRule:
    """The rule an index gives itself from pseudo-queries of its documents (``samples``): score-normalised
    weighted fusion of the lists that work, with ``base`` weights (each retriever's ``calibration_weight``,
    renormalised over the lists kept) and the per-query shift (:data:`DEFAULT_STRENGTH`) measured against
    each list's typical score gap on this corpus.

    What the pseudo-queries decide: which lists work at all -- a list whose mean nDCG@10 on them is under
    :data:`USELESS_SHARE` of the best list's is dropped (an encoder that knows nothing of the corpus'
    codes and hashes; a BM25 whose words never match), so the default follows the others alone -- and
    each list's typical score gap (the reference of the per-query shift). What they do not decide: the
    weights. Pseudo-queries take their words from the document, so they over-rate BM25 against real
    users' queries: weights fitted on them leaned towards BM25 on every corpus measured, while real
    questions there favoured dense (docs/fusion.md has the ablation). The base weights and the strength
    were chosen on dev queries instead.

    >>> from encoderkit.retrieval.ranking import Ranked
    >>> hit, miss = Ranked([1, 2, 3], [3.0, 2.0, 1.0], [1, 2, 3]), Ranked([2, 3, 4], [3.0, 2.0, 1.0], [2, 3, 4])
    >>> calibrated_rule([Sample({"bm25": hit, "dense": miss}, {1: 1})] * 3, {"bm25": 0.4, "dense": 0.6}).describe()
    'weighted (bm25 1, dense 0)'
    >>> calibrated_rule([Sample({"bm25": hit, "dense": hit}, {1: 1})] * 3, {"bm25": 0.4, "dense": 0.6}).describe()
    'weighted (bm25 0.4, dense 0.6), per-query shift 1'
    """
    names = list(samples[0].rankings)
    reference = typical_gaps(samples)
    singles = {n: float(single_scores(n, samples).mean()) for n in names}
    best = max(singles.values())
    keep = [n for n in names if singles[n] >= USELESS_SHARE * best] if best > 0 else names
    if len(keep) == 1:
        return FusionRule("weighted", {n: float(n in keep) for n in names}, 0.0, reference)
    base = {n: float((base or {}).get(n, 1.0)) for n in keep}
    total = sum(base.values()) or 1.0
    weights = {n: (round(base[n] / total, 4) if n in keep else 0.0) for n in names}
    return FusionRule("weighted", weights, DEFAULT_STRENGTH, reference)


def folds_of(n: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Sample indices split into ``folds`` shuffled folds (seeded).

    >>> [len(f) for f in folds_of(10, 3)]
    [4, 3, 3]
    """
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(order, folds)]


def cross_validate(samples: Sequence[Sample], rules: Sequence[FusionRule], folds: int = 5, seed: int = 0) -> dict:
    """k-fold cross-validation of :func:`choose_rule`: each sample scored by the rule chosen without it.
    Returns {"per_query": held-out nDCG@10 per sample, "mean", "chosen": the rule of each fold}."""
    folds = max(2, min(folds, len(samples)))
    held = np.zeros(len(samples))
    chosen = []
    for f in folds_of(len(samples), folds, seed):
        train = [samples[i] for i in range(len(samples)) if i not in set(f.tolist())]
        rule, _ = choose_rule(train, rules)
        held[f] = rule_scores(rule, [samples[i] for i in f])
        chosen.append(rule.describe())
    return {"per_query": held, "mean": float(held.mean()), "chosen": chosen}


def bootstrap_ci(values: Sequence[float], n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (e.g. per-query differences), seeded.

    >>> lo, hi = bootstrap_ci([0.1, 0.2, 0.0, 0.1, 0.15])
    >>> lo < 0.11 < hi
    True
    """
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))
