"""`encoderkit eval robustness` on a tiny BEIR set and a tiny model (retrieval), and with a fake
classifier (classification): level 0 reproduces the plain evaluation exactly, runs are deterministic."""

import json
from pathlib import Path

import pytest

from conftest import run_cli, write
from encoderkit.errors import EncoderkitError
from encoderkit.evaluation.retrieval import evaluate_retrieval
from encoderkit.evaluation.robustness import classify_robustness, evaluate_robustness, rare_queries, summarize
from support.beir import DOCS, QUERIES  # noqa: F401
from support.corpus import SENTIMENT, KeywordClassifier


@pytest.fixture(scope="module")
def tiny_index(tiny_beir, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    res = evaluate_retrieval(
        tiny_beir,
        ["bm25", "dense", "hybrid"],
        out_dir=out,
        index_dir=out / "index",
        model=str(tiny_model_dir),
        show_progress=False,
    )
    return out / "index", res


def test_level_zero_reproduces_the_plain_evaluation_exactly(tiny_beir, tiny_index, tmp_path):
    index_dir, plain = tiny_index
    res = evaluate_robustness(
        tiny_beir,
        ["bm25", "dense", "hybrid"],
        out_dir=tmp_path / "r",
        index_dir=index_dir,
        perturbations=["typo:0,1,3", "case:0,upper", "shuffle:0,all"],
        seeds=[0, 1],
        show_progress=False,
    )
    for p in ("bm25", "dense", "hybrid"):
        want = plain["pipelines"][p]["metrics"]["ndcg@10"]
        assert round(res["conditions"][0]["pipelines"][p]["mean"], 4) == want == res["baseline"][p]
        for fam in ("typo", "case", "shuffle"):
            zero = res["summary"][fam]["0"][p]
            assert zero["mean"] == want and zero["changed_fraction"] == 0 and zero["std"] == 0
    typo3 = res["summary"]["typo"]["3"]
    assert typo3["bm25"]["changed_fraction"] == 1.0 and typo3["bm25"]["seeds"] == [0, 1]
    assert typo3["bm25"]["mean"] <= res["baseline"]["bm25"]  # three typos per query never help exact-term BM25 here
    # deterministic upper/lower casing runs once; random perturbations once per seed
    assert res["summary"]["case"]["upper"]["bm25"]["seeds"] == [0]
    assert res["summary"]["case"]["upper"]["bm25"]["mean"] == res["baseline"]["bm25"]  # BM25 lower-cases
    for name in ("results.json", "results.md", "robustness.png", "robustness-bm25.png", "robustness-hybrid.png"):
        assert (tmp_path / "r" / name).is_file(), name
    again = evaluate_robustness(
        tiny_beir,
        ["bm25"],
        out_dir=tmp_path / "r2",
        index_dir=index_dir,
        perturbations=["typo:1,3"],
        seeds=[0, 1],
        show_progress=False,
    )
    assert again["summary"]["typo"] == {lvl: {"bm25": v["bm25"]} for lvl, v in res["summary"]["typo"].items() if lvl != "0"}


def test_synonyms_rare_terms_and_truncation(tiny_beir, tiny_index, tmp_path):
    index_dir, _ = tiny_index
    swaps = write(tmp_path / "swaps.tsv", "multiple sclerosis\tMS\ncancer\tcarcinoma\n")
    res = evaluate_robustness(
        tiny_beir,
        ["bm25", "dense"],
        out_dir=tmp_path / "r",
        index_dir=index_dir,
        perturbations=["synonym:1,all", "rare", "truncation"],
        swap_list=swaps,
        rare_df=1,
        show_progress=False,
    )
    syn = res["summary"]["synonym"]["all"]["bm25"]
    assert 0 < syn["changed_fraction"] < 1 and syn["changed_mean"] is not None  # q1, q2, q6, q8 have a listed term
    assert res["swap_table"]["terms"] == 4
    rare = res["slices"]["rare"]
    assert rare["n"] >= 1 and set(rare["pipelines"]) == {"bm25", "dense"}
    tr = res["truncation"]
    assert tr["token_limit"] == 128 and tr["queries_with_long_relevant_docs"] == 1  # q7 -> d12
    assert tr["pipelines"]["bm25"]["truncated_long"] is not None and tr["whole_index"]["chunks"] == len(DOCS)
    assert tr["pipelines"]["bm25"]["chunked"] == res["baseline"]["bm25"]
    # the second index goes beside the first, never into the results folder
    assert Path(tr["whole_index"]["path"]) == Path(str(index_dir) + "-whole") and not (tmp_path / "r" / "index-whole").exists()
    md = (tmp_path / "r" / "results.md").read_text()
    assert "Rare terms" in md and "Long documents" in md and "synonym" in md
    assert (tmp_path / "r" / "truncation.png").stat().st_size > 0
    mined = evaluate_robustness(
        tiny_beir, ["bm25"], out_dir=tmp_path / "m", index_dir=index_dir, perturbations=["synonym"], show_progress=False
    )
    # "multiple sclerosis (MS)" is defined twice in the corpus: MS <-> multiple sclerosis
    assert mined["swap_table"]["source"].startswith("abbreviations mined") and mined["swap_table"]["terms"] == 2
    assert mined["summary"]["synonym"]["1"]["bm25"]["changed_fraction"] == 0.25  # q1 and q8 mention it


def test_rare_queries_helper():
    docs = ["alpha beta", "alpha gamma", "alpha beta delta"]
    assert rare_queries({"a": "alpha delta", "b": "alpha beta", "c": "unknown"}, docs, 1) == {"a": 1}


def test_classifier_robustness_with_a_fake_classifier(tmp_path):
    texts, labels = zip(*SENTIMENT)
    res = classify_robustness(
        {"keywords": KeywordClassifier(), "good-only": KeywordClassifier(("good",))},
        list(texts),
        list(labels),
        out_dir=tmp_path / "c",
        perturbations=["typo:0,3", "case:upper"],
        seeds=[0, 1, 2],
    )
    assert res["baseline"] == {"keywords": 1.0, "good-only": round(4 / 6, 4)}
    assert res["summary"]["typo"]["0"]["keywords"]["mean"] == 1.0
    assert res["summary"]["typo"]["3"]["keywords"]["mean"] < 1.0  # the keywords get misspelled
    assert res["summary"]["case"]["upper"]["keywords"]["mean"] == 1.0  # the fake lower-cases
    assert res["conditions"][0]["pipelines"]["keywords"]["macro_f1"] == 1.0
    assert (tmp_path / "c" / "robustness.png").is_file() and "accuracy" in (tmp_path / "c" / "results.md").read_text()
    with pytest.raises(EncoderkitError, match="retrieval only"):
        classify_robustness({"k": KeywordClassifier()}, ["a"], ["pos"], out_dir=tmp_path / "x", perturbations=["rare"])


def test_classify_cli_with_a_fake_classifier(tmp_path, capsys, monkeypatch):
    import encoderkit.cli.robustness_cmd as cmd

    data = write(tmp_path / "dev.txt", "".join(f"{y} {t}\n" for t, y in SENTIMENT))
    monkeypatch.setattr(cmd, "load_classifier", lambda path: KeywordClassifier())
    code, out, err = run_cli(
        capsys,
        "eval",
        "robustness",
        data,
        "--task",
        "classify",
        "--model",
        "fake",
        "--out",
        tmp_path / "o",
        "--perturbations",
        "typo:1,2",
        "--seed",
        "0",
        "--seed",
        "1",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["task"] == "classify" and res["seeds"] == [0, 1] and res["n_texts"] == 6


def test_robustness_cli_errors(tiny_beir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "eval", "robustness", tiny_beir, "--out", tmp_path / "o", "--perturbations", "noise:1", "-q")
    assert code == 2 and "unknown perturbation 'noise'" in err
    code, _, err = run_cli(
        capsys, "eval", "robustness", tmp_path / "none.txt", "--task", "classify", "--model", "m", "--out", tmp_path / "o"
    )
    assert code == 2 and "none.txt" in err and "Traceback" not in err


def test_summarize_means_over_seeds():
    base = {"family": "none", "level": 0, "seed": None, "changed": 0, "n": 2, "pipelines": {"p": {"mean": 0.5}}}
    rows = [
        {
            "family": "typo",
            "level": 1,
            "seed": s,
            "changed": 2,
            "n": 2,
            "pipelines": {"p": {"mean": m, "changed_mean": m, "changed_baseline": 0.5}},
        }
        for s, m in ((0, 0.2), (1, 0.4))
    ]
    s = summarize([base, *rows])["typo"]["1"]["p"]
    assert s["mean"] == 0.3 and s["std"] == 0.1 and s["relative"] == 0.6 and s["seeds"] == [0, 1]


def test_classify_cli_reads_sst2_labels_as_training_does(tmp_path, capsys, monkeypatch):
    """SST-2 files label 0/1; classifiers trained on them predict negative/positive: the report must
    compare like with like (it once scored every SST-2 classifier at accuracy 0)."""
    import encoderkit.cli.robustness_cmd as cmd

    named = {"pos": "positive", "neg": "negative"}
    fake = KeywordClassifier()
    real_predict = fake.predict
    fake.predict = lambda texts, top_k=None: [[{**p, "label": named[p["label"]]} for p in r] for r in real_predict(texts)]
    data = write(tmp_path / "stsa.binary.test", "".join(f"{1 if y == 'pos' else 0} {t}\n" for t, y in SENTIMENT))
    monkeypatch.setattr(cmd, "load_classifier", lambda path: fake)
    code, out, err = run_cli(
        capsys, "eval", "robustness", data, "--task", "classify", "--model", "fake", "--out", tmp_path / "o",
        "--perturbations", "case:upper", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["baseline"] == {"fake": 1.0}
