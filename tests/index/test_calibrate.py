"""Fusion calibration of a real index: chosen at build time on pseudo-queries, stored, shown, used by
every search that names no fusion, overridden by one that does, re-chosen after a large update, tuned on
labels; an index without a rule searches as before."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from encoderkit import Index
from encoderkit.index.calibrate import MIN_DOCUMENTS, calibrate_fusion, cut_out_samples, pseudo_queries, stored_rule
from encoderkit.index.tune import labelled_samples
from encoderkit.retrieval.fusion_fit import rule_scores, single_scores

WORDS = "river stone window garden paper silver yellow market engine winter orange forest mirror candle butter".split()


def _code(i: int) -> str:
    return f"zq{(i * 7919) % 100003:05d}x{i:03d}"


def _codes_corpus(folder, n: int, start: int = 0):
    """Documents that differ only by an identifier among shared common words: BM25 finds a document by
    its code; a (random, tiny) encoder cannot."""
    rng = np.random.default_rng(start)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        sents = [" ".join(rng.choice(WORDS, 8)).capitalize() + "." for _ in range(4)]
        sents.insert(2, f"The record {_code(i)} was filed with the {rng.choice(WORDS)} office.")
        (folder / f"doc{i:03d}.txt").write_text(" ".join(sents))
    return folder


@pytest.fixture(scope="module")
def codes_index(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("calib")
    corpus = _codes_corpus(root / "corpus", 70)
    ix = root / "ix"
    from encoderkit.index.build import IndexRequest, build_index

    outcome = build_index(IndexRequest(ix, [corpus], model=str(tiny_model_dir), export_onnx=False))
    return ix, corpus, outcome


def test_build_calibrates_and_the_default_follows_the_list_that_works(codes_index):
    ix, corpus, outcome = codes_index
    assert outcome.fusion["source"] == "calibrated" and outcome.fusion["figures"]["queries"] >= 16
    with Index.open(ix) as index:
        rule = stored_rule(index.manifest)
        assert rule.describe() == calibrate_fusion(index, seed=0).describe()  # deterministic for a seed
        queries = {f"q{i}": _code(i) for i in range(70)}
        qrels = {f"q{i}": {str(corpus / f"doc{i:03d}.txt"): 1} for i in range(70)}
        _, samples = labelled_samples(index, queries, qrels)
        best = max(single_scores(n, samples).mean() for n in ("bm25", "dense"))
        assert single_scores("bm25", samples).mean() > single_scores("dense", samples).mean() + 0.3
        assert rule_scores(rule, samples).mean() >= best - 0.005, rule.describe()
        # every search that names no fusion uses the rule; one that names a fusion overrides it
        (ranking,) = index.rank_many([_code(3)])
        assert ranking.fusion["source"] == "calibrated"
        (ranking,) = index.rank_many([_code(3)], fusion="rrf")
        assert ranking.fusion["source"] == "override" and ranking.fusion["method"] == "rrf"


def test_pseudo_queries_never_leave_their_words_in_the_target(codes_index):
    ix, _, _ = codes_index
    with Index.open(ix, readonly=True) as index:
        snap = index.snapshot()
        texts = index.chunk_texts(snap.chunk_ids.tolist())
        chunks = {int(c): (int(d), texts[int(c)]) for c, d in zip(snap.chunk_ids, snap.chunk_docs)}
        queries = pseudo_queries(chunks, 30, seed=1)
        assert queries == pseudo_queries(chunks, 30, seed=1) and {q.kind for q in queries} == {
            "sentence",
            "keyword",
            "paraphrase",
        }
        for q in queries:
            assert q.kind == "keyword" or q.span not in q.rest
            assert q.kind != "keyword" or q.query in q.rest.lower()  # an entity query: its document names it
            assert not any(w in q.rest.lower().split() for w in q.drop)
        samples, unscored = cut_out_samples(index, queries[:6], ["bm25", "dense"])
        assert unscored == [] and all(set(s.rankings) == {"bm25", "dense"} for s in samples)


def test_info_explain_and_an_index_without_a_rule(codes_index, capsys, tmp_path):
    ix, _, _ = codes_index
    code, out, _ = run_cli(capsys, "info", "--index", ix)
    assert code == 0 and "calibrated on" in out and "pseudo-queries" in out
    code, out, _ = run_cli(capsys, "search", _code(5), "--index", ix, "--explain", "-k", "3")
    assert code == 0 and "fusion: weighted" in out or "fusion: rrf" in out
    with Index.open(ix) as index:
        rule = stored_rule(index.manifest)
        index.set_fusion_rule(None)  # as an index built before calibration: the fixed default, as before
        try:
            legacy = [h.doc_id for h in index.search("river stone record", k=10)]
            rrf = [h.doc_id for h in index.search("river stone record", k=10, fusion="rrf")]
            assert legacy == rrf and stored_rule(index.manifest) is None
            code, out, _ = run_cli(capsys, "info", "--index", ix)
            assert "not calibrated" in out
        finally:
            index.set_fusion_rule(rule)


def test_tune_on_labels_is_stored_and_kept_by_updates(codes_index, capsys, tmp_path):
    ix, corpus, _ = codes_index
    queries = tmp_path / "q.tsv"
    queries.write_text("".join(f"q{i}\t{_code(i)}\n" for i in range(40)))
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\t{corpus}/doc{i:03d}.txt\t1\n" for i in range(40)))
    code, out, err = run_cli(
        capsys, "tune", "fusion", "--index", ix, "--queries", queries, "--qrels", qrels, "--json", "--dry-run"
    )
    report = json.loads(out)
    assert code == 0, err
    assert not report["stored"] and report["report"]["queries"] == 40 and len(report["report"]["gain_ci95"]) == 2
    with Index.open(ix, readonly=True) as index:
        assert stored_rule(index.manifest).source == "calibrated"  # a dry run changes nothing
    before = json.loads((ix / "manifest.json").read_text())["fusion"]
    try:
        code, out, err = run_cli(capsys, "tune", "fusion", "--index", ix, "--queries", queries, "--qrels", qrels)
        assert code == 0 and "stored:" in out and "gain over the current rule" in out, err
        with Index.open(ix, readonly=True) as index:
            assert stored_rule(index.manifest).source == "tuned"
        code, _, err = run_cli(capsys, "tune", "fusion", "--index", ix, "--queries", queries)
        assert code == 2 and "--queries and --qrels go together" in err
    finally:
        with Index.open(ix) as index:
            from encoderkit.retrieval.fusion_rule import FusionRule

            index.set_fusion_rule(FusionRule.from_dict(before))


def test_large_update_recalibrates_and_small_index_keeps_the_default(tmp_path, tiny_model_dir):
    from encoderkit.index.build import IndexRequest, build_index

    small = _codes_corpus(tmp_path / "small", MIN_DOCUMENTS - 10)
    out = build_index(IndexRequest(tmp_path / "ix", [small], model=str(tiny_model_dir), export_onnx=False))
    assert out.fusion["source"] == "default" and "fewer than" in out.fusion["figures"]["note"]
    grown = _codes_corpus(tmp_path / "small", 40, start=MIN_DOCUMENTS - 10)  # the folder doubles
    out = build_index(IndexRequest(tmp_path / "ix", [grown], export_onnx=False))
    assert out.fusion is not None and out.fusion["source"] == "calibrated"
    out = build_index(IndexRequest(tmp_path / "ix", [_codes_corpus(tmp_path / "small", 3, start=200)], export_onnx=False))
    assert out.fusion is None  # a small change keeps the rule


def test_a_sharded_index_calibrates_once_for_all_its_shards(tmp_path, tiny_model_dir, capsys):
    corpus = _codes_corpus(tmp_path / "corpus", 70)
    code, out, err = run_cli(
        capsys, "index", corpus, "--index", tmp_path / "six", "--shards", "2", "--model", tiny_model_dir, "--no-onnx", "--json"
    )
    assert code == 0, err
    rule = json.loads(out)["fusion"]
    assert rule["source"] == "calibrated" and rule["figures"]["documents"] == 70
    for shard in ("shard-000", "shard-001"):
        assert json.loads((tmp_path / "six" / shard / "manifest.json").read_text())["fusion"]["weights"] == rule["weights"]
    from encoderkit.index.dispatch import open_index

    with open_index(tmp_path / "six", readonly=True) as six:
        (ranking,) = six.rank_many([_code(7)])
        assert ranking.fusion["source"] == "calibrated"


def test_a_calibration_that_fails_after_the_commit_is_a_warning(tmp_path, tiny_model_dir, capsys, monkeypatch):
    import errno

    import encoderkit.index.calibrate as calibrate

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(calibrate, "calibrate_fusion", full)
    corpus = _codes_corpus(tmp_path / "corpus", MIN_DOCUMENTS + 5)
    code, out, err = run_cli(capsys, "index", corpus, "--index", tmp_path / "ix", "--model", tiny_model_dir, "--no-onnx")
    assert code == 0, err
    assert "calibrating its fusion failed" in " ".join(out.split()) and "tune fusion" in out
    with Index.open(tmp_path / "ix", readonly=True) as index:
        assert len(index) == MIN_DOCUMENTS + 5 and stored_rule(index.manifest) is None  # committed, searches as before


def test_three_lists_with_colbert_calibrate_and_score_cut_out_texts_like_the_model(tmp_path, tiny_encoder, tiny_colbert_dir):
    index = Index.create(
        tmp_path / "ix",
        encoder=tiny_encoder,
        retrievers=["bm25", "dense", "colbert"],
        retriever_settings={"colbert": {"model": str(tiny_colbert_dir)}},
    )
    index.sync([_codes_corpus(tmp_path / "corpus", MIN_DOCUMENTS + 10)], export_onnx=False)
    rule = index.calibrate_fusion()
    assert rule.source == "calibrated" and set(rule.weights) == {"bm25", "dense", "colbert"}
    assert rule.figures["unscored"] == [] and stored_rule(index.manifest).weights == rule.weights
    colbert = index.snapshot().retrievers["colbert"]
    texts, query = ["river stone window garden", "the record zq12345x001 was filed"], "record zq12345x001"
    got = colbert.score_texts([query] * 2, colbert.encode_queries([query] * 2), texts)
    np.testing.assert_allclose(got, colbert.model.score(query, texts), rtol=1e-4, atol=1e-4)
    (ranking,) = index.rank_many(["record zq12345x001"])
    assert ranking.fusion["source"] == "calibrated" and set(ranking.fusion["weights"]) == {"bm25", "dense", "colbert"}
    index.close()
