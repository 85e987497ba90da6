"""A static model distilled here loads in model2vec (the format's own library) and gives the vectors the
distillation wrote: a text's vector is the normalised mean of its tokens' rows."""

import json

import numpy as np
import pytest

from encoderkit.errors import EncoderkitError
from encoderkit.models.static.distill import distill_static, pca, sif_weights

model2vec = pytest.importorskip("model2vec")


def test_a_distilled_static_model_loads_in_model2vec_with_the_written_vectors(tiny_model_dir, tmp_path):
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    report = distill_static(tiny_model_dir, tmp_path / "static", pca_dims=16, show_progress=False)
    assert report["dims"] == 16 and report["vocabulary"] > 29_000  # [unusedN] and special tokens left out
    config = json.loads((tmp_path / "static" / "config.json").read_text())
    assert config["model_type"] == "model2vec" and config["hidden_dim"] == 16

    table = load_file(str(tmp_path / "static" / "model.safetensors"))["embeddings"]
    tok = Tokenizer.from_file(str(tmp_path / "static" / "tokenizer.json"))
    assert not table[tok.token_to_id("[CLS]")].any() and not table[tok.token_to_id("[unused5]")].any()

    model = model2vec.StaticModel.from_pretrained(str(tmp_path / "static"))
    texts = ["the cat sat on the mat", "proteins fold"]
    got = model.encode(texts)
    for text, vector in zip(texts, got):
        ids = tok.encode(text, add_special_tokens=False).ids
        expected = table[ids].mean(0)
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(vector, expected, rtol=1e-4, atol=1e-5)


def test_pca_keeps_the_largest_variance_first_and_sif_weights_favour_rare_tokens():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * np.array([5.0, 1, 1, 1, 1, 0.1])
    reduced = pca(x, 2)
    assert reduced.shape == (200, 2) and reduced[:, 0].var() > 10 * reduced[:, 1].var()
    w = sif_weights(1000)
    assert np.all(np.diff(w) > 0) and w[-1] < 1


def test_too_few_tokens_for_the_dimensions_is_one_clear_error(tiny_model_dir, tmp_path):
    with pytest.raises(EncoderkitError, match="too few"):
        distill_static(tiny_model_dir, tmp_path / "s", pca_dims=100_000, show_progress=False)
