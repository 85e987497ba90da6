"""`encoderkit compress` on tiny random BERTs: layer selection, exact initialisation, width pruning,
distillation loss, exact resume, and a student that loads wherever a model does."""

import json

import numpy as np
import pytest
import torch

from conftest import make_tiny_model, run_cli, write
from encoderkit.errors import EncoderkitError
from encoderkit.training.batching import length_batches
from encoderkit.training.compress.losses import embedding_loss, parse_loss, relation_kl
from encoderkit.training.compress.student import build_student, remap_layers, select_layers
from encoderkit.training.compress.train import train_compress
from encoderkit.training.loop import TrainConfig, Trainer, TrainingInterrupted

TEXT = (
    "Cats are small domesticated carnivores. They hunt mice at night and sleep in the sun. "
    "Dogs bark loudly at strangers. Python is a programming language used for data science. "
    "The Eiffel tower stands in Paris. Rome has many ancient ruins and fountains. "
    "Vaccines train the immune system. Antibodies bind to viral proteins. "
    "Tennis is played with rackets. Soccer is the most popular sport in the world."
)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("teacher") / "tiny4", layers=4, hidden=32, seed=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write(root / "a.txt", TEXT)
    write(root / "lines.txt", "\n".join(f"sentence number {i} about topic {i % 5}" for i in range(40)))
    return root


def teacher_model(path):
    from transformers import AutoModel

    return AutoModel.from_pretrained(path).eval()


def test_select_layers_strategies_and_errors():
    assert select_layers(6, 3, "even") == [0, 2, 5]
    assert select_layers(6, 3, "alternate") == [0, 2, 4]  # DistilBERT: every other layer
    assert select_layers(6, 3, "bottom") == [0, 1, 2] and select_layers(6, 3, "top") == [3, 4, 5]
    assert select_layers(12, 6, "even") == [0, 2, 4, 7, 9, 11]
    assert select_layers(6, 1, "even") == [5] and select_layers(6, 6, "even") == list(range(6))
    for bad in ("2,1,0", "0,1", "0,1,9", "x"):
        with pytest.raises(EncoderkitError):
            select_layers(6, 3, bad)
    with pytest.raises(EncoderkitError, match="teacher has 6 layers"):
        select_layers(6, 7, "even")


def test_student_copies_the_chosen_teacher_layers_exactly(teacher_dir):
    teacher = teacher_model(teacher_dir)
    chosen = [0, 2, 3]
    student, plan = build_student(teacher, chosen)
    assert student.config.num_hidden_layers == 3 and plan.layers == chosen and plan.hidden is None
    t_state, s_state = teacher.state_dict(), student.state_dict()
    assert set(s_state) == set(remap_layers(t_state, chosen))
    for key, value in s_state.items():
        if ".layer." in key:
            j = int(key.split(".layer.")[1].split(".")[0])
            src = key.replace(f".layer.{j}.", f".layer.{chosen[j]}.")
        else:
            src = key
        assert torch.equal(value, t_state[src]), key
    # keeping every layer reproduces the teacher's outputs bit for bit
    full, _ = build_student(teacher, [0, 1, 2, 3])
    full.eval()
    x = {"input_ids": torch.tensor([[101, 2023, 2003, 1037, 3231, 102]]), "attention_mask": torch.ones(1, 6, dtype=torch.long)}
    with torch.no_grad():
        assert torch.equal(full(**x).last_hidden_state, teacher(**x).last_hidden_state)


def test_width_pruning_keeps_teacher_rows_and_columns(teacher_dir):
    from transformers import AutoTokenizer

    teacher = teacher_model(teacher_dir)
    tok = AutoTokenizer.from_pretrained(teacher_dir)
    calib = tok(TEXT.split(". "), padding=True, return_tensors="pt")
    student, plan = build_student(teacher, [1, 3], width=16, calibration=calib)
    cfg = student.config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.num_hidden_layers) == (16, 1, 2)
    assert len(plan.hidden) == 16 and plan.hidden == sorted(plan.hidden) and len(plan.heads[0]) == 1
    h = torch.tensor(plan.hidden)
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(s["embeddings.word_embeddings.weight"], t["embeddings.word_embeddings.weight"][:, h])
    assert torch.equal(s["encoder.layer.1.output.LayerNorm.weight"], t["encoder.layer.3.output.LayerNorm.weight"][h])
    rows = torch.tensor([plan.heads[0][0] * 16 + d for d in range(16)])
    assert torch.equal(
        s["encoder.layer.0.attention.self.query.weight"], t["encoder.layer.1.attention.self.query.weight"][rows][:, h]
    )
    n = torch.tensor(plan.neurons[1])
    assert torch.equal(s["encoder.layer.1.output.dense.weight"], t["encoder.layer.3.output.dense.weight"][h][:, n])
    with torch.no_grad():
        assert student(**calib).last_hidden_state.shape[-1] == 16
    with pytest.raises(EncoderkitError, match="multiple of the head size"):
        build_student(teacher, [1, 3], width=20, calibration=calib)


