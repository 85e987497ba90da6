"""`encoderkit pretrain mlm|rtd` and `encoderkit fill-mask` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import run_cli as cli
from conftest import write
from support.corpus import english_docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-corpus")
    write(folder / "notes.md", "# Notes\n\n" + "\n\n".join(english_docs(10, seed=11)))
    write(
        folder / "corpus.jsonl",
        "".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(english_docs(30, seed=12))),
    )
    write(folder / "figure.png", b"\x89PNG\x00\x00")  # skipped inside a folder, reported
    return folder


def test_pretrain_mlm_then_fill_mask(capsys, tmp_path, corpus, tiny_model_dir):
    out = tmp_path / "mlm"
    code, stdout, err = cli(
        capsys,
        "pretrain",
        "mlm",
        "--model",
        tiny_model_dir,
        "--corpus",
        corpus,
        "--out",
        out,
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--max-length",
        "48",
        "--head-only-steps",
        "2",
        "--masking",
        "whole-word",
        "--json",
    )
    assert code == 0, err
    log = json.loads(stdout)
    assert log["step"] == 4 and log["completed"] and log["masking"]["strategy"] == "whole-word"
    assert log["data"]["documents"] == 31 and log["data"]["skipped"] == {"unsupported type .png": 1}
    assert log["evals"][-1]["perplexity"] > 1 and "loss_curve" not in log
    code, stdout, err = cli(capsys, "fill-mask", "the small cat [MASK] the map.", "--model", out, "-k", "3", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    preds = res["masks"][0]
    assert len(res["masks"]) == 1 and len(preds) == 3
    assert preds[0]["score"] >= preds[1]["score"] >= preds[2]["score"] > 0
    assert preds[0]["sequence"].startswith("the small cat ")
    code, stdout, _ = cli(capsys, "fill-mask", "the [MASK] cat [MASK].", "--model", out, "-k", "2")
    assert code == 0 and "score" in stdout and "2 of 2" in stdout
    # human-readable training report
    code, stdout, err = cli(
        capsys,
        "pretrain",
        "mlm",
        "--model",
        tiny_model_dir,
        "--corpus",
        corpus,
        "--out",
        tmp_path / "mlm2",
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--max-length",
        "48",
        "-q",
    )
    assert code == 0, err
    assert "held-out evaluation" in stdout and "perplexity" in stdout and "fill-mask" in stdout


def test_pretrain_rtd_cli(capsys, tmp_path, corpus, tiny_model_dir):
    out = tmp_path / "rtd"
    code, stdout, err = cli(
        capsys,
        "pretrain",
        "rtd",
        "--model",
        tiny_model_dir,
        "--corpus",
        corpus / "corpus.jsonl",
        "--out",
        out,
        "--from-scratch",
        "--size",
        "tiny",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--max-length",
        "48",
        "--generator-size",
        "0.25",
        "--json",
    )
    assert code == 0, err
    log = json.loads(stdout)
    assert log["objective"] == "rtd" and "disc_accuracy" in log["evals"][-1]
    assert log["model"]["generator"]["hidden_size"] == 32
    code, stdout, err = cli(capsys, "fill-mask", "a [MASK] cat", "--model", out)
    assert code == 2 and "generator" in err  # the discriminator has no MLM head: point to the generator
    code, stdout, err = cli(capsys, "fill-mask", "a [MASK] cat", "--model", out / "generator", "--json")
    assert code == 0, err


def test_fill_mask_errors(capsys, tmp_path, tiny_model_dir):
    code, _, err = cli(capsys, "fill-mask", "no mask here", "--model", tiny_model_dir)
    assert code == 2 and "has no [MASK]" in err  # checked before the model loads
    code, _, err = cli(capsys, "fill-mask", "x [MASK]", "--model", tiny_model_dir)
    assert code == 2 and "no trained masked-LM head" in err
    code, _, err = cli(capsys, "fill-mask", "x [MASK]", "--model", tmp_path / "missing")
    assert code == 2 and "does not exist" in err


def test_bad_corpus_errors(capsys, tmp_path, tiny_model_dir):
    empty = write(tmp_path / "empty.txt", "")
    binary = write(tmp_path / "bin.txt", b"\x00\x01\x02\x03")
    for path, reason in ((empty, "empty file"), (binary, "binary file")):
        code, _, err = cli(
            capsys, "pretrain", "mlm", "--model", tiny_model_dir, "--corpus", path, "--out", tmp_path / "o", "--max-steps", "1"
        )
        assert code == 2 and str(path) in err and reason in err and err.count("\n") == 1, err
    folder = tmp_path / "junk"
    write(folder / "a.txt", "tiny")
    write(folder / "b.md", "  ")
    code, _, err = cli(
        capsys, "pretrain", "rtd", "--model", tiny_model_dir, "--corpus", folder, "--out", tmp_path / "o", "--max-steps", "1"
    )
    assert code == 2 and "no usable pretraining text" in err and str(folder) in err
    code, _, err = cli(
        capsys, "pretrain", "mlm", "--model", tiny_model_dir, "--corpus", folder, "--out", tmp_path / "o", "--masking", "ngram"
    )
    assert code == 2 and "unknown masking" in err


def test_pretrain_help_does_not_import_torch():
    code = (
        "import sys\nfrom encoderkit.cli import main\n"
        "try:\n    main(['pretrain', 'mlm', '--help'])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(['fill-mask', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\nprint('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr
    assert "--head-only-steps" in res.stdout and "--static-masking" in res.stdout
