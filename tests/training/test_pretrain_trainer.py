"""Training runs end to end: export round trip, head warm-up, resume, time budget, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write
from encoderkit.errors import EncoderkitError
from encoderkit.training.pretrain.train import PretrainConfig, build_objective, prepare_data, run_pretraining
from support.corpus import english_docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for i, text in enumerate(english_docs(40, seed=7)):
        write(folder / f"doc{i:02d}.txt", text)
    return folder


def cfg(tiny_model_dir, corpus, out, **kw) -> PretrainConfig:
    base = dict(
        model=str(tiny_model_dir),
        corpus=[str(corpus)],
        out=str(out),
        max_steps=6,
        batch_size=8,
        max_length=48,
        eval_every=3,
        log_every=1,
        max_eval_examples=16,
        lr=1e-3,
    )
    base.update(kw)
    return PretrainConfig(**base)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_export_round_trip(tiny_model_dir, corpus, tmp_path):
    """The saved folder gives the trained encoder's vectors through Encoder.load and sentence-transformers,
    and loads in the fill-mask pipeline with the same predictions as FillMask."""
    from transformers import AutoModelForMaskedLM, pipeline

    from encoderkit import Encoder
    from encoderkit.models.ref import resolve_model
    from encoderkit.training.loop import TrainConfig, Trainer
    from encoderkit.training.pretrain.fill_mask import FillMask
    from encoderkit.training.pretrain.heads import is_tied, load_tokenizer
    from encoderkit.training.pretrain.train import finish_folder

    c = cfg(tiny_model_dir, corpus, tmp_path / "out")
    ref = resolve_model(c.model)
    tok = load_tokenizer(ref.path)
    data = prepare_data(c, tok)
    obj, info = build_objective(c, ref, tok, data)
    (tmp_path / "out").mkdir()
    log = Trainer(obj, TrainConfig(max_steps=4, batch_size=8, lr=1e-3, select_best=False), tmp_path / "out").run()
    finish_folder(c, obj, ref, tok, tmp_path / "out", info, log)

    texts = ["the river watched the quiet harbour", "a small cat repaired an ancient map", "x"]
    feats = tok(texts, padding=True, return_tensors="pt")
    obj.model.eval()
    with torch.no_grad():
        h = obj.model.bert(**feats).last_hidden_state
    m = feats["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
    enc = Encoder.load(tmp_path / "out")
    assert np.allclose(enc.encode(texts), expected, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    assert np.allclose(st.encode(texts, normalize_embeddings=True), expected, atol=1e-5)

    assert is_tied(AutoModelForMaskedLM.from_pretrained(tmp_path / "out"))
    pipe = pipeline("fill-mask", model=str(tmp_path / "out"))
    ours = FillMask.load(tmp_path / "out")("the small cat [MASK] the map.", k=5)[0]
    theirs = pipe("the small cat [MASK] the map.", top_k=5)
    assert [p["token_id"] for p in ours] == [p["token"] for p in theirs]
    assert np.allclose([p["score"] for p in ours], [p["score"] for p in theirs], atol=1e-6)
    card = json.loads((tmp_path / "out" / "encoderkit_model.json").read_text())
    assert card["objective"] == "mlm" and enc.name == card["name"]


def test_head_only_training_leaves_encoder_unchanged(tiny_model_dir, corpus, tmp_path):
    log = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "a", head_only_steps=6))
    before, after = _weights(tiny_model_dir), _weights(tmp_path / "a")
    for name, value in before.items():
        if "pooler" in name:
            continue
        assert torch.equal(after["bert." + name], value), name
    assert any(not torch.equal(after[k], torch.zeros_like(after[k])) for k in after if k.startswith("cls."))
    assert all(r["phase"] == "head" and r["lr_encoder"] == 0.0 for r in log["loss_curve"])
    # the full phase changes the encoder, after the warm-up
    log_b = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "b", head_only_steps=2))
    phases = [r["phase"] for r in log_b["loss_curve"]]
    assert phases == ["head", "head", "full", "full", "full", "full"]
    assert log_b["loss_curve"][2]["lr_encoder"] > 0
    b = _weights(tmp_path / "b")
    assert not torch.equal(
        b["bert.encoder.layer.0.attention.self.query.weight"], before["encoder.layer.0.attention.self.query.weight"]
    )


def test_log_has_evals_loss_curve_and_deterministic_eval(tiny_model_dir, corpus, tmp_path):
    log = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "o", max_steps=9))
    saved = json.loads((tmp_path / "o" / "train_log.json").read_text())
    assert saved == log
    assert saved["step"] == 9 and saved["completed"]
    assert [e["step"] for e in saved["evals"]] == [0, 3, 6, 9]
    e0 = saved["evals"][0]
    assert {"mlm_loss", "perplexity", "accuracy", "masked_tokens"} <= set(e0)
    assert abs(np.exp(e0["mlm_loss"]) - e0["perplexity"]) < 1e-6 * e0["perplexity"]
    assert len(saved["loss_curve"]) == 9 and saved["train_seconds"] > 0
    assert len({e["masked_tokens"] for e in saved["evals"]}) == 1  # same eval masks at every checkpoint
    assert saved["data"]["eval_documents"] == 4 and saved["data"]["train_documents"] == 36
    assert not (tmp_path / "o" / "checkpoint").exists()
    # a second run on the same split evaluates on exactly the same masked tokens
    # (the attached head is seeded, so step 0 is the same model too)
    log2 = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "o2", max_steps=3))
    assert log2["evals"][0]["masked_tokens"] == e0["masked_tokens"]
    assert log2["evals"][0]["mlm_loss"] == pytest.approx(e0["mlm_loss"], rel=1e-6)
    log3 = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "o3", max_steps=3, seed=5))
    assert log3["evals"][0]["masked_tokens"] == e0["masked_tokens"]  # masks of the split, not of the seed
    assert log3["evals"][0]["mlm_loss"] != e0["mlm_loss"]


@pytest.mark.parametrize("objective", ["mlm", "rtd"])
def test_resume_matches_uninterrupted_run(tiny_model_dir, corpus, tmp_path, objective):
    from encoderkit.training.loop import TrainingInterrupted

    extra = dict(objective=objective, head_only_steps=2, masking="whole-word", keep_checkpoint=True)
    full = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "full", **extra))

    def stop_at_4(trainer, step):
        if step == 4:
            trainer.request_stop()

    with pytest.raises(TrainingInterrupted) as exc:
        run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "cut", **extra), on_step=stop_at_4)
    assert exc.value.step == 4 and (tmp_path / "cut" / "checkpoint" / "trainer_state.json").is_file()
    with pytest.raises(EncoderkitError, match="--resume"):
        run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "cut", **extra))
    with pytest.raises(EncoderkitError, match="different settings"):
        run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "cut", **{**extra, "batch_size": 4}), resume=True)
    resumed = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "cut", **extra), resume=True)
    assert resumed["resumed_from_step"] == 4 and resumed["step"] == 6
    assert [r["step"] for r in resumed["loss_curve"]] == [r["step"] for r in full["loss_curve"]]
    assert [r["loss"] for r in resumed["loss_curve"]] == pytest.approx([r["loss"] for r in full["loss_curve"]], rel=1e-5)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert resumed["evals"][-1]["step"] == full["evals"][-1]["step"] == 6
    again = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "full", **extra), resume=True)
    assert again["step"] == 6  # finished runs resume to a no-op


def test_time_budget_stops_and_exports(tiny_model_dir, corpus, tmp_path):
    log = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "t", max_steps=1000, max_minutes=0.0))
    assert log["step"] == 0 and "time budget" in log["stopped_early"]
    assert (tmp_path / "t" / "model.safetensors").is_file()


def test_rtd_run_exports_discriminator_and_generator(tiny_model_dir, corpus, tmp_path):
    from transformers import pipeline

    from encoderkit import Encoder

    log = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "r", objective="rtd", max_steps=4))
    assert {"disc_accuracy", "gen_mlm_loss"} <= set(log["evals"][-1])
    assert log["model"]["generator"]["hidden_size"] < 32
    enc = Encoder.load(tmp_path / "r")
    assert enc.encode(["a small cat"]).shape == (32,) or enc.encode(["a small cat"]).shape == (1, 32)
    preds = pipeline("fill-mask", model=str(tmp_path / "r" / "generator"))("a small [MASK] watched.", top_k=2)
    assert len(preds) == 2


def test_from_scratch_with_nsp(tiny_model_dir, corpus, tmp_path):
    log = run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "s", from_scratch=True, size="tiny", nsp=True, max_steps=3))
    assert log["model"]["encoder_initialized"] and "nsp_accuracy" in log["evals"][-1]
    assert 0.3 < log["data"]["nsp_is_next_fraction"] < 0.7
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path / "s").hidden_size == 128


def test_output_folder_rules(tiny_model_dir, corpus, tmp_path):
    run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "o", max_steps=1))
    with pytest.raises(EncoderkitError, match="already holds"):
        run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "o", max_steps=1))
    run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "o", max_steps=1), overwrite=True)
    write(tmp_path / "busy" / "notes.txt", "mine")
    with pytest.raises(EncoderkitError, match="not empty"):
        run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "busy", max_steps=1))
    with pytest.raises(EncoderkitError, match="max-length"):
        run_pretraining(cfg(tiny_model_dir, corpus, tmp_path / "long", max_length=100000))


def test_nothing_left_after_filtering(tiny_model_dir, tmp_path):
    write(tmp_path / "c" / "a.txt", "Only one short sentence here.")
    write(tmp_path / "c" / "b.txt", "And another one, also short.")
    with pytest.raises(EncoderkitError):
        run_pretraining(cfg(tiny_model_dir, tmp_path / "c", tmp_path / "o", eval_fraction=0.9))
