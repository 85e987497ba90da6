"""`encoderkit eval tradeoff` on a tiny BEIR set: variants, the table, the scatter plot."""

import json

import pytest

from conftest import make_tiny_model, run_cli
from encoderkit.errors import EncoderkitError
from encoderkit.evaluation.tradeoff import classify_tradeoff, evaluate_tradeoff, expand_variants, parse_variant
from support.corpus import SENTIMENT, KeywordClassifier


def test_variants():
    assert parse_variant("a/b@onnx") == ("a/b", "onnx") and parse_variant("name@v2") == ("name@v2", None)
    assert expand_variants(["m", "n@onnx-int8"], ["torch", "onnx"]) == [("m", "torch"), ("m", "onnx"), ("n", "onnx-int8")]
    assert expand_variants(["m@torch-bf16"], ["torch"]) == [("m", "torch-bf16")]
    with pytest.raises(EncoderkitError, match="unknown backend"):
        expand_variants(["m"], ["tensorrt"])


def test_tradeoff_table_and_plot(tiny_beir, tiny_model_dir, tmp_path, capsys):
    small = make_tiny_model(tmp_path / "one-layer", layers=1, seed=5)
    code, out, err = run_cli(
        capsys,
        "eval",
        "tradeoff",
        tiny_beir,
        "--model",
        tiny_model_dir,
        "--model",
        f"{small}@onnx-int8",
        "--backends",
        "torch,onnx",
        "--out",
        tmp_path / "t",
        "--throughput-texts",
        "8",
        "--repeats",
        "2",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    rows = res["variants"]
    assert [r["backend"] for r in rows] == ["torch", "onnx", "onnx-int8"]
    assert rows[0]["speedup"] == 1.0 and rows[0]["quality_kept"] == 1.0
    assert abs(rows[1]["ndcg@10"] - rows[0]["ndcg@10"]) < 0.02  # fp32 ONNX: the same vectors
    assert rows[2]["layers"] == 1 and rows[0]["layers"] == 2
    for r in rows:
        assert r["passages_per_s"] > 0 and r["query_encode_ms"]["p50"] > 0 and 0 <= r["ndcg@10"] <= 1
    assert res["throughput_sample"]["passages"] == 8 and res["threads"] >= 1
    for name in ("results.json", "results.md", "tradeoff.png"):
        assert (tmp_path / "t" / name).is_file()
    # indexes are reused on a second run (documents encoded by each variant once)
    # ... and a bf16 variant gets its own index, its documents and queries encoded in bf16 (fp32 where the CPU lacks it)
    again = evaluate_tradeoff(
        tiny_beir, [str(tiny_model_dir), f"{tiny_model_dir}@torch-bf16"], out_dir=tmp_path / "t", throughput_texts=4, repeats=1
    )
    assert again["variants"][0]["ndcg@10"] == rows[0]["ndcg@10"]
    assert again["variants"][1]["backend"] == "torch-bf16" and abs(again["variants"][1]["ndcg@10"] - rows[0]["ndcg@10"]) < 0.05


def test_classify_tradeoff_with_fake_classifiers(tmp_path):
    texts, labels = zip(*SENTIMENT)
    res = classify_tradeoff(
        {"all-words": KeywordClassifier, "good-only": lambda: KeywordClassifier(("good",))},
        list(texts),
        list(labels),
        out_dir=tmp_path / "c",
        repeats=1,
    )
    assert [r["accuracy"] for r in res["variants"]] == [1.0, round(4 / 6, 4)]
    assert res["variants"][0]["texts_per_s"] > 0 and (tmp_path / "c" / "tradeoff.png").is_file()
