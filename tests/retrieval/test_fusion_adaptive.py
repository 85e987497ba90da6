"""Adaptive fusion, the pure parts: per-query signals, rules, choosing a rule and how sure the choice is."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.errors import EncoderkitError
from encoderkit.retrieval.fusion_fit import (
    Sample,
    bootstrap_ci,
    calibrated_rule,
    choose_rule,
    cross_validate,
    rule_scores,
    single_scores,
    typical_gaps,
)
from encoderkit.retrieval.fusion_rule import FusionRule, candidate_rules
from encoderkit.retrieval.fusion_signals import query_weights, score_gap
from encoderkit.retrieval.metrics import evaluate, ndcg_at
from encoderkit.retrieval.options import SearchOptions
from encoderkit.retrieval.pipeline import fusion_rule_for
from encoderkit.retrieval.ranking import Ranked

N_DOCS = 200


def _ranked(order, rng) -> Ranked:
    scores = np.sort(rng.random(len(order)))[::-1] * 10
    return Ranked(list(order), scores.tolist(), list(order), list(order))


def _samples(n: int, seed: int, useless: str) -> list[Sample]:
    """Queries with one relevant document (0): the good list puts it in its top 3, the useless one
    ranks 100 documents at random (a list that knows nothing, with confident-looking scores)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        others = rng.permutation(np.arange(1, N_DOCS))[:99].tolist()
        good = others[:]
        good.insert(int(rng.integers(0, 3)), 0)
        bad = rng.permutation([0, *others]).tolist()
        lists = {"bm25": bad, "dense": good} if useless == "bm25" else {"bm25": good, "dense": bad}
        out.append(Sample({k: _ranked(v, rng) for k, v in lists.items()}, {0: 1}))
    return out


@pytest.mark.parametrize("useless, better", [("bm25", "dense"), ("dense", "bm25")])
def test_a_useless_list_is_dropped_and_the_default_follows_the_other(useless, better):
    rules = candidate_rules(["bm25", "dense"])
    rule, _ = choose_rule(_samples(80, 0, useless), rules)  # calibration data
    held_out = _samples(200, 1, useless)  # other queries of the same corpus
    fused, best = rule_scores(rule, held_out).mean(), single_scores(better, held_out).mean()
    equal_rrf = rule_scores(FusionRule("rrf", {"bm25": 1.0, "dense": 1.0}), held_out).mean()
    assert fused >= best - 0.005, (rule.describe(), fused, best)
    assert equal_rrf < best - 0.05  # the fixed rule does lose here: the test can fail
    assert rule.weights[better] > rule.weights[useless]


@pytest.mark.parametrize("useless, better", [("bm25", "dense"), ("dense", "bm25")])
def test_calibration_drops_a_useless_list_and_keeps_both_otherwise(useless, better):
    base = {"bm25": 0.4, "dense": 0.6}
    rule = calibrated_rule(_samples(60, 0, useless), base)  # pseudo-queries of a corpus where one list fails
    held_out = _samples(200, 1, useless)
    assert rule.weights[useless] == 0 and rule_scores(rule, held_out).mean() >= single_scores(better, held_out).mean() - 0.005
    both = calibrated_rule(_samples(60, 0, useless)[:30] + _samples(60, 0, better)[:30], base)  # each list fails half
    assert both.weights == base and both.strength == 1.0 and set(both.reference) == {"bm25", "dense"}


def test_choice_is_deterministic_and_prefers_the_simpler_rule_on_ties():
    samples = _samples(40, 3, "bm25")
    a, table_a = choose_rule(samples, candidate_rules(["bm25", "dense"]))
    b, table_b = choose_rule(samples, candidate_rules(["bm25", "dense"]))
    assert a == b and [m for _, m in table_a] == [m for _, m in table_b]
    best = table_a[0][1]
    tied = [r for r, m in table_a if abs(m - best) < 1e-9]
    assert a.strength == min(r.strength for r in tied)


