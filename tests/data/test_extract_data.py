"""Readers of extraction data: words/sentences with offsets, CoNLL schemes, span JSONL, SemEval, annotations."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA, write
from encoderkit.data.corpora.annotations import locate, read_annotations
from encoderkit.data.corpora.conll import (
    detect_scheme,
    doc_from_spans,
    entity_spans,
    load_ner_split,
    read_conll,
    read_span_jsonl,
    repair,
    to_iob2,
)
from encoderkit.data.corpora.semeval import directed, load_relation_split, parse_marked, read_relation_jsonl, read_semeval
from encoderkit.data.words import sentences, split_at, words
from encoderkit.errors import DataError, EncoderkitError

TRICKY = "Zürich’s  naïve\tcafé —\n\nNew\u00a0York   (U.S.) 1996-08-22\r\nδοκιμή 東京 e\u0301t\u00e9 x\u2028y 🙂end."


def test_words_offsets_are_exact_substrings():
    ws = words(TRICKY)
    assert ws and all(TRICKY[s:e] == w for w, (s, e) in ws)
    assert all(not w.isspace() for w, _ in ws)
    covered = "".join(TRICKY[s:e] for _, (s, e) in ws)
    assert covered == "".join(TRICKY.split())  # every visible character is in exactly one word
    assert "U.S." in [w for w, _ in ws] and "1996-08-22" in [w for w, _ in ws]


def test_split_at_makes_boundaries():
    spans = split_at([(0, 10)], [4])
    assert spans == [(0, 4), (4, 10)]


def test_sentences_cover_text_and_skip_abbreviations():
    text = "Mr. Smith went to Washington. He met Dr. Jones at 3 p.m. today!  Then left.\n\nNew paragraph here"
    got = [text[s:e] for s, e in sentences(text)]
    assert got == ["Mr. Smith went to Washington.", "He met Dr. Jones at 3 p.m. today!", "Then left.", "New paragraph here"]


def test_scheme_detection_and_conversion():
    iob1 = [["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]
    assert detect_scheme(iob1) == "iob1"
    assert to_iob2(iob1[0], "iob1") == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "iob2"
    bioes = ["S-PER", "O", "B-ORG", "I-ORG", "E-ORG"]
    assert detect_scheme([bioes]) == "bioes"
    assert to_iob2(bioes, "bioes") == ["B-PER", "O", "B-ORG", "I-ORG", "I-ORG"]
    with pytest.raises(EncoderkitError, match="mix IOB1 and IOB2"):
        detect_scheme([["I-PER", "O", "B-LOC"]])


def test_bio_repair_of_invalid_sequences():
    assert repair(["I-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-PER"]) == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-PER"]
    assert repair(["B-PER", "I-LOC", "I-LOC"]) == ["B-PER", "B-LOC", "I-LOC"]
    assert entity_spans(["O", "I-PER", "I-PER"]) == [("PER", 1, 3)]


def test_read_conll_iob1_and_docs(tmp_path):
    f = write(
        tmp_path / "x.conll",
        "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n-DOCSTART- -X- -X- O\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n",
    )
    docs = read_conll(f)
    assert len(docs) == 2
    assert docs[0].tags == ["B-ORG", "O"] and docs[1].tags == ["B-PER", "I-PER"]
    assert docs[1].source.endswith(":6")
    text, offs = docs[1].as_text()
    assert [text[s:e] for s, e in offs] == docs[1].words


def test_read_conll_declared_scheme_and_errors(tmp_path):
    f = write(tmp_path / "b.conll", "A S-PER\nB O\n\nC B-LOC\nD E-LOC\n")
    assert read_conll(f, scheme="bioes")[0].tags == ["B-PER", "O", "B-LOC", "I-LOC"]
    bad = write(tmp_path / "bad.conll", "A O\nB\n")
    with pytest.raises(DataError, match=r"bad.conll:2"):
        read_conll(bad)
    bad2 = write(tmp_path / "bad2.conll", "A O\nB X-PER\n")
    with pytest.raises(DataError, match=r"bad2.conll:2"):
        read_conll(bad2)


def test_span_jsonl_aligns_words_to_spans(tmp_path):
    text = "Mme  Curie-Skłodowska\nwon in Stockholm."
    rec = {"text": text, "entities": [{"start": 5, "end": 21, "type": "PER"}, {"start": 29, "end": 38, "type": "LOC"}]}
    f = write(tmp_path / "d.jsonl", json.dumps(rec) + "\n" + json.dumps({"text": "x", "entities": [[0, 5, "PER"]]}) + "\n")
    with pytest.raises(DataError, match=r"d.jsonl:2"):
        read_span_jsonl(f)
    doc = doc_from_spans(text, [(5, 21, "PER"), (29, 38, "LOC")])
    ents = entity_spans(doc.tags)
    assert [(t, text[doc.offsets[a][0] : doc.offsets[b - 1][1]]) for t, a, b in ents] == [
        ("PER", "Curie-Skłodowska"),
        ("LOC", "Stockholm"),
    ]
    inner = doc_from_spans("ABCdef", [(0, 3, "ORG")])  # a boundary inside a word splits it
    assert inner.words == ["ABC", "def"] and inner.tags == ["B-ORG", "O"]


def test_parse_marked_keeps_offsets():
    text, e1, e2 = parse_marked("A <e1>bomb</e1> hit the <e2>city  hall</e2>.")
    assert text == "A bomb hit the city  hall." and text[e1[0] : e1[1]] == "bomb" and text[e2[0] : e2[1]] == "city  hall"
    with pytest.raises(ValueError):
        parse_marked("<e2>a</e2> <e1>b</e1>")


def test_semeval_file_and_jsonl(tmp_path):
    f = write(
        tmp_path / "T.TXT",
        '1\t"The <e1>company</e1> makes <e2>chairs</e2>."\nProduct-Producer(e2,e1)\nComment:\n\n'
        '2\t"An <e1>x</e1> and <e2>y</e2>."\nOther\nComment: none\n\n',
    )
    ex = read_semeval(f)
    assert [e.label for e in ex] == ["Product-Producer(e2,e1)", "Other"] and ex[0].id == "1"
    bad = write(tmp_path / "B.TXT", '1\t"The <e1>company</e1> makes chairs."\nOther\n')
    with pytest.raises(DataError, match=r"B.TXT:1"):
        read_semeval(bad)
    j = write(
        tmp_path / "r.jsonl",
        json.dumps(
            {"text": "Acme hired Ann.", "head": {"start": 11, "end": 14}, "tail": {"start": 0, "end": 4}, "label": "works_for"}
        )
        + "\n",
    )
    (r,) = read_relation_jsonl(j)
    assert r.label == "works_for(e2,e1)" and r.e1 == (0, 4) and directed("works_for", True) == "works_for(e1,e2)"


@pytest.mark.integration
def test_real_data_counts():
    conll = SHARED_DATA / "conll2003"
    sem = SHARED_DATA / "semeval2010_task8"
    if not (conll / "eng.testb").is_file() or not (sem / "TEST_FILE_FULL.TXT").is_file():
        pytest.skip("shared data not found")
    docs = load_ner_split(conll, "test")
    assert sum(len(d.sentence_starts) for d in docs) == 3453 and sum(len(entity_spans(d.tags)) for d in docs) == 5648
    test = load_relation_split(sem, "test")
    assert len(test) == 2717 and all("(" in e.label or e.label == "Other" for e in test)


def test_annotations_llm_style_and_errors(tmp_path):
    text = "Dr. Ana Ruiz joined Acme Corp in 2019 as chief\u2028engineer. Ana Ruiz left."
    good = {
        "id": "d1",
        "text": text,
        "entities": [
            {"id": "T1", "type": "PER", "text": "Ana Ruiz", "occurrence": 2},
            {"id": "T2", "type": "ORG", "start": 20, "end": 29},
        ],
        "relations": [{"type": "works_for", "head": "T1", "tail": "T2"}],
        "frames": [{"type": "job", "fields": {"person": "T1", "status": "current", "title": {"text": "chief engineer"}}}],
    }
    f = write(tmp_path / "a.jsonl", json.dumps(good) + "\n")
    (doc,) = read_annotations(f)  # the U+2028 inside the text does not split the line
    assert text[doc.entities[0].start : doc.entities[0].end] == "Ana Ruiz" and doc.entities[0].start > 20
    assert doc.frames[0].fields["title"].span == locate(text, "chief engineer")
    bad_lines = [
        {"text": "abc", "entities": [{"type": "PER", "text": "zzz"}]},
        {"text": "abc", "entities": [{"type": "PER", "start": 0, "end": 2, "text": "bc"}]},
        {
            "text": "abc",
            "entities": [{"type": "PER", "start": 0, "end": 1}],
            "relations": [{"type": "r", "head": "0", "tail": "9"}],
        },
    ]
    for k, rec in enumerate(bad_lines):
        bf = write(tmp_path / f"b{k}.jsonl", "\n" + json.dumps(rec) + "\n")
        with pytest.raises(DataError, match=rf"b{k}.jsonl:2"):
            read_annotations(bf)