def test_loss_terms():
    s, t = torch.randn(4, 8), torch.randn(4, 8)
    assert parse_loss("cosine+mse") == ["cosine", "mse"]
    with pytest.raises(EncoderkitError):
        parse_loss("kl")
    zero, parts = embedding_loss(t.clone(), t, ["cosine", "mse", "similarity"])
    assert float(zero) < 1e-6 and set(parts) == {"cosine", "mse", "similarity"}
    assert float(embedding_loss(s, t, ["cosine"])[0]) > 0.1
    m = torch.ones(2, 5, dtype=torch.long)
    m[1, 3:] = 0
    a, b = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    assert float(relation_kl(a, b, m, heads=2)) > 0 and float(relation_kl(a, a, m, heads=2)) < 1e-6
    b2 = b.clone()
    b2[1, 3:] = 99.0  # padding never matters
    assert torch.allclose(relation_kl(a, b, m, 2), relation_kl(a, b2, m, 2))
    batches = length_batches([3, 90, 4, 91, 5, 92, 6, 93], 2, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(len({i % 2 for i in b}) == 1 for b in batches)  # short with short, long with long


def test_distillation_loss_decreases_and_student_gets_closer(teacher_dir, corpus, tmp_path):
    # random tiny BERTs map every text to nearly the same vector, so a student cut from the teacher
    # starts at cosine ~1; a student taken from another (narrower) random model starts far away
    other = make_tiny_model(tmp_path / "other", layers=2, hidden=16, seed=7)
    log = train_compress(
        str(teacher_dir),
        tmp_path / "student",
        layers=1,
        init=str(other),
        corpus_paths=[corpus / "a.txt", corpus / "lines.txt"],
        lines=True,
        val_texts=8,
        train_config=TrainConfig(lr=3e-3, batch_size=8, epochs=6, log_every=1, warmup_ratio=0.0, seed=0),
        show_progress=False,
    )
    losses = [e["loss"] for e in log["loss_curve"]]
    assert np.mean(losses[-4:]) < 0.2 * np.mean(losses[:4])
    evals = log["evals"]
    assert evals[0]["cosine_to_teacher"] < 0.5 < 0.8 < evals[-1]["cosine_to_teacher"]
    assert log["best"]["cosine_to_teacher"] == max(e["cosine_to_teacher"] for e in evals)
    card = json.loads((tmp_path / "student" / "encoderkit_model.json").read_text())
    assert card["task"] == "compress" and card["plan"]["layers"] == [1] and card["init"] == "other"
    assert card["hidden_size"] == 16 and card["selection_metric"] == "cosine_to_teacher"


def test_token_and_attention_terms_with_width(teacher_dir, corpus, tmp_path):
    log = train_compress(
        str(teacher_dir),
        tmp_path / "narrow",
        layers=2,
        width=16,
        corpus_paths=[corpus / "a.txt"],
        loss="cosine+similarity",
        token_weight=1.0,
        attention_weight=1.0,
        val_texts=3,
        train_config=TrainConfig(lr=2e-3, batch_size=4, epochs=4, log_every=1),
        show_progress=False,
    )
    curve = log["loss_curve"]
    assert {"token", "attention", "cosine", "similarity"} <= set(curve[0])
    assert curve[-1]["loss"] < curve[0]["loss"]
    from encoderkit import Encoder

    enc = Encoder.load(tmp_path / "narrow")
    assert enc.dim == 16 and enc.encode(["a cat"]).shape == (1, 16)


def test_resume_is_exact(teacher_dir, corpus, tmp_path, monkeypatch):
    import encoderkit.training.compress.train as compress

    kw = dict(
        layers=2,
        corpus_paths=[corpus / "a.txt", corpus / "lines.txt"],
        lines=True,
        val_texts=4,
        train_config=TrainConfig(lr=1e-3, batch_size=8, max_steps=6, eval_every=3, log_every=1),
        show_progress=False,
    )
    train_compress(str(teacher_dir), tmp_path / "straight", **kw)

    class StopAt3(Trainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k, on_step=lambda tr, step: tr.request_stop() if step == 3 else None)

    monkeypatch.setattr(compress, "Trainer", StopAt3)
    with pytest.raises(TrainingInterrupted):
        train_compress(str(teacher_dir), tmp_path / "resumed", **kw)
    monkeypatch.setattr(compress, "Trainer", Trainer)
    log = train_compress(str(teacher_dir), tmp_path / "resumed", resume=True, **kw)
    assert log["resumed_from_step"] == 3 and log["step"] == 6
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_student_loads_everywhere(teacher_dir, corpus, tmp_path, capsys):
    from encoderkit import Encoder, Index
    from encoderkit.models.export import export_onnx

    code, out, err = run_cli(
        capsys,
        "compress",
        "--teacher",
        teacher_dir,
        "--layers",
        "2",
        "--corpus",
        corpus / "a.txt",
        "--out",
        tmp_path / "small",
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--val-texts",
        "3",
        "-q",
    )
    assert code == 0, err
    assert "saved to" in out
    small = tmp_path / "small"
    enc = Encoder.load(small)
    assert enc.backbone.config["num_hidden_layers"] == 2 and enc.pooling == "mean" and enc.max_length == 128
    vec = enc.encode(["cats hunt mice"])
    assert abs(float(np.linalg.norm(vec)) - 1) < 1e-5
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(small), device="cpu")
    assert np.allclose(st.encode(["cats hunt mice"], normalize_embeddings=True), vec, atol=1e-5)
    # index + search through the CLI, then the ONNX export (fp32 must agree with torch)
    code, _, err = run_cli(capsys, "index", corpus / "a.txt", "--index", tmp_path / "ix", "--model", small, "-q")
    assert code == 0, err
    code, out, err = run_cli(capsys, "search", "cats", "--index", tmp_path / "ix", "--json")
    assert code == 0, err
    assert json.loads(out)["hits"]
    assert Index.open(tmp_path / "ix").manifest["model"]["path"] == str(small.resolve())
    folder = export_onnx(small, quantize="int8")
    assert json.loads((folder / "export.json").read_text())["quantize"] == "int8"
    int8 = Encoder.load(small, backend="onnx-int8")
    assert float((int8.encode(["cats hunt mice"]) * vec).sum()) > 0.9
    # and it trains further like any bi-encoder
    pairs = write(
        tmp_path / "pairs.jsonl", "".join(json.dumps({"query": f"q {i}", "positive": f"p {i}"}) + "\n" for i in range(8))
    )
    code, _, err = run_cli(
        capsys,
        "train",
        "embed",
        "--data",
        pairs,
        "--model",
        small,
        "--out",
        tmp_path / "ft",
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--hard-negatives",
        "none",
        "--val-fraction",
        "0",
        "-q",
    )
    assert code == 0, err
    assert (tmp_path / "ft" / "model.safetensors").is_file()


