"""Adding a retriever means adding its module and registering it: nothing in the library changes.

A small retriever (hashed bag-of-words vectors, cosine) is defined and registered here, inside the
test, then used through the Index API, the CLI and the evaluation harness."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write
from encoderkit import Index
from encoderkit.errors import EncoderkitError
from encoderkit.retrieval.base import Retriever
from encoderkit.retrieval.registry import names, register, unregister

DIM = 64


def hashed_bow(text: str) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    for w in text.lower().split():
        v[zlib.crc32(w.strip(".,").encode()) % DIM] += 1.0
    n = np.linalg.norm(v)
    return v / n if n else v


class HashedBow(Retriever):
    name = "hashedbow"
    encodes = True
    calls: list[int] = []

    @classmethod
    def default_settings(cls) -> dict:
        return {"dim": DIM}

    def payload_key(self) -> str:
        return f"crc32-bow-{self.settings['dim']}"

    def encode_chunks(self, texts):
        HashedBow.calls.append(len(texts))
        return [hashed_bow(t).tobytes() for t in texts]

    def build(self, chunks) -> None:
        self.ids = np.asarray(chunks.ids, np.int64)
        self.vectors = (
            np.frombuffer(b"".join(chunks.payloads), np.float32).reshape(len(chunks), DIM)
            if len(chunks)
            else np.zeros((0, DIM), np.float32)
        )

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "vectors.npy", self.vectors, allow_pickle=False)

    def load(self, directory: Path, chunk_ids) -> None:
        self.vectors = np.load(directory / "vectors.npy", allow_pickle=False)
        self.ids = np.asarray(chunk_ids, np.int64)

    def search(self, queries, k, encoded=None):
        out = []
        for q in queries:
            scores = self.vectors @ hashed_bow(q)
            top = np.argsort(-scores, kind="stable")[:k]
            top = top[scores[top] > 0]
            out.append((self.ids[top], scores[top].astype(np.float32)))
        return out


@pytest.fixture
def extra_retriever():
    register(HashedBow)
    HashedBow.calls.clear()
    yield HashedBow
    unregister("hashedbow")


DOCS = [
    {"id": "nile", "text": "The Nile flows north through Egypt into the Mediterranean."},
    {"id": "alps", "text": "The Alps are a mountain range across eight countries."},
    {"id": "tea", "text": "Green tea is brewed at a lower temperature than black tea."},
]


def test_extra_retriever_through_index_api(tmp_path, tiny_encoder, extra_retriever):
    assert "hashedbow" in names()
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, retrievers=["bm25", "dense", "hashedbow"])
    index.add(DOCS)
    assert index.retrievers == ["bm25", "dense", "hashedbow"]
    assert (index.path / index.manifest["segments"][0]["name"] / "hashedbow" / "vectors.npy").is_file()
    hits = index.search("green tea temperature", mode="hashedbow", k=2)
    assert hits[0].doc_id == "tea" and set(hits[0].stages) == {"hashedbow"}
    hybrid = index.search("mountain range countries", k=3)  # hybrid fuses all three
    assert hybrid[0].doc_id == "alps" and set(hybrid[0].stages) == {"bm25", "dense", "hashedbow"}
    two = index.search("mountain range", mode="bm25+hashedbow", k=3)
    assert set(two[0].stages) == {"bm25", "hashedbow"}
    with pytest.raises(EncoderkitError, match="no 'colbert' retriever"):
        index.search("x", mode="bm25+colbert")


def test_extra_retriever_over_segments_deletions_and_merges(tmp_path, tiny_encoder, extra_retriever):
    """A retriever written against the single-index protocol (no ``live``, no statistics) is searched
    per segment with deleted chunks left out, and merged segments are built from the store's payloads."""
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, retrievers=["bm25", "hashedbow"])
    index.set_merge_policy(auto=False)
    for d in DOCS:  # one segment per update
        index.add([d])
    index.add([{"id": "nile2", "text": "The Nile flows north through Egypt; a second note on the Nile."}])
    assert len(index.manifest["segments"]) == 4
    calls = len(extra_retriever.calls)
    index.remove(["nile"])  # a deletion marker in the first segment; nothing encoded
    assert len(extra_retriever.calls) == calls
    hits = index.search("Nile Egypt", mode="hashedbow", k=5)
    assert [h.doc_id for h in hits][0] == "nile2" and "nile" not in {h.doc_id for h in hits}
    before = [(h.doc_id, round(h.score, 6)) for h in index.search("green tea mountains", mode="hashedbow", k=5)]
    report = index.optimize()
    assert report.segments_after == 1 and len(extra_retriever.calls) == calls  # merged from stored payloads
    after = [(h.doc_id, round(h.score, 6)) for h in index.search("green tea mountains", mode="hashedbow", k=5)]
    assert after == before and "nile" not in {h.doc_id for h in index.search("Nile Egypt", mode="hashedbow", k=5)}


