"""The command line with a ColBERT retriever: index flags, search modes, fusion, --rerank with a ColBERT
model, --recluster, info, and the evaluation harness."""

from __future__ import annotations

import json

from conftest import run_cli, write

DOCS = {
    "nile": "The Nile flows north through Egypt into the Mediterranean.",
    "alps": "The Alps are a mountain range across eight countries.",
    "tea": "Green tea is brewed at a lower temperature than black tea.",
    "cats": "Cats purr when they are content, and sometimes when stressed.",
}


def test_index_search_rerank_recluster_info(tmp_path, capsys, tiny_model_dir, tiny_colbert_dir):
    docs = tmp_path / "docs"
    for name, text in DOCS.items():
        write(docs / f"{name}.txt", text)
    ix = tmp_path / "ix"
    args = ["index", docs, "--index", ix, "--model", tiny_model_dir, "--no-onnx", "--json"]
    code, out, err = run_cli(capsys, *args, "--retrievers", "bm25,dense,colbert", "--colbert-model", tiny_colbert_dir)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["totals"]["retrievers"] == ["bm25", "dense", "colbert"]
    manifest = json.loads((ix / "manifest.json").read_text())
    colbert = next(r for r in manifest["retrievers"] if r["name"] == "colbert")
    assert colbert["settings"]["model"] == str(tiny_colbert_dir.resolve())
    for mode in ("colbert", "bm25+dense+colbert", "hybrid"):
        code, out, err = run_cli(capsys, "search", "green tea temperature", "--index", ix, "--mode", mode, "--json")
        assert code == 0, err
        assert "colbert" in json.loads(out)["hits"][0]["stages"]
    code, out, err = run_cli(
        capsys,
        "search",
        "tea",
        "--index",
        ix,
        "--mode",
        "bm25+colbert",
        "--fusion",
        "weighted",
        "--weights",
        "colbert=2",
        "--json",
    )
    assert code == 0, err and 0 <= json.loads(out)["hits"][0]["score"] <= 1
    code, out, err = run_cli(capsys, "search", "tea", "--index", ix, "--mode", "bm25", "--rerank", tiny_colbert_dir, "--explain")
    assert code == 0, err and "rerank: rank" in out
    code, out, err = run_cli(capsys, "search", "tea " * 50, "--index", ix, "--mode", "colbert", "-k", "1")
    assert code == 0 and "reads the first 32 tokens" in err
    code, out, err = run_cli(capsys, "search", "tea", "--index", ix, "--weights", "colbert=x")
    assert code == 2 and "bad fusion weight" in err
    code, out, err = run_cli(capsys, "search", "tea", "--index", ix, "--rerank", tiny_model_dir)
    assert code == 2 and "bi-encoder, not a reranker" in err
    code, out, err = run_cli(capsys, *args, "--recluster")
    assert code == 0, err and json.loads(out)["committed"] and json.loads(out)["incremental"] == []
    code, out, err = run_cli(capsys, "info", "--index", ix)
    assert code == 0, err and "bytes/token" in out and "drift" in out
    code, out, err = run_cli(capsys, *args, "--colbert-nbits", "1")
    assert code == 0, err
    code, out, err = run_cli(capsys, "index", docs, "--index", tmp_path / "ix2", "--colbert-model", tiny_colbert_dir, "--no-onnx")
    assert code == 2 and "--colbert-* options need the colbert retriever" in err


def test_eval_harness_colbert_pipelines(tmp_path, capsys, tiny_model_dir, tiny_colbert_dir):
    beir = tmp_path / "beir"
    write(beir / "corpus.jsonl", "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in DOCS.items()))
    qs = {"q0": "river through Egypt", "q1": "mountain range", "q2": "brewing tea", "q3": "why do cats purr"}
    write(beir / "queries.jsonl", "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in qs.items()))
    write(beir / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq0\tnile\t1\nq1\talps\t1\nq2\ttea\t1\nq3\tcats\t1\n")
    code, out, err = run_cli(
        capsys,
        "eval",
        "retrieval",
        beir,
        "-p",
        "colbert",
        "-p",
        "bm25+dense+colbert",
        "-p",
        "hybrid+rerank",
        "--fusion",
        "weighted",
        "--model",
        tiny_model_dir,
        "--colbert-model",
        tiny_colbert_dir,
        "--rerank-model",
        tiny_colbert_dir,
        "--out",
        tmp_path / "eval",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert set(res["pipelines"]) == {"colbert", "bm25+dense+colbert", "hybrid+rerank"}
    assert res["reranker"]["kind"] == "colbert" and res["fusion"]["method"] == "weighted"
    assert "colbert@100" in res["pipelines"]["bm25+dense+colbert"]["stage_recall"]
    assert res["index"]["retriever_stats"]["colbert"]["chunks"] == 4
