"""The zero-training ColBERT baseline (MaxSim over MiniLM's own token vectors) on real SciFact text."""

from __future__ import annotations

import json

from conftest import make_scifact_slice
from encoderkit import Index
from encoderkit.retrieval.metrics import evaluate


def test_zero_training_baseline_on_a_scifact_slice(scifact_dir, minilm, tmp_path):
    data = make_scifact_slice(scifact_dir, tmp_path / "slice", n_queries=15, n_docs=120)
    docs = [json.loads(line) for line in (data / "corpus.jsonl").read_text().splitlines()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, dict[str, int]] = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    index = Index.create(tmp_path / "ix", encoder=minilm, retrievers=["bm25", "colbert"])  # colbert model: "default"
    index.add([{"id": d["_id"], "title": d["title"], "text": d["text"]} for d in docs], export_onnx=False)
    ids = index.doc_ids()
    scores = {}
    for mode in ("bm25", "colbert", "bm25+colbert"):
        run = {q: [ids[k] for k in index.rank_many([t], mode=mode)[0].final.keys] for q, t in queries.items()}
        scores[mode] = evaluate(qrels, run, metrics=("ndcg@10",))["mean"]["ndcg@10"]
    assert scores["colbert"] > 0.5 and scores["bm25+colbert"] > scores["bm25"] - 0.05, scores
    st = index.manifest["build"]["retriever_stats"]["colbert"]
    assert st["bytes_per_token"] == 2 + 384 * 2 // 8 and st["tokens"] > 10_000
    assert index.manifest["retrievers"][1]["settings"]["model"] == "default"