def test_compress_errors(teacher_dir, corpus, tmp_path, capsys):
    with pytest.raises(EncoderkitError, match="unlabeled text"):
        train_compress(str(teacher_dir), tmp_path / "x", corpus_paths=[])
    code, _, err = run_cli(
        capsys, "compress", "--teacher", teacher_dir, "--corpus", tmp_path / "missing.txt", "--out", tmp_path / "y", "-q"
    )
    assert code == 2 and "missing.txt: path does not exist" in err and "Traceback" not in err
    write(tmp_path / "empty.txt", "")
    code, _, err = run_cli(
        capsys, "compress", "--teacher", teacher_dir, "--corpus", tmp_path / "empty.txt", "--out", tmp_path / "y", "-q"
    )
    assert code == 2 and "no documents found" in err and "empty file" in err
    code, _, err = run_cli(
        capsys, "compress", "--teacher", teacher_dir, "--corpus", corpus / "a.txt", "--layers", "9", "--out", tmp_path / "z", "-q"
    )
    assert code == 2 and "teacher has 4 layers" in err
    code, _, err = run_cli(
        capsys, "compress", "--teacher", teacher_dir, "--corpus", corpus / "a.txt", "--loss", "kl", "--out", tmp_path / "w", "-q"
    )
    assert code == 2 and "unknown loss" in err
