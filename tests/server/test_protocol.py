"""Whole-document mode is the standard BEIR/MTEB protocol, and rankings break ties like trec_eval (#18).

The reference is written here from scratch with sentence-transformers, bm25s and pytrec_eval: texts
are ``(title + " " + text).strip()``, dense scores are cosine similarities of normalised
sentence-transformers embeddings, BM25 is bm25s' Lucene variant with the project's documented analysis,
and trec_eval orders everything. encoderkit must agree exactly: same rankings, same metrics.
"""

import json

import numpy as np
import pytest

from conftest import write
from encoderkit.retrieval.metrics import read_run
from encoderkit.retrieval.ranking import Ranked, collapse, fuse, tie_keys

TOPICS = [
    ("Vitamin D and bone density", "supplementation in older adults reduces fracture risk"),
    ("Gut microbiome diversity", "antibiotic exposure in infancy alters bacterial populations"),
    ("Sleep deprivation", "reduced sleep impairs working memory and attention in students"),
    ("Statins and muscle pain", "myalgia is reported by a minority of patients on statin therapy"),
    ("Air pollution", "fine particulate matter is linked to cardiovascular mortality"),
    ("Exercise and depression", "aerobic exercise lowers depressive symptoms in randomized trials"),
    ("Coffee consumption", "moderate coffee intake is associated with lower liver disease risk"),
    ("Telomere length", "shorter telomeres are associated with cellular aging and stress"),
    ("Malaria vaccines", "the RTS,S vaccine reduces clinical malaria episodes in children"),
    ("Salt intake", "lower sodium intake reduces blood pressure in hypertensive adults"),
]


def _corpus():
    docs = []
    for i, (title, body) in enumerate(TOPICS):
        # titles repeat the body's opening (the case the old heuristic dropped the title for)
        docs.append({"_id": f"doc{i}", "title": title, "text": f"{title}: {body}. Further results follow in detail."})
        docs.append({"_id": f"alt{i}", "title": f"Review of {title.lower()}", "text": f"We review studies where {body}."})
    docs.append({"_id": "dupA", "title": "Sleep and memory", "text": "Sleep supports memory consolidation."})
    docs.append({"_id": "dupB", "title": "Sleep and memory", "text": "Sleep supports memory consolidation."})
    docs.append({"_id": "notitle", "title": "", "text": "Coffee and tea both contain caffeine, a stimulant."})
    return docs


QUERIES = {
    "q1": "does vitamin D prevent fractures",
    "q2": "antibiotics change infant gut bacteria",
    "q3": "sleep and memory",
    "q4": "statin side effects muscle",
    "q5": "coffee liver",
    "q6": "particulate matter heart deaths",
}
QRELS = {
    "q1": {"doc0": 1},
    "q2": {"doc1": 1, "alt1": 1},
    "q3": {"dupA": 1},
    "q4": {"doc3": 1},
    "q5": {"doc6": 2},
    "q6": {"doc4": 1},
}


