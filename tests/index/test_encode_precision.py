"""Fast chunk encoding: token-budget batches give the same vectors; a bf16 / int8 chunk encoder is used
only behind the quality gate, which refuses a broken one with its figures; the index encodes chunks with
the chosen encoder, re-encodes when the precision changes, and `info` shows what is quantized."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from encoderkit import Encoder, Index
from encoderkit.errors import EncoderkitError
from encoderkit.index.precision_gate import candidates, choose_precision, ict_dev_set, measure_precision
from encoderkit.models.heads.encoder import token_budget_batches

SENTENCES = [
    "Cats purr when they are calm.",
    "Rivers carry water to the sea.",
    "Vaccines train the immune system against a virus.",
    "Companies pay tax on their profits every year.",
    "Green tea is brewed at a low temperature.",
    "Glaciers move slowly down the valley.",
    "Proteins fold into complex shapes inside the cell.",
    "Storms bring heavy rain and strong wind.",
]


def documents(n: int = 40) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {"id": f"d{i}", "title": f"doc {i}", "text": " ".join(SENTENCES[j] for j in rng.choice(len(SENTENCES), 4, replace=False))}
        for i in range(n)
    ]


def docs_folder(tmp_path, n: int):
    """A folder of ``n`` of the test documents, one .txt file each."""
    src = tmp_path / "docs"
    src.mkdir()
    for d in documents(n):
        (src / f"{d['id']}.txt").write_text(d["text"])
    return src


def test_token_budget_batches_give_the_same_vectors(tiny_encoder):
    texts = [d["text"][: 10 + 7 * i] for i, d in enumerate(documents(30))]
    fixed = tiny_encoder.encode(texts, batch_size=4)
    budget = tiny_encoder.encode(texts, batch_size=4, token_budget=64)
    np.testing.assert_allclose(fixed, budget, atol=1e-5)
    assert sorted(int(i) for b in token_budget_batches([5, 50, 7, 3], 60) for i in b) == [0, 1, 2, 3]
    assert all(len(b) == 1 for b in token_budget_batches([500, 400], 100))  # longer than the budget: alone


def test_gate_passes_bf16_and_refuses_a_broken_quantized_model(tiny_model_dir, tiny_encoder, tmp_path):
    dev = ict_dev_set([d["text"] for d in documents()])
    assert len(dev.queries) == 40
    bf16 = Encoder.load(tiny_model_dir, backend="torch-bf16")
    assert bf16.backend == "torch-bf16"
    good = measure_precision(tiny_encoder, bf16, "bf16", dev)
    assert good["mean_cosine"] > 0.99 and abs(good["ndcg_drop"]) < 0.05
    broken_dir = tmp_path / "broken"  # a "quantization" that destroyed the weights: another random init
    shutil.copytree(tiny_model_dir, broken_dir)
    import torch
    from transformers import AutoModel

    torch.manual_seed(123)
    model = AutoModel.from_pretrained(broken_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * p.std().clamp(min=1e-3))
    model.save_pretrained(broken_dir)
    bad = measure_precision(tiny_encoder, Encoder.load(broken_dir), "int8", dev)
    assert not bad["passed"] and bad["mean_cosine"] < 0.99
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    with pytest.raises(EncoderkitError, match=r"failed the quality gate: mean cosine to fp32 0\.\d+ < 0\.99"):
        index.set_encode_precision("int8", bad)
    with pytest.raises(EncoderkitError, match="no quality-gate measurement"):
        index.set_encode_precision("bf16")
    assert candidates("fp32") == [] and "int8" in candidates("auto")


def test_index_encodes_chunks_at_the_chosen_precision_and_reencodes_on_change(tiny_encoder, tmp_path, monkeypatch):
    from encoderkit.runtime.torch import TorchRunner

    runs = []
    original = TorchRunner.run
    monkeypatch.setattr(TorchRunner, "run", lambda self, feeds: runs.append(self.bf16) or original(self, feeds))
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    gate = {"precision": "bf16", "mean_cosine": 0.9995, "ndcg_drop": 0.0}
    index.set_encode_precision("bf16", gate, choice={"requested": "bf16", "measured": [gate]})
    report = index.add(documents(12), export_onnx=False)
    assert report.chunks_encoded > 0 and runs and all(runs)  # every chunk batch ran under bf16 autocast
    assert index.manifest["model"]["encode_precision"] == "bf16"
    assert index.manifest["model"]["precision_choice"]["requested"] == "bf16"
    assert index.context.document_encoder.backend == "torch-bf16"
    runs.clear()
    assert index.search("cats purr", mode="dense", k=3) and runs == [False]  # queries stay fp32
    seg = index.manifest["segments"][0]["name"]
    ids = np.load(index.path / seg / "chunk_ids.npy")
    texts = index.chunk_texts(ids.tolist())
    fp32 = tiny_encoder.encode([texts[int(c)] for c in ids])
    runs.clear()
    index.set_encode_precision("fp32")
    report = index.sync([], export_onnx=False)
    assert report.payloads_filled == len(ids) and runs and not any(runs)  # every chunk re-encoded in fp32
    assert "encode_precision" not in index.manifest["model"]
    seg = index.manifest["segments"][0]["name"]
    np.testing.assert_allclose(np.load(index.path / seg / "dense" / "vectors.npy"), fp32, atol=1e-5)


def test_choose_precision_auto_picks_a_passing_faster_one_or_fp32(tiny_encoder, tmp_path, monkeypatch):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    dev = ict_dev_set([d["text"] for d in documents()])
    chosen, gate, measured = choose_precision(index.manifest["model"], "bf16", dev)
    assert chosen == "bf16" and gate is measured[0] and gate["precision"] == "bf16"
    assert {"mean_cosine", "ndcg_drop", "speedup", "passed", "dev_set"} <= set(gate)
    monkeypatch.setattr("encoderkit.index.precision_gate.candidates", lambda requested, onnx=True, gpu=False: ["bf16"])
    chosen, gate, measured = choose_precision(index.manifest["model"], "auto", dev)
    assert len(measured) == 1
    # auto takes bf16 only when it passed and was faster than fp32 here; either way the choice is explained
    assert (chosen == "bf16") == (measured[0]["passed"] and measured[0]["speedup"] > 1.05)


def test_cli_encode_precision_gate_and_info(tiny_model_dir, tmp_path, capsys):
    src = docs_folder(tmp_path, 20)
    ix = tmp_path / "ix"
    code, out, err = run_cli(
        capsys, "index", str(src), "--index", str(ix), "--model", str(tiny_model_dir), "--encode-precision", "bf16", "--no-onnx"
    )
    assert code == 0, err
    assert "quality gate bf16: mean cosine" in out
    manifest = json.loads((ix / "manifest.json").read_text())
    if "encode precision bf16: bf16," in out:
        assert manifest["model"]["encode_precision"] == "bf16" and manifest["model"]["quality_gate"]["passed"]
        code, out, err = run_cli(capsys, "info", "--index", str(ix))
        assert code == 0 and "chunks encoded with the bf16 encoder; quality gate passed" in out
    code, out, err = run_cli(capsys, "index", str(src), "--index", str(ix), "--encode-precision", "fp16")
    assert code != 0 and "unknown encode precision 'fp16'" in err and err.count("\n") <= 2


def test_a_new_index_chooses_its_precision_by_default_and_an_existing_one_keeps_it(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Issue 31: a new index runs the quality gate on a sample of its own documents and encodes at the
    fastest precision that passes (fp32 when none does); --encode-precision fp32 keeps today's behaviour;
    an existing index keeps its precision; a corpus that encodes faster than the gate would measure, or
    too few documents to measure on, keep fp32, saying so."""
    src = docs_folder(tmp_path, 40)
    code, out, err = run_cli(
        capsys, "index", str(src), "--index", str(tmp_path / "small"), "--model", str(tiny_model_dir), "--no-onnx"
    )
    assert code == 0 and "encode in about the time that measuring a faster encoder would take" in out
    assert json.loads((tmp_path / "small" / "manifest.json").read_text())["model"].get("encode_precision", "fp32") == "fp32"
    monkeypatch.setattr("encoderkit.index.precision_gate.SMALL_CORPUS_CHARS", 0)  # measure even these 40 documents
    code, out, err = run_cli(
        capsys, "index", str(src), "--index", str(tmp_path / "a"), "--model", str(tiny_model_dir), "--no-onnx"
    )
    assert code == 0, err
    assert "encode precision auto (the default for a new index):" in out
    model = json.loads((tmp_path / "a" / "manifest.json").read_text())["model"]
    choice = model["precision_choice"]
    assert choice["requested"] == "auto" and choice["default"] and choice["seconds"] >= 0
    assert all(g["precision"] != "int8" for g in choice["measured"])  # --no-onnx: no int8 candidate
    assert all(g["dev_queries"] <= 64 and "top10_agreement" in g for g in choice["measured"])  # a bounded sample
    passed = [g for g in choice["measured"] if g["passed"] and g["speedup"] > 1.05]
    assert model.get("encode_precision", "fp32") == (max(passed, key=lambda g: g["speedup"])["precision"] if passed else "fp32")
    (src / "new.txt").write_text(documents(41)[-1]["text"] + " A new document.")
    code, out, err = run_cli(capsys, "index", str(src), "--index", str(tmp_path / "a"), "--no-onnx")
    assert code == 0 and "encode precision" not in out  # an existing index keeps its precision
    code, out, err = run_cli(
        capsys, "index", str(src), "--index", str(tmp_path / "b"), "--model", str(tiny_model_dir), "--no-onnx",
        "--encode-precision", "fp32",
    )  # fmt: skip
    assert code == 0 and "encode precision" not in out and "quality gate" not in out
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["model"].get("encode_precision", "fp32") == "fp32"
    few = tmp_path / "few"
    few.mkdir()
    (few / "one.txt").write_text("Only one short document here. It has two sentences and a few more words.")
    code, out, err = run_cli(
        capsys, "index", str(few), "--index", str(tmp_path / "c"), "--model", str(tiny_model_dir), "--no-onnx"
    )
    assert code == 0 and "too few to measure a faster encoder on" in out


def test_every_shard_encodes_at_the_one_precision_decided_for_the_index(tiny_model_dir, tmp_path, capsys):
    """The precision is decided once (on the first shard's documents) and given to every shard, including
    one added later: scores of different shards stay comparable."""
    src = docs_folder(tmp_path, 40)
    six = tmp_path / "six"
    code, out, err = run_cli(
        capsys, "index", str(src), "--index", str(six), "--shards", "2", "--model", str(tiny_model_dir), "--no-onnx",
        "--encode-precision", "bf16",
    )  # fmt: skip
    assert code == 0, err
    assert "quality gate bf16: mean cosine" in out and out.count("quality gate bf16") == 1
    code, out, err = run_cli(capsys, "index", str(src), "--index", str(six), "--add-shard", "--no-onnx")
    assert code == 0, err

    def model(name):
        return json.loads((six / name / "manifest.json").read_text())["model"]

    first = model("shard-000")
    chosen = first.get("encode_precision", "fp32")
    assert first["precision_choice"]["requested"] == "bf16"
    for name in ("shard-001", "shard-002"):
        assert model(name).get("encode_precision", "fp32") == chosen
        assert model(name).get("quality_gate") == first.get("quality_gate")
