"""Cross-encoder reranking: scoring, search and evaluation pipelines."""

import json

import numpy as np
import pytest

from conftest import make_tiny_cross_encoder, write
from encoderkit import Index
from encoderkit.errors import EncoderkitError
from encoderkit.models.heads.cross_encoder import Reranker

DOCS = [{"id": f"d{i}", "title": f"Doc {i}", "text": f"topic {i % 5} words about item {i} and more text {i}"} for i in range(30)]


@pytest.fixture(scope="module")
def reranker(tiny_cross_encoder_dir):
    return Reranker.load(tiny_cross_encoder_dir)


def test_scores_are_batch_invariant_and_raw_is_logit(reranker):
    passages = ["short", "a much longer passage " * 10, "medium length passage here"]
    s = reranker.score("query text", passages, batch_size=2)
    one = np.array([reranker.score("query text", [p])[0] for p in passages])
    assert s.shape == (3,) and np.allclose(s, one, atol=1e-5) and ((0 < s) & (s < 1)).all()
    raw = reranker.score_pairs([("query text", p) for p in passages], raw=True)
    assert np.allclose(1 / (1 + np.exp(-raw)), s, atol=1e-5)


def test_multi_output_model_is_refused(tmp_path):
    path = make_tiny_cross_encoder(tmp_path / "two", num_labels=2)
    with pytest.raises(EncoderkitError, match="has 2 outputs"):
        Reranker.load(path)


def test_search_with_reranker(tmp_path, tiny_encoder, reranker):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(DOCS)
    plain = index.search("topic 3 words", mode="hybrid", k=20, depth=100)
    hits = index.search("topic 3 words", mode="hybrid", k=20, depth=100, reranker=reranker, rerank_depth=8)
    head = hits[:8]
    assert all("rerank" in h.stages for h in head) and not any("rerank" in h.stages for h in hits[8:])
    assert [h.score for h in head] == sorted((h.score for h in head), reverse=True)
    assert {h.doc_id for h in head} == {h.doc_id for h in plain[:8]}  # reranking only reorders the top
    assert [h.doc_id for h in hits[8:]] == [h.doc_id for h in plain[8:]]
    expected = reranker.score("topic 3 words", [index.store.chunk_texts([h.chunk_id])[h.chunk_id] for h in head])
    assert np.allclose(sorted(expected, reverse=True), [h.score for h in head], atol=1e-5)


def test_eval_rerank_pipeline(tmp_path, tiny_model_dir, tiny_cross_encoder_dir):
    from encoderkit.evaluation.retrieval import evaluate_retrieval

    root = tmp_path / "beir"
    write(
        root / "corpus.jsonl", "".join(json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) + "\n" for d in DOCS)
    )
    write(root / "queries.jsonl", "".join(json.dumps({"_id": f"q{i}", "text": f"item {i} topic"}) + "\n" for i in range(5)))
    write(root / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(5)))
    with pytest.raises(EncoderkitError, match="needs a cross-encoder"):
        evaluate_retrieval(root, ["hybrid+rerank"], out_dir=tmp_path / "o", model=str(tiny_model_dir))
    res = evaluate_retrieval(
        root,
        ["hybrid", "hybrid+rerank"],
        out_dir=tmp_path / "o",
        model=str(tiny_model_dir),
        rerank_model=str(tiny_cross_encoder_dir),
        rerank_depth=10,
    )
    rr = res["pipelines"]["hybrid+rerank"]
    assert "hybrid top 10 (rerank input)" in rr["stage_recall"] and "rerank" in rr["stage_latency_ms_p50"]
    assert rr["stage_recall"]["hybrid top 10 (rerank input)"] <= rr["stage_recall"]["fusion input (union)"]
    assert res["reranker"]["depth"] == 10
    # recall@100 cannot change: reranking only reorders the top 10
    assert rr["metrics"]["recall@100"] == res["pipelines"]["hybrid"]["metrics"]["recall@100"]
    # +rerank-rrf after +rerank reuses the cross-encoder's scores: identical to computing them afresh
    both = evaluate_retrieval(
        root,
        ["hybrid+rerank", "hybrid+rerank-rrf"],
        out_dir=tmp_path / "o2",
        model=str(tiny_model_dir),
        rerank_model=str(tiny_cross_encoder_dir),
        rerank_depth=10,
    )
    alone = evaluate_retrieval(
        root,
        ["hybrid+rerank-rrf"],
        out_dir=tmp_path / "o3",
        model=str(tiny_model_dir),
        rerank_model=str(tiny_cross_encoder_dir),
        rerank_depth=10,
    )
    assert both["pipelines"]["hybrid+rerank-rrf"].get("rerank_scores_reused") is True
    assert "rerank_scores_reused" not in both["pipelines"]["hybrid+rerank"]
    assert both["pipelines"]["hybrid+rerank-rrf"]["metrics"] == alone["pipelines"]["hybrid+rerank-rrf"]["metrics"]
    assert both["pipelines"]["hybrid+rerank"]["metrics"] == rr["metrics"]


def test_rerank_fusion_rrf(tmp_path, tiny_encoder, reranker):
    from encoderkit.retrieval.fusion import rrf

    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(DOCS)
    first = index.search("topic 1 item", mode="bm25", k=30)
    replaced = index.search("topic 1 item", mode="bm25", k=30, reranker=reranker, rerank_depth=10)
    fused = index.search("topic 1 item", mode="bm25", k=30, reranker=reranker, rerank_depth=10, rerank_fusion="rrf")
    expected = rrf({"first": [h.doc_id for h in first[:10]], "rerank": [h.doc_id for h in replaced[:10]]})
    assert [h.doc_id for h in fused[:10]] == [d for d, _ in expected]
    assert [h.doc_id for h in fused[10:]] == [h.doc_id for h in first[10:]]
    with pytest.raises(EncoderkitError, match="unknown rerank fusion"):
        index.search("x", reranker=reranker, rerank_fusion="max")
