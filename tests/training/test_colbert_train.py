"""`train colbert` on the one loop: the loss decreases on a tiny model, exact resume, teachers, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, write
from encoderkit.training.loop import TrainConfig, TrainingInterrupted

WORDS = ["cat", "river", "vaccine", "tax", "tea", "engine", "planet", "violin", "wheat", "glacier"]


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    """A small synthetic BEIR set: 40 documents on 10 topics, 20 training queries."""
    root = tmp_path_factory.mktemp("beir")
    docs = [
        {
            "_id": f"d{i}",
            "title": f"a short note on {WORDS[i % 10]}",
            "text": f"all about {WORDS[i % 10]} and {WORDS[(i * 7) % 10]} case {i}",
        }
        for i in range(40)
    ]
    write(root / "corpus.jsonl", "".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": f"tell me about {WORDS[i % 10]} case {i}"} for i in range(20)]
    write(root / "queries.jsonl", "".join(json.dumps(q) + "\n" for q in queries))
    write(root / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(20)))
    return root


def run(tiny_model_dir, beir, out, *, steps, lr=2e-3, on_step=None, resume=False, **kw):
    from encoderkit.training.colbert import train_colbert
    from encoderkit.training.mining import MiningConfig

    cfg = TrainConfig(
        max_steps=steps, batch_size=16, lr=lr, head_lr_mult=1.0, warmup_ratio=0.0, eval_every=2, seed=0, log_every=1
    )
    kw.setdefault("mining", MiningConfig(method="bm25", n_negatives=2, rank_min=0, rank_max=10))
    return (
        train_colbert(
            str(tiny_model_dir),
            beir,
            out,
            dim=16,
            negatives=2,
            doc_max_length=32,
            val_fraction=0.2,
            val_corpus_size=40,
            train_config=cfg,
            resume=resume,
            show_progress=False,
            **kw,
        )
        if on_step is None
        else _with_stop(tiny_model_dir, beir, out, cfg, kw, on_step)
    )


def _with_stop(tiny_model_dir, beir, out, cfg, kw, on_step):
    import encoderkit.training.colbert as tc
    from encoderkit.training.loop import Trainer

    original = Trainer.__init__

    def patched(self, *a, **k):
        original(self, *a, **k)
        self.on_step = on_step

    Trainer.__init__ = patched
    try:
        return tc.train_colbert(
            str(tiny_model_dir),
            beir,
            out,
            dim=16,
            negatives=2,
            doc_max_length=32,
            val_fraction=0.2,
            val_corpus_size=40,
            train_config=cfg,
            show_progress=False,
            **kw,
        )
    finally:
        Trainer.__init__ = original


def test_loss_decreases_validates_and_exports(tiny_model_dir, beir, tmp_path):
    from encoderkit.models.heads.colbert import ColBERT

    log = run(tiny_model_dir, beir, tmp_path / "out", steps=12)
    losses = [c["loss"] for c in log["loss_curve"]]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.2, losses
    assert log["objective"] == "colbert" and len(log["evals"]) >= 6 and "ndcg@10" in log["best"]
    m = ColBERT.load(tmp_path / "out")
    card = json.loads((tmp_path / "out" / "encoderkit_model.json").read_text())
    assert card["kind"] == "colbert" and card["dim"] == 16 and m.dim == 16 and not m.baseline
    assert (tmp_path / "out" / "negatives.json").is_file() and not (tmp_path / "out" / "checkpoint").exists()


def test_exact_resume(tiny_model_dir, beir, tmp_path):
    from safetensors.numpy import load_file

    full = run(tiny_model_dir, beir, tmp_path / "a", steps=4)

    def stop(trainer, step):
        if step == 2:
            trainer.request_stop()

    with pytest.raises(TrainingInterrupted):
        run(tiny_model_dir, beir, tmp_path / "b", steps=4, on_step=stop)
    resumed = run(tiny_model_dir, beir, tmp_path / "b", steps=4, resume=True)
    assert resumed["resumed_from_step"] == 2
    assert [round(c["loss"], 5) for c in resumed["loss_curve"]] == [round(c["loss"], 5) for c in full["loss_curve"]]
    a = load_file(str(tmp_path / "a" / "colbert_projection.safetensors"))["weight"]
    b = load_file(str(tmp_path / "b" / "colbert_projection.safetensors"))["weight"]
    assert np.allclose(a, b, atol=1e-6)


def test_distillation_from_fused_scores_and_another_model(tiny_model_dir, beir, tmp_path):
    log = run(tiny_model_dir, beir, tmp_path / "fused", steps=2, teacher="fused:" + str(tiny_model_dir))
    assert "distill" in log["loss_curve"][-1] and log["card"]["teacher"].startswith("fused")
    saved = json.loads((tmp_path / "fused" / "teacher_scores.json").read_text())
    assert saved["scores"] and all(0 <= s <= 1 for v in saved["scores"].values() for s in v)
    log = run(tiny_model_dir, beir, tmp_path / "model", steps=2, teacher=f"model:{tmp_path / 'fused'}", distill_loss="margin-mse")
    assert "distill" in log["loss_curve"][-1]
    from encoderkit.errors import EncoderkitError

    with pytest.raises(EncoderkitError, match="unknown teacher"):
        run(tiny_model_dir, beir, tmp_path / "bad", steps=1, teacher="oracle")


def test_train_colbert_cli(tiny_model_dir, beir, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "train",
        "colbert",
        "--data",
        beir,
        "--out",
        tmp_path / "cli",
        "--model",
        tiny_model_dir,
        "--dim",
        "16",
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--hard-negatives",
        "bm25",
        "--val-corpus-size",
        "40",
        "--train-doc-length",
        "32",
        "--add-titles",
        "6",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["total_steps"] == 2 and res["card"]["task"] == "colbert" and res["card"]["extra_pairs"] == 6
    code, out, err = run_cli(capsys, "train", "colbert", "--data", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert code == 2 and "does not exist" in err
