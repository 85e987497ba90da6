"""Index-time annotators and search filters: a small annotator defined here, inside the test, tags
documents at indexing time; filters restrict search to what it tagged, by path and by metadata."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli, write
from encoderkit import Index
from encoderkit.errors import EncoderkitError
from encoderkit.index.read.filters import parse_filters
from encoderkit.index.write.annotate import Annotator, reconstruct_text, register_annotator, unregister_annotator

TOPICS = {"animals": ("cat", "dog", "owl"), "drinks": ("tea", "coffee")}


class TopicAnnotator(Annotator):
    name = "topics"
    seen: list[str] = []

    @classmethod
    def default_settings(cls) -> dict:
        return {"version": 1}

    def key(self) -> str:
        return f"topics-v{self.settings['version']}"

    def annotate(self, docs):
        out = []
        for d in docs:
            TopicAnnotator.seen.append(d.doc_id)
            words = set((d.title + " " + d.text).lower().replace(".", " ").split())
            out.append({"labels": sorted(t for t, keys in TOPICS.items() if words & set(keys)), "chars": len(d.text)})
        return out

    def filter_values(self, annotation):
        return {"label": annotation["labels"]}


@pytest.fixture
def topics():
    register_annotator(TopicAnnotator)
    TopicAnnotator.seen.clear()
    yield TopicAnnotator
    unregister_annotator("topics")


DOCS = [
    {"id": "cats", "title": "Cats", "text": "The cat sleeps all day.", "meta": {"lang": "en"}},
    {"id": "tea", "title": "Tea", "text": "Green tea is brewed cooler.", "meta": {"lang": "en"}},
    {"id": "both", "title": "Cafe", "text": "A dog lies under the table while we drink coffee.", "meta": {"lang": "fr"}},
    {"id": "none", "title": "Rocks", "text": "Granite is an igneous rock.", "meta": {"lang": "en"}},
]


def test_annotations_filters_and_incremental_updates(tmp_path, tiny_encoder, topics):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, annotators=["topics"])
    r = index.add(DOCS, export_onnx=False)
    assert r.annotated == 4 and sorted(topics.seen) == ["both", "cats", "none", "tea"]
    hits = {h.doc_id: h for h in index.search("a the is", mode="dense", k=10)}
    assert hits["both"].annotations["topics"]["labels"] == ["animals", "drinks"]
    assert hits["both"].meta == {"lang": "fr"}
    ids = lambda f: sorted(h.doc_id for h in index.search("a the is", mode="dense", k=10, filters=f))
    assert ids(["label=animals"]) == ["both", "cats"]
    assert ids(["label=animals", "label=drinks"]) == ["both", "cats", "tea"]  # OR within a field
    assert ids(["label=ANIMALS", "meta.lang=fr"]) == ["both"]  # AND across fields, case-insensitive
    assert ids(["label=nothing"]) == []
    # incremental: an unchanged document keeps its annotation, a changed one is annotated again
    topics.seen.clear()
    r = index.add([DOCS[0], {"id": "tea", "title": "Tea", "text": "Black tea and a cat."}], export_onnx=False)
    assert r.unchanged == 1 and r.updated == 1 and topics.seen == ["tea"]
    assert ids(["label=animals"]) == ["both", "cats", "tea"]
    index.remove(["cats"])
    assert ids(["label=animals"]) == ["both", "tea"]
    n = index.store.conn.execute("SELECT COUNT(*) FROM doc_filter_values WHERE value='animals'").fetchone()[0]
    assert n >= 2
    assert index.stats()["annotations"] == {"topics": 3}


def test_adding_an_annotator_later_back_fills_without_re_encoding(tmp_path, tiny_encoder, topics):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(DOCS, export_onnx=False)
    index.reconfigure(annotators=["topics"])
    r = index.sync([], export_onnx=False)
    assert r.chunks_encoded == 0 and r.annotated == 4 and r.committed
    # the text given to the annotator was rebuilt from the stored chunks
    hit = index.search("granite", mode="bm25", filters=["label=animals"])
    assert hit == []
    assert [h.doc_id for h in index.search("dog coffee", mode="bm25", filters=["label=drinks"])] == ["both"]
    index.reconfigure(annotator_settings={"topics": {"version": 2}})  # a new key: everything annotated again
    assert index.sync([], export_onnx=False).annotated == 4
    index.reconfigure(annotators=[])  # and dropping it drops its data
    index.sync([], export_onnx=False)
    assert index.store.conn.execute("SELECT COUNT(*) FROM doc_annotations").fetchone()[0] == 0
    with pytest.raises(EncoderkitError, match="no document of this index has a 'label' field"):
        index.search("dog coffee", mode="bm25", filters=["label=drinks"])  # never a silent empty answer


def test_path_filter_and_cli(tmp_path, capsys, tiny_model_dir, topics):
    write(tmp_path / "docs" / "pets" / "cat.md", "# Cats\nThe cat sleeps on the warm mat all day.")
    write(tmp_path / "docs" / "drinks" / "tea.txt", "Green tea is brewed cooler than black tea, said the cat.")
    ix = tmp_path / "ix"
    code, out, err = run_cli(
        capsys,
        "index",
        tmp_path / "docs",
        "--index",
        ix,
        "--model",
        tiny_model_dir,
        "--annotator",
        "topics",
        "--annotator-setting",
        "topics.version=3",
        "--no-onnx",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["annotated"] == 2
    code, out, err = run_cli(capsys, "search", "cat", "--index", ix, "--mode", "bm25", "--filter", "path=pets/*.md", "--json")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert [h["doc_id"].endswith("cat.md") for h in hits] == [True]
    assert hits[0]["annotations"]["topics"]["labels"] == ["animals"]
    code, out, _ = run_cli(capsys, "search", "cat", "--index", ix, "--mode", "bm25", "--filter", "label=drinks", "--json")
    assert [h["doc_id"].endswith("tea.txt") for h in json.loads(out)["hits"]] == [True]
    code, _, err = run_cli(capsys, "search", "cat", "--index", ix, "--filter", "label")
    assert code == 2 and "bad filter" in err
    code, out, _ = run_cli(capsys, "search", "cat", "--index", ix, "--mode", "bm25", "--filter", "label=sleepy", "--json")
    assert code == 0 and json.loads(out)["hits"] == []  # a known field with no match: an empty answer is right
    code, _, err = run_cli(capsys, "search", "cat", "--index", ix, "--mode", "bm25", "--filter", "lable=drinks")
    assert code == 2 and "no document of this index has a 'lable' field (fields here: path, label" in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    code, out, _ = run_cli(capsys, "info", "--index", ix)
    assert "topics" in out and "2 documents annotated" in out
    m = json.loads((ix / "manifest.json").read_text())
    assert m["annotators"] == [{"name": "topics", "settings": {"version": 3}}]


def test_unknown_annotator_and_bad_settings(tmp_path, tiny_encoder, topics):
    with pytest.raises(EncoderkitError, match="unknown annotator 'nope'"):
        Index.create(tmp_path / "a", encoder=tiny_encoder, annotators=["nope"])
    with pytest.raises(EncoderkitError, match="unknown topics annotator setting"):
        Index.create(tmp_path / "b", encoder=tiny_encoder, annotators=["topics"], annotator_settings={"topics": {"x": 1}})
    with pytest.raises(EncoderkitError, match="bad filter"):
        parse_filters(["=x"])


def test_reconstruct_text_keeps_offsets():
    text = "Alpha beta.\n\n  Gamma delta epsilon."
    chunks = [(0, 11, text[0:11]), (15, 35, text[15:35]), (21, 26, text[21:26])]
    rebuilt = reconstruct_text(chunks)
    assert (
        rebuilt == "Alpha beta.    Gamma delta epsilon."
        and len(rebuilt) == len(text)
        and rebuilt[15:20] == "Gamma"
        and rebuilt[0:5] == "Alpha"
    )