@pytest.fixture(scope="module")
def titled_beir(tmp_path_factory):
    root = tmp_path_factory.mktemp("titled")
    write(root / "corpus.jsonl", "".join(json.dumps(d) + "\n" for d in _corpus()))
    write(root / "queries.jsonl", "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    rows = "".join(f"{q}\t{d}\t{g}\n" for q, docs in QRELS.items() for d, g in docs.items())
    write(root / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n" + rows)
    return root


def _trec_order(scores: dict[str, float]) -> list[str]:
    """trec_eval's order: score (single precision) descending, then document id descending."""
    return sorted(scores, key=lambda d: (np.float32(scores[d]), d), reverse=True)


def _reference_runs(docs, queries):
    import bm25s
    import Stemmer
    from sentence_transformers import SentenceTransformer

    from encoderkit.models.ref import bundled_model_path

    texts = [(d["title"] + " " + d["text"]).strip() for d in docs]
    ids = [d["_id"] for d in docs]
    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    dv = model.encode(texts, normalize_embeddings=True, batch_size=32)
    qv = model.encode(list(queries.values()), normalize_embeddings=True, batch_size=32)
    dense = {q: {ids[j]: float(s) for j, s in enumerate(row)} for q, row in zip(queries, qv @ dv.T)}
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    q_tokens = bm25s.tokenize(list(queries.values()), stopwords="en", stemmer=stemmer, show_progress=False)
    found, scores = retriever.retrieve(q_tokens, k=len(texts), show_progress=False)
    bm25 = {q: {ids[j]: float(s) for j, s in zip(f, sc) if s > 0} for q, f, sc in zip(queries, found, scores)}
    return {"dense": dense, "bm25": bm25}


def _metrics(run):
    import pytrec_eval

    measures = {"ndcg_cut.10", "recall.100", "map_cut.100"}
    per_q = pytrec_eval.RelevanceEvaluator(QRELS, measures).evaluate(run)
    return {
        m: round(float(np.mean([per_q.get(q, {}).get(m, 0.0) for q in QRELS])), 4)
        for m in ("ndcg_cut_10", "recall_100", "map_cut_100")
    }


def test_whole_document_mode_equals_independent_beir_protocol(titled_beir, minilm, tmp_path):
    from encoderkit.evaluation.retrieval import evaluate_retrieval

    out = tmp_path / "eval"
    res = evaluate_retrieval(titled_beir, ["bm25", "dense", "hybrid"], out_dir=out, chunk_size=0, show_progress=False)
    ref = _reference_runs(_corpus(), QUERIES)
    for name in ("bm25", "dense"):
        ours = read_run(out / "runs" / f"{name}.trec")
        for q in QUERIES:
            ranked = [d for d, _ in sorted(ours[q].items(), key=lambda kv: -kv[1])]
            assert ranked == _trec_order(ref[name][q])[: len(ranked)], (name, q)
            assert len(ranked) == min(100, len(ref[name][q]))
        got = res["pipelines"][name]["metrics"]
        want = _metrics(ref[name])
        assert (got["ndcg@10"], got["recall@100"], got["map@100"]) == (
            want["ndcg_cut_10"],
            want["recall_100"],
            want["map_cut_100"],
        ), name
    # the report's metrics are trec_eval's over the run files it wrote, for every pipeline
    for name, p in res["pipelines"].items():
        want = _metrics(read_run(out / "runs" / f"{name}.trec"))
        assert (p["metrics"]["ndcg@10"], p["metrics"]["recall@100"], p["metrics"]["map@100"]) == tuple(want.values())
    # the duplicated documents tie everywhere; trec_eval's order puts dupB first
    dense_q3 = read_run(out / "runs" / "dense.trec")["q3"]
    assert [d for d in sorted(dense_q3, key=lambda d: -dense_q3[d]) if d.startswith("dup")] == ["dupB", "dupA"]


def test_tie_breaking_is_trec_eval_order_everywhere():
    ids = ["a", "c", "b", "d"]
    ties = tie_keys(ids)  # d first, then c, b, a
    r = collapse(np.array([10, 11, 12, 13]), np.array([1.0, 1.0, 1.0, 2.0]), np.array([0, 1, 2, 3]), "document", ties)
    assert [ids[k] for k in r.keys] == ["d", "c", "b", "a"]
    # a near-tie below single precision is a tie too (trec_eval reads scores as float)
    r = collapse(np.array([1, 2]), np.array([1.0 + 1e-12, 1.0]), np.array([0, 2]), "document", [ties[0], ties[2]])
    assert [ids[k] for k in r.keys] == ["b", "a"]
    one = Ranked([0, 1], [2.0, 1.0], [10, 11], [ties[0], ties[1]])
    two = Ranked([1, 0], [5.0, 4.0], [11, 10], [ties[1], ties[0]])
    fused = fuse({"x": one, "y": two})  # equal RRF scores: "c" (key 1) before "a" (key 0)
    assert fused.keys == [1, 0]
    fused_rev = fuse({"y": two, "x": one})
    assert fused_rev.keys == fused.keys  # the order of the stages does not matter any more