def test_adding_a_retriever_to_an_existing_index_encodes_only_its_payloads(tmp_path, tiny_encoder, extra_retriever):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(DOCS)
    assert index.retrievers == ["bm25", "dense"] and not extra_retriever.calls
    index.reconfigure(retrievers=["bm25", "dense", "hashedbow"])
    report = index.sync([])  # nothing new on disk: only the new retriever's payloads are computed
    assert report.chunks_encoded == 0 and report.payloads_filled == 3 and report.committed
    assert index.search("Nile Egypt", mode="hashedbow")[0].doc_id == "nile"
    reopened = Index.open(index.path)
    assert reopened.retrievers == ["bm25", "dense", "hashedbow"]
    index.reconfigure(retrievers=["bm25", "dense"])  # and removing it drops its data
    index.sync([])
    assert index.store.conn.execute("SELECT COUNT(*) FROM chunk_payloads WHERE retriever='hashedbow'").fetchone()[0] == 0


def test_extra_retriever_through_cli_and_eval(tmp_path, capsys, tiny_model_dir, extra_retriever):
    docs = tmp_path / "docs"
    for d in DOCS:
        write(docs / f"{d['id']}.txt", d["text"])
    ix = tmp_path / "ix"
    code, out, err = run_cli(
        capsys,
        "index",
        docs,
        "--index",
        ix,
        "--model",
        tiny_model_dir,
        "--retrievers",
        "bm25,dense,hashedbow",
        "--no-onnx",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["totals"]["retrievers"] == ["bm25", "dense", "hashedbow"]
    code, out, err = run_cli(capsys, "search", "brewed green tea", "--index", ix, "--mode", "hashedbow", "--json")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert hits[0]["doc_id"].endswith("tea.txt") and "hashedbow" in hits[0]["stages"]
    code, out, err = run_cli(capsys, "search", "x", "--index", ix, "--mode", "nosuch")
    assert code == 2 and "unknown search mode 'nosuch'" in err
    code, out, err = run_cli(capsys, "search", "x", "--index", ix, "--mode", "colbert")  # known, not built here
    assert code == 2 and "this index has no 'colbert' retriever (it has bm25, dense, hashedbow)" in err
    assert "--retrievers bm25,dense,hashedbow,colbert" in err
    # the evaluation harness: a BEIR set, pipelines naming the new retriever
    beir = tmp_path / "beir"
    write(beir / "corpus.jsonl", "".join(json.dumps({"_id": d["id"], "title": "", "text": d["text"]}) + "\n" for d in DOCS))
    write(
        beir / "queries.jsonl",
        "".join(
            json.dumps({"_id": f"q{i}", "text": t}) + "\n"
            for i, t in enumerate(["river through Egypt", "mountain range", "brewing tea"])
        ),
    )
    write(beir / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq0\tnile\t1\nq1\talps\t1\nq2\ttea\t1\n")
    code, out, err = run_cli(
        capsys,
        "eval",
        "retrieval",
        beir,
        "-p",
        "hashedbow",
        "-p",
        "bm25+hashedbow",
        "--model",
        tiny_model_dir,
        "--out",
        tmp_path / "eval",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert set(res["pipelines"]) == {"hashedbow", "bm25+hashedbow"}
    assert res["pipelines"]["hashedbow"]["metrics"]["ndcg@10"] > 0.5
    assert "hashedbow@100" in res["pipelines"]["bm25+hashedbow"]["stage_recall"]
