import json

import numpy as np
import pytest

from encoderkit import Encoder
from encoderkit.errors import EncoderkitError
from encoderkit.models.heads.encoder import read_st_layout


def test_encode_shapes_and_normalisation(tiny_encoder):
    v = tiny_encoder.encode(["a short text", "another, somewhat longer text about cats"])
    assert v.shape == (2, 32) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    raw = tiny_encoder.encode(["a short text"], normalize=False)
    assert not np.isclose(np.linalg.norm(raw), 1.0)
    assert tiny_encoder.encode("one string").shape == (32,)
    assert tiny_encoder.encode([]).shape == (0, 32)


def test_length_sorted_batching_keeps_input_order(tiny_encoder):
    texts = ["x " * n for n in (50, 1, 20, 7, 33, 2)]
    batched = tiny_encoder.encode(texts, batch_size=2)
    single = np.vstack([tiny_encoder.encode([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "weighted_mean", "last"])
def test_every_pooling_runs_and_differs(tiny_encoder, pooling):
    v = tiny_encoder.encode(["the cat sat on the mat"], pooling=pooling)
    assert v.shape == (1, 32)
    if pooling != "mean":
        assert not np.allclose(v, tiny_encoder.encode(["the cat sat on the mat"], pooling="mean"))


def test_bad_input_errors(tiny_encoder):
    with pytest.raises(EncoderkitError, match="unknown pooling"):
        tiny_encoder.encode(["x"], pooling="avg")
    with pytest.raises(EncoderkitError, match="text 1 is int"):
        tiny_encoder.encode(["x", 3])


def test_truncates_to_max_length(tiny_encoder):
    long = "word " * 1000
    assert tiny_encoder.encode([long]).shape == (1, 32)  # no position-embedding overflow
    assert tiny_encoder.max_length == 128


def test_st_layouts_old_and_new(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 8, "pooling_mode": "cls"}))
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
                {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
                {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
            ]
        )
    )
    layout = read_st_layout(tmp_path)
    assert layout["pooling"] == "cls" and layout["normalize"] is False
    assert layout["unsupported"] == ["sentence_transformers.models.Dense"]
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    assert read_st_layout(tmp_path)["pooling"] == "max"


def test_plain_transformers_folder_defaults_to_mean(tmp_path, tiny_model_dir):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(tiny_model_dir, plain)
    for extra in ("modules.json", "sentence_bert_config.json"):
        (plain / extra).unlink()
    enc = Encoder.load(plain)
    assert enc.pooling == "mean"
    assert Encoder.load(plain, pooling="cls").pooling == "cls"


def test_missing_model_and_unknown_pooling_are_clear_errors(tmp_path):
    with pytest.raises(EncoderkitError, match="does not exist"):
        Encoder.load(str(tmp_path / "nope" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderkitError, match="not a model directory"):
        Encoder.load(tmp_path / "empty")
    with pytest.raises(EncoderkitError, match="unknown pooling"):
        Encoder.load("default", pooling="avg")


def test_hub_id_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderkitError, match="model 'someone/no-such-model' is not a local folder, and not in the local"):
        Encoder.load("someone/no-such-model")


def test_fingerprint_identifies_weights(tiny_encoder, tmp_path):
    from conftest import make_tiny_model

    other = Encoder.load(make_tiny_model(tmp_path / "other", seed=1))
    assert tiny_encoder.fingerprint != other.fingerprint
    assert len(tiny_encoder.fingerprint) == 16
    d = tiny_encoder.describe()
    assert {"name", "fingerprint", "pooling", "dim", "max_length", "source"} <= set(d)


@pytest.mark.integration
def test_bundled_default_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2" and minilm.dim == 384
    assert minilm.max_length == 256 and minilm.pooling == "mean"
    st = SentenceTransformer(str(minilm.ref.path), device="cpu")
    texts = ["A man is playing a guitar.", "Photosynthesis converts light into chemical energy. " * 20]
    assert np.abs(minilm.encode(texts) - st.encode(texts)).max() < 1e-5
    a, b, c = minilm.encode(["a cat sleeps on the sofa", "a kitten naps on the couch", "tax law reform"])
    assert a @ b > a @ c + 0.3
