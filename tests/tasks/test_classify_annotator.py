"""The ``classify`` annotator: documents tagged with a classifier's labels at indexing time; the tags
filter search, survive incremental updates (an unchanged document is not classified again) and
leave with deleted documents; the CLI's --classify and --filter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_tiny_model, run_cli, write
from encoderkit import Index
from encoderkit.errors import EncoderkitError
from encoderkit.tasks.classify import Classifier

DOCS = [
    {"id": "match", "title": "Cup final", "text": "The striker scored twice and the team won the cup."},
    {"id": "vote", "title": "Budget", "text": "Parliament voted on the budget and the new tax law."},
    {"id": "goal", "title": "League", "text": "A late goal decided the match for the home team."},
]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    """A zero-shot classifier on a tiny model whose head is set so that 'team' texts are sports."""
    import torch

    root = tmp_path_factory.mktemp("tag")
    model = make_tiny_model(root / "enc", seed=3)
    zs = Classifier.zero_shot(
        {"sports": "team striker goal match cup", "politics": "parliament budget tax vote law"}, model=model
    )
    from encoderkit.models.heads.encoder import Encoder

    enc = Encoder.load(model)
    e = enc.encode([f"{d['title']}\n{d['text']}" for d in DOCS])
    sports, politics = e[0] + e[2] - 2 * e[1], 2 * e[1] - e[0] - e[2]  # a head that separates the three documents
    with torch.no_grad():
        zs.module.head.weight.copy_(torch.from_numpy(np.stack([sports, politics]) * 50))
    zs.save(root / "clf")
    return model, root / "clf"


def labels_of(index, filt):
    return sorted(h.doc_id for h in index.search("the", mode="dense", k=10, filters=filt))


def test_tags_filter_search_and_survive_updates_and_deletions(tagger, tmp_path):
    from encoderkit.models.heads.encoder import Encoder

    model, clf = tagger
    index = Index.create(
        tmp_path / "ix",
        encoder=Encoder.load(model),
        annotators=["classify"],
        annotator_settings={"classify": {"model": str(clf)}},
    )
    r = index.add(DOCS, export_onnx=False)
    assert r.annotated == 3
    hits = {h.doc_id: h for h in index.search("the", mode="dense", k=10)}
    ann = hits["match"].annotations["classify"]
    assert ann["labels"] == ["sports"] and set(ann["scores"]) == {"sports", "politics"}
    assert labels_of(index, ["label=sports"]) == ["goal", "match"]
    assert labels_of(index, ["label=POLITICS"]) == ["vote"]
    # unchanged documents keep their tags and are not classified again; a changed one is re-tagged
    r = index.add([DOCS[0], {**DOCS[2], "text": "Parliament voted on the budget and the new tax law again."}], export_onnx=False)
    assert r.unchanged == 1 and r.updated == 1 and r.annotated == 1
    assert labels_of(index, ["label=sports"]) == ["match"] and labels_of(index, ["label=politics"]) == ["goal", "vote"]
    index.remove(["match"])
    assert labels_of(index, ["label=sports"]) == []
    assert index.stats()["annotations"] == {"classify": 2}


def test_annotator_settings_are_checked(tmp_path, tagger):
    from encoderkit.index.write.annotate import get_annotator

    cls = get_annotator("classify")
    with pytest.raises(EncoderkitError, match="needs a classifier"):
        cls(cls.check_settings({}))
    with pytest.raises(EncoderkitError, match="not a classifier folder"):
        cls(cls.check_settings({"model": str(tmp_path)}))
    a = cls(cls.check_settings({"model": str(tagger[1]), "threshold": "0.99"}))
    assert a.threshold == 0.99 and a.key() != cls(cls.check_settings({"model": str(tagger[1])})).key()


def test_cli_index_classify_and_search_filter(tagger, tmp_path, capsys):
    model, clf = tagger
    folder = tmp_path / "docs"
    for d in DOCS:
        write(folder / f"{d['id']}.txt", f"{d['title']}\n\n{d['text']}")
    code, out, err = run_cli(capsys, "index", folder, "--index", tmp_path / "ix", "--model", model, "--classify", clf, "--json")
    assert code == 0, err
    every = json.loads(run_cli(capsys, "search", "team", "--index", tmp_path / "ix", "--json", "--mode", "dense")[1])["hits"]
    tags = {h["doc_id"]: h["annotations"]["classify"]["labels"] for h in every}
    assert len(tags) == 3 and all(len(v) == 1 for v in tags.values())
    for label in ("sports", "politics"):
        code, out, err = run_cli(
            capsys, "search", "team", "--index", tmp_path / "ix", "--filter", f"label={label}", "--json", "--mode", "dense"
        )
        assert code == 0, err
        assert sorted(h["doc_id"] for h in json.loads(out)["hits"]) == sorted(d for d, v in tags.items() if label in v)
    code, out, _ = run_cli(capsys, "info", "--index", tmp_path / "ix")
    assert code == 0 and "classify" in out
