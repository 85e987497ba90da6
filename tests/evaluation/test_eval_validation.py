"""`eval retrieval` validates every input before anything expensive, and --corpus-sample (#17, #18)."""

import json
import time

from conftest import run_cli, write


def _beir(root, n_docs=40, bad_corpus_line=None, qrels_extra=""):
    docs = [{"_id": f"d{i}", "title": f"Title {i}", "text": f"document number {i} about topic {i % 7}"} for i in range(n_docs)]
    lines = [json.dumps(d) for d in docs]
    if bad_corpus_line is not None:
        lines.insert(bad_corpus_line, '{"_id": "broken", "text": ')
    write(root / "corpus.jsonl", "\n".join(lines) + "\n")
    write(root / "queries.jsonl", "".join(json.dumps({"_id": f"q{i}", "text": f"topic {i}"}) + "\n" for i in range(6)))
    write(
        root / "qrels" / "test.tsv",
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(6)) + qrels_extra,
    )
    return root


def test_bad_inputs_stop_before_any_model_or_index(capsys, tmp_path, monkeypatch):
    import encoderkit.models.heads.encoder as encoder_mod

    def no_model(*a, **k):
        raise AssertionError("a model was loaded before the data was validated")

    monkeypatch.setattr(encoder_mod.Encoder, "load", classmethod(no_model))
    data = _beir(tmp_path / "beir", bad_corpus_line=3, qrels_extra="q1\tmissing1\t1\nq2\tmissing2\t1\nqX\td1\t1\n")
    t = time.perf_counter()
    code, _, err = run_cli(capsys, "eval", "retrieval", data, "--out", tmp_path / "out", "-p", "bm25")
    assert code == 2 and time.perf_counter() - t < 10
    first, *shown = err.strip().splitlines()
    assert "1 invalid JSON" in first and "2 judgements name 2 documents not in corpus.jsonl" in first
    assert "1 judgement name 1 query not in queries.jsonl" in first and "--drop-unknown-ids" in first
    assert shown[0].strip().endswith("corpus.jsonl:4: invalid JSON (Expecting value at column 27)")
    assert any("test.tsv:8: document id 'missing1' is not in corpus.jsonl" in line for line in shown)
    assert not (tmp_path / "out" / "index").exists()


def test_corpus_sample_indexes_judged_plus_random_and_says_so(capsys, tmp_path, tiny_model_dir):
    data = _beir(tmp_path / "beir", n_docs=60)
    out = tmp_path / "out"
    args = ["eval", "retrieval", data, "--out", out, "-p", "bm25", "--model", tiny_model_dir, "--queries", "3"]
    code, _, err = run_cli(capsys, *args, "--corpus-sample", "10", "-q")
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    sample = res["corpus_sample"]
    assert sample["judged"] == 3 and sample["random"] == 10 and sample["documents"] == res["index"]["documents"] == 13
    assert "quick look" in (out / "results.md").read_text()
    kept = {json.loads(line)["_id"] for line in (out / "corpus-sample" / "corpus.jsonl").read_text().splitlines()}
    assert {f"d{q[1:]}" for q in json.loads((out / "results.json").read_text())["pipelines"]["bm25"]["per_query_ndcg@10"]} <= kept
    code, _, _ = run_cli(capsys, *args, "--corpus-sample", "10", "--json")  # same sample: the index is reused
    assert code == 0 and json.loads((out / "results.json").read_text())["index"]["reused"] is True
