"""`encoderkit train ...` through the CLI on a real SciFact slice."""

import json

import numpy as np
import pytest

from conftest import run_cli

cli = run_cli


@pytest.mark.integration
def test_train_embed_with_bundled_model(capsys, scifact_train_slice, tmp_path):
    out = tmp_path / "embed"
    code, stdout, err = cli(
        capsys,
        "train",
        "embed",
        "--data",
        scifact_train_slice,
        "--out",
        out,
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--val-fraction",
        "0.25",
        "--val-corpus-size",
        "60",
        "--json",
        "-q",
    )
    assert code == 0, err
    log = json.loads(stdout)
    assert log["total_steps"] == 2 and [e["step"] for e in log["evals"]] == [0, 2]
    assert log["card"]["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and log["card"]["n_negatives"] == 1
    negs = json.loads((out / "negatives.json").read_text())
    qrels = (scifact_train_slice / "qrels" / "train.tsv").read_text().splitlines()[1:]
    positives = {(line.split("\t")[0], line.split("\t")[1]) for line in qrels}
    assert all((q, d) not in positives for q, ds in negs["negatives"].items() for d in ds)
    from sentence_transformers import SentenceTransformer

    from encoderkit import Encoder

    texts = ["vitamin d and bone health", "stem cell differentiation"]
    a = Encoder.load(out).encode(texts)
    b = SentenceTransformer(str(out), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(a, b, atol=1e-5)


def test_train_rerank_and_distill_tiny(capsys, scifact_train_slice, tmp_path, tiny_model_dir):
    rr = tmp_path / "rr"
    code, stdout, err = cli(
        capsys,
        "train",
        "rerank",
        "--data",
        scifact_train_slice,
        "--out",
        rr,
        "--model",
        tiny_model_dir,
        "--max-steps",
        "3",
        "--negatives",
        "2",
        "--val-fraction",
        "0.25",
        "--val-depth",
        "5",
        "--json",
        "-q",
    )
    assert code == 0, err
    assert json.loads(stdout)["card"]["loss"] == "bce" and (rr / "config.json").is_file()
    code, stdout, err = cli(
        capsys,
        "train",
        "rerank",
        "--data",
        scifact_train_slice,
        "--out",
        tmp_path / "rr2",
        "--model",
        tiny_model_dir,
        "--max-steps",
        "2",
        "--negatives",
        "2",
        "--loss",
        "listwise",
        "--val-fraction",
        "0.25",
        "--val-depth",
        "5",
        "--add-ict",
        "5",
        "-q",
    )
    assert code == 0, err
    ds = tmp_path / "ds"
    code, stdout, err = cli(
        capsys,
        "train",
        "distill",
        "--teacher",
        rr,
        "--student",
        tiny_model_dir,
        "--data",
        scifact_train_slice,
        "--out",
        ds,
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--negatives",
        "2",
        "--val-fraction",
        "0.25",
        "--val-corpus-size",
        "40",
        "--json",
        "-q",
    )
    assert code == 0, err
    card = json.loads(stdout)["card"]
    assert card["task"] == "distill" and card["n_triples"] > 0 and (ds / "teacher_scores.json").is_file()
    # 2 steps of 4 triples: the teacher scores those 8, not every mined triple
    assert card["n_teacher_scored"] == 8 < card["n_triples"]
    assert len(json.loads((ds / "teacher_scores.json").read_text())["scores"]) == 8


def test_train_embed_unsupervised_cosent_and_resume(capsys, scifact_train_slice, tmp_path, tiny_model_dir):
    code, stdout, err = cli(
        capsys,
        "train",
        "embed",
        "--data",
        scifact_train_slice,
        "--unsupervised",
        "--model",
        tiny_model_dir,
        "--out",
        tmp_path / "ict",
        "--max-steps",
        "2",
        "--hard-negatives",
        "none",
        "--val-fraction",
        "0.25",
        "--val-corpus-size",
        "40",
        "--json",
        "-q",
    )
    assert code == 0, err
    assert json.loads(stdout)["card"]["unsupervised"] is True
    sts = tmp_path / "sts.jsonl"
    sts.write_text(
        "".join(json.dumps({"text1": f"a cat number {i}", "text2": f"a feline {i}", "score": i % 5}) + "\n" for i in range(40))
    )
    code, stdout, err = cli(
        capsys,
        "train",
        "embed",
        "--data",
        sts,
        "--loss",
        "cosent",
        "--model",
        tiny_model_dir,
        "--out",
        tmp_path / "cosent",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--json",
        "-q",
    )
    assert code == 0, err
    assert json.loads(stdout)["best"]["spearman"] is not None
    code, _, err = cli(capsys, "train", "embed", "--data", sts, "--model", tiny_model_dir, "--out", tmp_path / "bad", "-q")
    assert code == 2 and "use --loss cosent" in err
    code, _, err = cli(
        capsys,
        "train",
        "embed",
        "--data",
        sts,
        "--loss",
        "cosent",
        "--model",
        tiny_model_dir,
        "--out",
        tmp_path / "none",
        "--resume",
        "-q",
    )
    assert code == 2 and "no checkpoint to resume" in err
