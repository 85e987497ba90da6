"""Shared fixtures: a tiny random BERT (fast unit tests), the bundled MiniLM and real data paths."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("ENCODERKIT_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """ONNX exports and mining caches go to a temporary folder, never the user's ~/.cache."""
    os.environ["ENCODERKIT_CACHE"] = str(tmp_path_factory.mktemp("encoderkit-cache"))


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ENCODERKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def make_tiny_model(
    directory: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2, pooling: str = "mean", max_seq_length: int = 128
) -> Path:
    """Save a random 2-layer BERT (hidden 32) with MiniLM's tokenizer as a sentence-transformers folder."""
    import torch
    from transformers import BertConfig, BertModel

    from encoderkit.models.ref import bundled_model_path

    bundled = bundled_model_path()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
    )
    directory.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(bundled / name, directory / name)
    (directory / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ]
        )
    )
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {"word_embedding_dimension": hidden, f"pooling_mode_{'mean_tokens' if pooling == 'mean' else 'cls_token'}": True}
        )
    )
    (directory / "2_Normalize").mkdir(exist_ok=True)
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return directory


def make_tiny_cross_encoder(directory: Path, *, seed: int = 0, num_labels: int = 1) -> Path:
    """A random 2-layer BERT with a one-output classification head, saved with MiniLM's tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from encoderkit.models.ref import bundled_model_path

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        num_labels=num_labels,
    )
    BertForSequenceClassification(config).save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(bundled_model_path() / name, directory / name)
    return directory


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir):
    from encoderkit import Encoder

    return Encoder.load(tiny_model_dir)


@pytest.fixture(scope="session")
def minilm():
    from encoderkit import Encoder

    return Encoder.load("default")


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    path = SHARED_DATA / "scifact"
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {path} (set ENCODERKIT_SHARED_DATA)")
    return path


def run_cli(capsys, *args):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    from encoderkit.cli import main

    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def make_scifact_slice(src: Path, dest: Path, n_queries: int = 30, n_docs: int = 300, split: str = "test") -> Path:
    """A small real BEIR set: the first ``n_queries`` SciFact queries of ``split``, every document they
    judge, and distractors (the first other documents of the corpus) up to ``n_docs`` documents."""
    lines = (src / "qrels" / f"{split}.tsv").read_text().splitlines()
    qrels: dict[str, list[str]] = {}
    for line in lines[1:]:
        q, d, _ = line.split("\t")
        if q in qrels or len(qrels) < n_queries:
            qrels.setdefault(q, []).append(d)
    judged = {d for ds in qrels.values() for d in ds}
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    keep = [c for c in corpus if c["_id"] in judged]
    keep += [c for c in corpus if c["_id"] not in judged][: max(0, n_docs - len(keep))]
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    (dest / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in keep))
    queries = [json.loads(line) for line in (src / "queries.jsonl").read_text().splitlines()]
    (dest / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries if q["_id"] in qrels))
    (dest / "qrels" / f"{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, ds in qrels.items() for d in ds)
    )
    return dest


@pytest.fixture(scope="session")
def scifact_slice(scifact_dir, tmp_path_factory) -> Path:
    return make_scifact_slice(scifact_dir, tmp_path_factory.mktemp("scifact-slice"))


@pytest.fixture(scope="session")
def scifact_train_slice(scifact_dir, tmp_path_factory) -> Path:
    """20 SciFact *train* queries with their documents and distractors (150 documents)."""
    return make_scifact_slice(scifact_dir, tmp_path_factory.mktemp("scifact-train"), n_queries=20, n_docs=150, split="train")


@pytest.fixture(scope="session")
def scifact_slice_index(scifact_slice, minilm, tmp_path_factory):
    """The slice indexed once with the bundled MiniLM (about half a minute on 2 cores)."""
    from encoderkit import Index

    index = Index.create(tmp_path_factory.mktemp("ix") / "scifact-slice", encoder=minilm)
    index.sync([scifact_slice / "corpus.jsonl"])
    return index


@pytest.fixture(scope="session")
def tiny_colbert_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A ColBERT folder: the tiny BERT with a random 16-dim projection (see support/colbert.py)."""
    from support.colbert import make_tiny_colbert

    return make_tiny_colbert(tmp_path_factory.mktemp("models") / "tiny-colbert", tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_colbert(tiny_colbert_dir):
    from encoderkit.models.heads.colbert import ColBERT

    return ColBERT.load(tiny_colbert_dir)


INTEGRATION_FIXTURES = {"minilm", "scifact_dir", "scifact_slice", "scifact_train_slice", "scifact_slice_index"}


# a test's folder is its tier: tests/agreement (outputs equal the reference implementations'), tests/crash
# (kills and interrupts at chosen points), tests/faults (hostile files, damage, full disks), tests/ray
TIER_FOLDERS = ("agreement", "crash", "faults", "integration", "ray")


def pytest_collection_modifyitems(config, items):
    """Every test that loads the bundled MiniLM or real data is an integration test (``make test-fast``
    leaves them out); tests in a tier's folder carry that tier's marker (``pytest -m agreement``)."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts and parts[0] in TIER_FOLDERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory):
    """A tiny BEIR folder (support.beir): 12 documents, 8 queries with test qrels."""
    from support.beir import write_tiny_beir

    return write_tiny_beir(tmp_path_factory.mktemp("beir"))


@pytest.fixture(autouse=True)
def _no_orphans():
    """A child left paused by a failing or timed-out crash test is killed, never left behind."""
    yield
    from support.children import CHILDREN

    while CHILDREN:
        proc = CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