def test_score_gap_and_query_weights():
    assert score_gap([10, 1, 1, 1]) == 1.0 and score_gap([5, 5, 5]) == 0.0
    assert score_gap([3.0, 2.0, 1.0]) == pytest.approx(0.75)
    w = query_weights({"bm25": 0.5, "dense": 0.5}, {"bm25": 0.0, "dense": 1.0}, {"bm25": 0.5, "dense": 0.5}, 1.0)
    assert w == {"bm25": 0.125, "dense": 1.0}  # clipped at a quarter and four times the base
    assert query_weights({"bm25": 0.5}, {"bm25": 0.9}, {}, 1.0) == {"bm25": 0.5}  # no reference: unchanged


def test_rule_roundtrip_explanation_and_bad_input():
    rule = FusionRule("weighted", {"bm25": 0.4, "dense": 0.6}, 1.0, {"bm25": 0.3, "dense": 0.2}, source="calibrated")
    assert FusionRule.from_dict(rule.to_dict()) == rule
    lists = {"bm25": Ranked(["a", "b"], [9.0, 1.0], [0, 1]), "dense": Ranked(["b", "a"], [0.8, 0.7], [1, 0])}
    fused, why = rule.apply(lists, explain=True)
    assert why["source"] == "calibrated" and set(why["weights"]) == {"bm25", "dense"} and fused.keys
    assert why["weights"]["bm25"] > 0.4  # bm25's gap (1.0) is above its typical 0.3: more say for this query
    with pytest.raises(EncoderkitError, match="unknown fusion method"):
        FusionRule("max", {})
    with pytest.raises(EncoderkitError, match="newer"):
        FusionRule.from_dict({**rule.to_dict(), "format_version": 99})


def test_overrides_win_over_the_index_rule():
    own = FusionRule("weighted", {"bm25": 0.1, "dense": 0.9}, source="calibrated")
    assert fusion_rule_for(SearchOptions(), ["bm25", "dense"], own) is own
    assert fusion_rule_for(SearchOptions(fusion="auto"), ["bm25", "dense"], own) is own
    assert fusion_rule_for(SearchOptions(fusion="rrf"), ["bm25", "dense"], own).method == "rrf"
    w = fusion_rule_for(SearchOptions(weights={"bm25": 3, "dense": 1}), ["bm25", "dense"], own)
    assert w.source == "override" and w.weights == {"bm25": 3.0, "dense": 1.0}
    # a rule calibrated for other retrievers than a search runs is not used for it
    assert fusion_rule_for(SearchOptions(), ["bm25", "colbert"], own).source == "default"


def test_cross_validation_and_bootstrap():
    samples = _samples(60, 5, "dense")
    cv = cross_validate(samples, candidate_rules(["bm25", "dense"]), folds=5, seed=0)
    assert len(cv["per_query"]) == 60 and len(cv["chosen"]) == 5
    assert cv["mean"] >= single_scores("bm25", samples).mean() - 0.01
    lo, hi = bootstrap_ci(np.full(50, 0.1))
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    lo, hi = bootstrap_ci([0.0, 1.0] * 50, seed=1)
    assert lo < 0.5 < hi and bootstrap_ci([1.0, 0.0] * 50, seed=1) == (lo, hi)
    assert set(typical_gaps(samples)) == {"bm25", "dense"}


def test_ndcg_agrees_with_trec_eval():
    rng = np.random.default_rng(0)
    for _ in range(20):
        docs = [f"d{i}" for i in range(30)]
        qrels = {d: int(g) for d, g in zip(docs, rng.integers(0, 3, 30)) if rng.random() < 0.3}
        ranked = list(rng.permutation(docs))
        run = {"q": {d: float(30 - i) for i, d in enumerate(ranked)}}
        if not any(g > 0 for g in qrels.values()):
            continue
        want = evaluate({"q": qrels}, run)["per_query"]["q"]["ndcg@10"]
        assert ndcg_at(ranked, qrels) == pytest.approx(want, abs=1e-4)
