"""Smoke run of `encoderkit eval retrieval` on 30 real SciFact queries through the CLI."""

import json

import pytest

from encoderkit.cli import main
from encoderkit.retrieval.metrics import evaluate, read_run

pytestmark = pytest.mark.integration


def test_eval_retrieval_cli(scifact_slice, scifact_slice_index, tmp_path, capsys):
    out = tmp_path / "eval"
    main(
        [
            "eval",
            "retrieval",
            str(scifact_slice),
            "--out",
            str(out),
            "--index",
            str(scifact_slice_index.path),
            "-p",
            "bm25",
            "-p",
            "dense",
            "-p",
            "hybrid",
            "-q",
        ]
    )
    capsys.readouterr()
    for name in (
        "results.json",
        "results.md",
        "recall_at_k.png",
        "quality_vs_latency.png",
        "runs/bm25.trec",
        "runs/dense.trec",
        "runs/hybrid.trec",
    ):
        assert (out / name).is_file(), name
    res = json.loads((out / "results.json").read_text())
    assert res["n_queries"] == 30 and res["index"]["reused"] is True
    assert res["index"]["chunking"]["size"] == 256 and res["machine"]["cores_available"] >= 1
    p = res["pipelines"]
    for name in ("bm25", "dense", "hybrid"):
        m = p[name]["metrics"]
        assert 0 < m["ndcg@10"] <= 1 and m["recall@10"] <= m["recall@100"]
        assert p[name]["latency_ms"]["p50"] <= p[name]["latency_ms"]["p99"]
        curve = list(p[name]["recall_curve"].values())
        assert curve == sorted(curve)
    sr = p["hybrid"]["stage_recall"]
    assert sr["fusion input (union)"] >= max(sr["bm25@100"], sr["dense@100"])
    assert sr["bm25@100"] == p["bm25"]["stage_recall"]["bm25@100"]
    # the run files give the same numbers when scored again from disk
    from encoderkit.data.corpora.beir import load_beir

    qrels = load_beir(scifact_slice).qrels
    again = evaluate(qrels, read_run(out / "runs" / "hybrid.trec"))["mean"]
    assert again["ndcg@10"] == pytest.approx(p["hybrid"]["metrics"]["ndcg@10"], abs=1e-4)
    assert "| hybrid |" in (out / "results.md").read_text()


def test_eval_retrieval_bad_input(tmp_path, capsys):
    (tmp_path / "beir").mkdir()
    with pytest.raises(SystemExit) as info:
        main(["eval", "retrieval", str(tmp_path / "beir"), "--out", str(tmp_path / "o"), "-q"])
    assert info.value.code == 2 and "corpus.jsonl: file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval", "retrieval", str(tmp_path / "beir"), "--out", str(tmp_path / "o"), "-p", "splade"])
    assert info.value.code == 2 and "unknown pipeline 'splade'" in capsys.readouterr().err
