"""The bundled all-MiniLM-L6-v2 (no MLM head) gets a tied head, trains it on real SciFact text, and keeps its
encoder bit-identical during head-only training."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_minilm_head_attach_and_head_only_training(scifact_dir, tmp_path, minilm):
    from encoderkit import Encoder
    from encoderkit.models.ref import bundled_model_path
    from encoderkit.training.pretrain.heads import is_tied, load_mlm_model
    from encoderkit.training.pretrain.train import PretrainConfig, run_pretraining

    model, info = load_mlm_model(bundled_model_path())
    assert info["head_initialized"] and is_tied(model)
    lines = (scifact_dir / "corpus.jsonl").read_text().splitlines()[:80]
    (tmp_path / "sci.jsonl").write_text("\n".join(lines) + "\n")
    log = run_pretraining(
        PretrainConfig(
            model="default",
            corpus=[str(tmp_path / "sci.jsonl")],
            out=str(tmp_path / "o"),
            head_only_steps=12,
            max_steps=12,
            batch_size=8,
            max_length=64,
            eval_every=12,
            max_eval_examples=40,
        )
    )
    first, last = log["evals"][0], log["evals"][-1]
    assert first["perplexity"] > 5000  # a random head knows nothing
    assert last["perplexity"] < first["perplexity"] / 5, (first, last)  # 12 head-only steps already help a lot
    texts = ["Aspirin reduces the risk of myocardial infarction.", "Cells divide by mitosis."]
    assert np.array_equal(Encoder.load(tmp_path / "o").encode(texts), minilm.encode(texts))
    card = json.loads((tmp_path / "o" / "encoderkit_model.json").read_text())
    assert card["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    reloaded, info2 = load_mlm_model(tmp_path / "o")
    assert not info2["head_initialized"] and is_tied(reloaded)
