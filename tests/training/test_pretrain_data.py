"""Corpus loading (and its errors), held-out split, sentence splitting, packing and NSP pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write
from encoderkit.errors import DataError, EncoderkitError
from encoderkit.training.pretrain.data import (
    SpecialLayout,
    load_corpus,
    nsp_pairs,
    pack_segments,
    sentence_starts,
    split_holdout,
    tokenize_documents,
)
from support.corpus import english_docs


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_sentence_starts():
    text = "Cells divide. Then, e.g. in vitro, they die! Fig. 2 shows it. Smith et al. Found it?\nNew line"
    parts = [text[a:b].strip() for a, b in zip(sentence_starts(text), sentence_starts(text)[1:] + [len(text)])]
    assert parts == ["Cells divide.", "Then, e.g. in vitro, they die!", "Fig. 2 shows it.", "Smith et al. Found it?", "New line"]


def test_special_layout_bert(tok):
    lay = SpecialLayout.of(tok)
    assert lay.prefix == (101,) and lay.middle == (102,) and lay.suffix == (102,) and lay.single_suffix == (102,)
    assert lay.type_b == 1 and lay.n_single == 2 and lay.n_pair == 3


def test_tokenize_assigns_sentences(tok):
    docs = tokenize_documents(["The cat sat. It purred loudly! Then it slept."], tok)
    d = docs[0]
    sents = [tok.decode(d.ids[a:b].tolist()) for a, b in d.sentences()]
    assert sents == ["the cat sat.", "it purred loudly!", "then it slept."]


def test_pack_segments_keeps_order_and_limits(tok):
    texts = english_docs(20)
    docs = tokenize_documents(texts, tok)
    lay = SpecialLayout.of(tok)
    examples = pack_segments(docs, lay, 32)
    assert all(len(e) <= 32 and e.input_ids[0] == 101 and e.input_ids[-1] == 102 for e in examples)
    assert all(e.special.sum() == 2 and (e.token_type_ids == 0).all() for e in examples)
    for n, d in enumerate(docs):  # every document's tokens appear, in order, exactly once
        content = np.concatenate([e.input_ids[1:-1] for e in examples if e.doc == n])
        assert (content == d.ids).all()
    # sequences start at sentence boundaries (whole sentences), except pieces of over-long sentences
    long_doc = tokenize_documents(["word " * 100], tok)
    pieces = pack_segments(long_doc, lay, 32)
    assert len(pieces) >= 4 and all(len(e) <= 32 for e in pieces)


def test_nsp_pairs_are_balanced_and_correct(tok):
    texts = english_docs(60, seed=1)
    docs = tokenize_documents(texts, tok)
    lay = SpecialLayout.of(tok)
    pairs = nsp_pairs(docs, lay, 48, seed=0)
    labels = np.array([p.nsp_label for p in pairs])
    assert set(labels) == {0, 1} and 0.35 < labels.mean() < 0.65
    for p in pairs:
        assert len(p) <= 48 and p.special.sum() == 3
        sep = np.flatnonzero(p.input_ids == 102)[0]
        a, b = p.input_ids[1:sep], p.input_ids[sep + 1 : -1]
        assert (p.token_type_ids[: sep + 1] == 0).all() and (p.token_type_ids[sep + 1 :] == 1).all()
        d = docs[p.doc].ids
        a_at = _find(d, a)
        assert a_at >= 0
        if p.nsp_label == 0:  # B continues A in the same document
            assert (d[a_at + len(a) : a_at + len(a) + len(b)] == b).all()
    # drawn once: the same seed gives the same pairs
    again = nsp_pairs(docs, lay, 48, seed=0)
    assert all((x.input_ids == y.input_ids).all() for x, y in zip(pairs, again))


def _find(seq, sub):
    for i in range(len(seq) - len(sub) + 1):
        if (seq[i : i + len(sub)] == sub).all():
            return i
    return -1


def test_split_holdout_deterministic_and_disjoint():
    tr, ev = split_holdout(100, 0.1, seed=3)
    tr2, ev2 = split_holdout(100, 0.1, seed=3)
    assert len(ev) == 10 and len(tr) == 90 and not set(tr) & set(ev)
    assert (tr == tr2).all() and (ev == ev2).all()
    assert not (split_holdout(100, 0.1, seed=4)[1] == ev).all()
    with pytest.raises(EncoderkitError):
        split_holdout(1, 0.5, seed=0)


def test_load_corpus_formats(tmp_path):
    write(tmp_path / "a.txt", "First document about rivers and the sea.\nSecond line of it.")
    write(tmp_path / "c.jsonl", json.dumps({"_id": "d1", "title": "Title here", "text": "Body text of the record."}) + "\n")
    c = load_corpus([tmp_path / "a.txt", tmp_path / "c.jsonl"])
    assert len(c) == 2 and c.texts[1] == "Title here\nBody text of the record."
    lines = load_corpus([tmp_path / "a.txt"], line_docs=True, min_chars=5)
    assert lines.texts == ["First document about rivers and the sea.", "Second line of it."]


def test_bad_named_files_are_errors(tmp_path):
    empty = write(tmp_path / "empty.txt", "")
    binary = write(tmp_path / "data.txt", b"abc\x00\x01\x02")
    bad_utf8 = write(tmp_path / "latin.txt", "caf\xe9 au lait".encode("latin-1"))
    for path, reason in ((empty, "empty file"), (binary, "binary file")):
        with pytest.raises(DataError) as err:
            load_corpus([path])
        assert str(path) in str(err.value) and reason in str(err.value)
    text = load_corpus([bad_utf8], min_chars=5).texts  # non-UTF-8 text is decoded by detection (a guess on 12 bytes)
    assert len(text) == 1 and text[0].startswith("caf") and text[0].endswith(" au lait")
    with pytest.raises(DataError, match="does not exist"):
        load_corpus([tmp_path / "missing.txt"])


def test_folder_with_nothing_usable(tmp_path):
    folder = tmp_path / "docs"
    write(folder / "empty.md", "   \n")
    write(folder / "blob.txt", b"\x00\x00\x00")
    write(folder / "tiny.txt", "short")
    write(folder / "image.png", b"\x89PNG")
    with pytest.raises(EncoderkitError) as err:
        load_corpus([folder])
    msg = str(err.value)
    assert "no usable pretraining text" in msg and str(folder) in msg
    assert "empty file" in msg and "binary file" in msg and "shorter than" in msg
    write(folder / "good.txt", "A real document with enough words in it to count.")
    c = load_corpus([folder])
    assert len(c) == 1 and len(c.skipped) == 4
    with pytest.raises(EncoderkitError, match="no corpus"):
        load_corpus([])
