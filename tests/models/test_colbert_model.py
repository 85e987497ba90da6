"""The ColBERT head: tokenisation (markers, [MASK] augmentation, skiplist), normalised token vectors,
save/load, the zero-training baseline, ONNX export gated by agreement, the reranker loader, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoderkit.errors import EncoderkitError
from encoderkit.models import load_reranker
from encoderkit.models.heads.colbert import CONFIG, ColBERT, ColBERTConfig, describe_colbert, is_colbert_folder
from support.colbert import make_tiny_colbert


def test_query_features_markers_and_mask_augmentation(tiny_colbert):
    f = tiny_colbert.query_features(["What is a cat?", "dogs"])
    assert f["input_ids"].shape == (2, 32)
    assert f["input_ids"][0, :2].tolist() == [101, 1]  # [CLS] [Q]=[unused0]
    row = f["input_ids"][1].tolist()
    assert row[:4] == [101, 1, 6077, 102] and set(row[4:]) == {103}  # "dogs" [SEP] then [MASK] x 28
    assert f["attention_mask"][1].tolist() == [1] * 4 + [0] * 28  # masks are not attended to (ColBERTv2)
    assert f["scoring_mask"].all()  # ... but every position takes part in MaxSim


def test_document_features_skiplist_and_bad_documents(tiny_colbert):
    f = tiny_colbert.document_features(["Hello, world!", "", "!!! ... ,,, ?"])
    ids, keep = f["input_ids"], f["scoring_mask"]
    assert ids[0, :2].tolist() == [101, 2]  # [CLS] [D]=[unused1]
    kept = ids[0][keep[0]].tolist()
    assert 1010 not in kept and 999 not in kept and 7592 in kept and 2088 in kept  # "," and "!" dropped
    vecs = tiny_colbert.encode_documents(["Hello, world!", "", "!!! ... ,,, ?", "word " * 1000])
    assert [len(v) for v in vecs[:3]] == [5, 3, 3]  # [CLS] [D] hello world [SEP]; empty and all-punctuation: 3
    assert len(vecs[3]) == tiny_colbert.doc_length  # truncated at the document limit
    assert all(np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5) for v in vecs)
    with pytest.raises(EncoderkitError, match="not str"):
        tiny_colbert.encode_documents(["ok", None])


def test_long_query_is_truncated_and_still_scores(tiny_colbert):
    long = "vitamin " * 200
    assert tiny_colbert.truncated_queries([long, "short"]) == [True, False]
    q, mask = tiny_colbert.encode_queries([long, "short"])
    assert q.shape == (2, 32, 16) and mask.all()
    assert np.allclose(np.linalg.norm(q, axis=-1), 1, atol=1e-5)
    s = tiny_colbert.score(long, ["vitamin d", "tax law", ""])
    assert s.shape == (3,) and np.isfinite(s).all()


def test_save_load_identical_token_vectors_and_settings(tiny_colbert_dir, tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModel

    a = ColBERT.load(tiny_colbert_dir)
    d = describe_colbert(tiny_colbert_dir)
    assert d["kind"] == "colbert" and d["dim"] == 16 and d["query_length"] == 32 and d["fingerprint"] == a.fingerprint
    assert is_colbert_folder(tiny_colbert_dir) and json.loads((tiny_colbert_dir / CONFIG).read_text())["format_version"] == 1
    texts = ["The cat sat on the mat.", "A longer second document about cats and mats and hats."]
    # the torch module as training holds it gives the same vectors as the saved folder loaded back
    bert = AutoModel.from_pretrained(tiny_colbert_dir).eval()
    feats = a.document_features(texts)
    with torch.no_grad():
        h = bert(**{k: torch.from_numpy(feats[k]) for k in ("input_ids", "attention_mask", "token_type_ids")}).last_hidden_state
        ref = torch.nn.functional.normalize(h @ torch.from_numpy(a.projection).T, dim=-1).numpy()
    for row, v in enumerate(a.encode_documents(texts, batch_size=1)):
        np.testing.assert_allclose(v, ref[row][feats["scoring_mask"][row]], atol=1e-5)
    # save it again, load again: bit-identical vectors and the same fingerprint
    from encoderkit.models.heads.colbert import save_colbert

    again = save_colbert(
        tmp_path / "again", transformer=bert, tokenizer_dir=tiny_colbert_dir, projection=a.projection, config=a.config
    )
    b = ColBERT.load(again)
    assert b.fingerprint == a.fingerprint
    for x, y in zip(a.encode_documents(texts), b.encode_documents(texts)):
        assert np.array_equal(x, y)
    assert np.array_equal(a.encode_queries(texts)[0], b.encode_queries(texts)[0])
    other = make_tiny_colbert(tmp_path / "other", tiny_model_dir, seed=1)
    assert ColBERT.load(other).fingerprint != a.fingerprint


def test_zero_training_baseline_is_the_backbones_own_token_vectors(tiny_model_dir):
    base = ColBERT.load(tiny_model_dir)
    assert base.baseline and base.dim == 32 and base.projection is None
    f = base.query_features(["a cat"])
    assert f["input_ids"][0].tolist() == [101, 1037, 4937, 102] and f["scoring_mask"].all()  # no marker, no masks
    assert describe_colbert(tiny_model_dir)["baseline"] and not describe_colbert(tiny_model_dir)["projection"]
    with pytest.raises(EncoderkitError, match="bi-encoder"):
        load_reranker(tiny_model_dir)


def test_config_checks(tmp_path, tiny_model_dir):
    with pytest.raises(EncoderkitError):
        ColBERTConfig(dim=0).check()
    with pytest.raises(EncoderkitError, match="newer"):
        ColBERTConfig.from_dict({"format_version": 99})
    folder = make_tiny_colbert(tmp_path / "c", tiny_model_dir)
    (folder / "colbert_projection.safetensors").unlink()
    with pytest.raises(EncoderkitError, match="no colbert_projection"):
        ColBERT.load(folder)


def test_onnx_export_gated_by_agreement_and_reranker_loader(tiny_colbert_dir, tiny_cross_encoder_dir):
    from encoderkit.models.export import export_onnx

    folder = export_onnx(tiny_colbert_dir)  # kind detected from the folder
    info = json.loads((folder / "export.json").read_text())
    assert info["kind"] == "colbert" and info["min_cosine_to_torch"] >= 0.9999
    torch_m, onnx_m = ColBERT.load(tiny_colbert_dir), ColBERT.load(tiny_colbert_dir, backend="onnx")
    q1, _ = torch_m.encode_queries(["a query about cats"])
    q2, _ = onnx_m.encode_queries(["a query about cats"])
    assert onnx_m.backend == "onnx" and (q1 * q2).sum(-1).min() > 0.9999
    rr = load_reranker(tiny_colbert_dir, backend="onnx")
    assert rr.kind == "colbert" and rr.describe()["kind"] == "colbert" and rr.score("q", ["a", "b"]).shape == (2,)
    ce = load_reranker(tiny_cross_encoder_dir)
    assert ce.kind == "cross-encoder" and ce.score("q", ["a"]).shape == (1,)
    from encoderkit.models.heads.cross_encoder import Reranker

    with pytest.raises(EncoderkitError, match="is a ColBERT model, not a cross-encoder"):
        Reranker.load(tiny_colbert_dir)  # never a randomly initialised classification head on ColBERT weights
