"""Metric values checked against hand computation (trec_eval conventions)."""

import math

import pytest

from encoderkit.retrieval.metrics import candidate_recall, evaluate, read_run, recall_curve, strict_scores, write_run

QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d9": 0}}
RUN = {"q1": ["d3", "d1", "d4", "d2"], "q2": ["d9", "d8"]}


def test_graded_example_by_hand():
    res = evaluate(QRELS, RUN)
    q1 = res["per_query"]["q1"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert q1["ndcg@10"] == pytest.approx(dcg / idcg)
    assert q1["mrr@10"] == pytest.approx(0.5)  # first relevant (grade >= 1) at rank 2
    assert q1["recall@10"] == 1.0 and q1["recall@100"] == 1.0
    assert q1["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    # a query with no relevant document scores 0 everywhere and still counts in the mean
    assert all(v == 0.0 for v in res["per_query"]["q2"].values())
    assert res["mean"]["mrr@10"] == pytest.approx(0.25)


def test_binary_and_cutoffs():
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": [f"x{i}" for i in range(10)] + ["a"]}  # relevant only at rank 11
    res = evaluate(qrels, run)["mean"]
    assert res["mrr@10"] == 0.0 and res["recall@10"] == 0.0
    assert res["recall@100"] == 0.5 and res["map@100"] == pytest.approx((1 / 11) / 2)
    curve = recall_curve(qrels, run, ks=(1, 10, 20))
    assert curve == {1: 0.0, 10: 0.0, 20: 0.5}


def test_missing_query_in_run_scores_zero():
    res = evaluate({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": ["a"]})
    assert res["per_query"]["q2"]["ndcg@10"] == 0.0 and res["mean"]["ndcg@10"] == 0.5


def test_ties_keep_pipeline_order_not_trec_eval_docid_order(tmp_path):
    import pytrec_eval

    qrels = {"q": {"b": 1}}
    tied = {"q": {"a": 1.0, "b": 1.0}}  # our order: a then b
    raw = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(tied)["q"]["recip_rank"]
    assert raw == 1.0  # trec_eval alone breaks the tie by doc id (b first)
    assert evaluate(qrels, tied)["mean"]["mrr@10"] == 0.5
    write_run(tmp_path / "run.trec", {"q": [("a", 1.0), ("b", 1.0)]}, tag="t")
    from_file = read_run(tmp_path / "run.trec")
    again = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(from_file)["q"]["recip_rank"]
    assert again == 0.5  # trec_eval on the written file agrees with us
    assert list(strict_scores(["x", "y", "z"], [3.0, 3.0, 1.0]).values())[1] < 3.0


def test_candidate_recall_is_set_recall():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    assert candidate_recall(qrels, {"q1": ["z", "a"], "q2": ["c"]}) == pytest.approx(0.75)
