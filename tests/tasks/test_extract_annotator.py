"""The "entities" index-time annotator (`encoderkit index --extract TAGGER`) and `search --entity TYPE:value`."""

from __future__ import annotations

import json

from conftest import run_cli, write
from encoderkit.data.corpora.conll import TaggedDoc
from encoderkit.training.loop import TrainConfig


def _tagger(tmp_path, tiny_model_dir):
    from encoderkit.training.tagging import train_tagger

    docs = [TaggedDoc(["Merkel", "met", "Macron", "in", "Paris", "."], ["B-PER", "O", "B-PER", "O", "B-LOC", "O"])] * 8
    train_tagger(
        docs,
        docs[:2],
        tmp_path / "ner",
        model=str(tiny_model_dir),
        max_length=32,
        stride=8,
        train_config=TrainConfig(max_steps=3, batch_size=4, lr=1e-3),
        show_progress=False,
    )
    return tmp_path / "ner"


def test_index_extract_and_search_entity(tmp_path, capsys, tiny_model_dir):
    ner = _tagger(tmp_path, tiny_model_dir)
    write(tmp_path / "docs" / "a.txt", "Angela Merkel met Emmanuel Macron in Paris on Tuesday.")
    write(tmp_path / "docs" / "b.txt", "Granite is an igneous rock found in Scotland.")
    ix = tmp_path / "ix"
    code, out, err = run_cli(
        capsys,
        "index",
        tmp_path / "docs",
        "--index",
        ix,
        "--model",
        tiny_model_dir,
        "--extract",
        ner,
        "--annotator-setting",
        "entities.min_confidence=0",
        "--no-onnx",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["annotated"] == 2
    code, out, err = run_cli(capsys, "search", "Merkel Paris rock", "--index", ix, "--mode", "bm25", "--json")
    assert code == 0, err
    hits = {h["doc_id"].rsplit("/", 1)[-1]: h for h in json.loads(out)["hits"]}
    ents = hits["a.txt"]["annotations"]["entities"]["entities"]
    text = (tmp_path / "docs" / "a.txt").read_text()
    assert ents and all(text[e["start"] : e["end"]] == e["text"] for e in ents)
    e = ents[0]
    value = f"{e['type']}:{e['text']}"
    code, out, err = run_cli(
        capsys, "search", "Merkel Paris rock", "--index", ix, "--mode", "bm25", "--entity", value.upper(), "--json"
    )
    assert code == 0, err
    assert [h["doc_id"].rsplit("/", 1)[-1] for h in json.loads(out)["hits"]] == ["a.txt"]
    code, out, _ = run_cli(
        capsys, "search", "Merkel Paris rock", "--index", ix, "--mode", "bm25", "--filter", f"entity={value}", "--json"
    )
    assert [h["doc_id"].rsplit("/", 1)[-1] for h in json.loads(out)["hits"]] == ["a.txt"]
    code, out, _ = run_cli(capsys, "search", "rock", "--index", ix, "--mode", "bm25", "--entity", "PER:nobody at all", "--json")
    assert json.loads(out)["hits"] == []
    code, _, err = run_cli(capsys, "search", "rock", "--index", ix, "--entity", "nocolon")
    assert code == 2 and "TYPE:value" in err
