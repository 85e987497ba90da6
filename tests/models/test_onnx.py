"""ONNX Runtime backend: same vectors and scores as torch (fp32), close with int8, no torch at load."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from encoderkit import Encoder, Index
from encoderkit.errors import EncoderkitError
from encoderkit.models.export import export_onnx
from encoderkit.models.heads.cross_encoder import Reranker


def test_encoder_fp32_matches_torch_and_int8_is_close(tiny_model_dir, tiny_encoder):
    folder = export_onnx(tiny_model_dir)
    info = json.loads((folder / "export.json").read_text())
    assert info["kind"] == "encoder" and info["min_cosine_to_torch"] > 0.9999
    onnx = Encoder.load(tiny_model_dir, backend="onnx")
    texts = ["a", "a longer text about the sea " * 20, "mid sized sentence here"]
    assert np.allclose(onnx.encode(texts, batch_size=2), tiny_encoder.encode(texts), atol=1e-5)
    for pooling in ("cls", "max", "weighted_mean", "last"):
        assert np.allclose(onnx.encode(texts, pooling=pooling), tiny_encoder.encode(texts, pooling=pooling), atol=1e-5)
    with pytest.raises(EncoderkitError, match="no ONNX export"):  # loading never exports by itself
        Encoder.load(tiny_model_dir, backend="onnx-int8")
    export_onnx(tiny_model_dir, quantize="int8")
    q8 = Encoder.load(tiny_model_dir, backend="onnx-int8")
    cos = (q8.encode(texts) * tiny_encoder.encode(texts)).sum(1)
    assert q8.backend == "onnx-int8" and cos.min() > 0.8
    assert onnx.count_tokens(["hello world"]) == tiny_encoder.count_tokens(["hello world"])


def test_onnx_encoder_loads_without_torch(tiny_model_dir):
    export_onnx(tiny_model_dir)
    code = (
        f"import sys; from encoderkit import Encoder; e = Encoder.load({str(tiny_model_dir)!r}, backend='onnx'); "
        "v = e.encode(['hi there']); assert 'torch' not in sys.modules, 'torch imported'; print(v.shape)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert res.stdout.strip() == "(1, 32)", res.stderr


def test_index_uses_onnx_automatically_once_exported(tmp_path, tiny_model_dir, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add([{"id": str(i), "text": f"document number {i} about subject {i % 3}"} for i in range(20)])
    export_onnx(tiny_model_dir)
    auto = Index.open(index.path)
    torch_ = Index.open(index.path, backend="torch")
    q = "subject 2 document"
    assert auto.encoder.backend == "onnx" and torch_.encoder.backend == "torch"
    assert [h.doc_id for h in auto.search(q)] == [h.doc_id for h in torch_.search(q)]


def test_cross_encoder_onnx_matches_torch(tiny_cross_encoder_dir):
    ref = Reranker.load(tiny_cross_encoder_dir)
    with pytest.raises(EncoderkitError, match="no ONNX export"):  # loading never exports by itself
        Reranker.load(tiny_cross_encoder_dir, backend="onnx")
    export_onnx(tiny_cross_encoder_dir)
    export_onnx(tiny_cross_encoder_dir, quantize="int8")
    onnx = Reranker.load(tiny_cross_encoder_dir, backend="onnx")
    pairs = [("what is it", "a passage " * n) for n in (1, 5, 40)]
    assert np.allclose(ref.score_pairs(pairs, raw=True), onnx.score_pairs(pairs, raw=True), atol=1e-4)
    q8 = Reranker.load(tiny_cross_encoder_dir, backend="onnx-int8")
    assert q8.score_pairs(pairs).shape == (3,)


def test_cli_index_exports_query_model_unless_told_not_to(tmp_path, capsys):
    from conftest import make_tiny_model, write
    from encoderkit.cli import main
    from encoderkit.models.export import export_dir

    write(tmp_path / "docs" / "a.txt", "The Nile is the longest river in Africa.")
    for seed, flag, expected in ((11, [], "onnx"), (12, ["--no-onnx"], "torch")):
        model = make_tiny_model(tmp_path / f"m{seed}", seed=seed)
        try:
            main(
                ["index", str(tmp_path / "docs"), "--index", str(tmp_path / f"ix{seed}"), "--model", str(model), "--json", *flag]
            )
        except SystemExit as exc:
            assert exc.code in (0, None)
        report = json.loads(capsys.readouterr().out)
        assert report["query_backend"] == expected
        assert (export_dir(model)[1] / "model.onnx").is_file() == (expected == "onnx")
        assert Index.open(tmp_path / f"ix{seed}").encoder.backend == expected


def test_an_export_says_what_it_does_once(tmp_path, monkeypatch, capsys):
    """The export the fast paths need took a silent minute: it prints a line before and after, once per model."""
    from conftest import make_tiny_model

    model = make_tiny_model(tmp_path / "m", seed=7)  # a fingerprint no other test exported
    monkeypatch.setenv("ENCODERKIT_QUIET", "0")
    export_onnx(model, kind="encoder", quantize="int8")
    err = capsys.readouterr().err
    assert "exporting m to ONNX int8 (once per model; cached in" in err and "exported m to ONNX int8 in" in err
    export_onnx(model, kind="encoder", quantize="int8")  # cached: nothing to say
    assert "export" not in capsys.readouterr().err
    monkeypatch.setenv("ENCODERKIT_QUIET", "1")
    export_onnx(model, kind="encoder")
    assert capsys.readouterr().err == ""
