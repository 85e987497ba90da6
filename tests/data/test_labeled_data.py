"""Labelled-data readers: formats, columns, splits, multi-label, and bad data named by file:line."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA, write
from encoderkit.data.corpora.labelled import check_trainable, read_labeled, sample_per_class, stratified_split
from encoderkit.errors import DataError, EncoderkitError


def test_csv_tsv_jsonl_with_named_columns(tmp_path):
    csv = write(
        tmp_path / "a.csv", 'id,title,body,topic\n1,Cup final,"The striker, again, scored",sports\n2,Budget,Taxes rise,politics\n'
    )
    d = read_labeled(csv, text_col="title,body", label_col="topic")
    assert d.split("all").texts == ["Cup final The striker, again, scored", "Budget Taxes rise"]
    assert d.labels == ["politics", "sports"] and not d.multi_label
    tsv = write(tmp_path / "b.tsv", "sentence\tlabel\nfine day\tpos\nawful day\tneg\n")
    assert read_labeled(tsv).split("all").single == ["pos", "neg"]
    jl = write(
        tmp_path / "c.jsonl",
        json.dumps({"text": "a\u2028b", "label": "x"}) + "\n" + json.dumps({"text": "c", "label": "y"}) + "\n",
    )
    part = read_labeled(jl).split("all")
    assert part.texts == ["a\u2028b", "c"] and part.lines == [1, 2]  # split on \n only


def test_multi_label_from_lists_and_separator(tmp_path):
    jl = write(
        tmp_path / "m.jsonl", '{"text": "a", "labels": ["x", "y"]}\n{"text": "b", "labels": ["y"]}\n{"text": "c", "labels": []}\n'
    )
    d = read_labeled(jl)
    assert d.multi_label and d.split("all").labels == [("x", "y"), ("y",), ()]
    csv = write(tmp_path / "m.csv", "text,label\na,x|y\nb,y\n")
    assert read_labeled(csv, label_sep="|").multi_label
    assert read_labeled(write(tmp_path / "n.csv", 'text,label\na,"x,y"\nb,y\n'), multi_label=True).split("all").labels[0] == (
        "x",
        "y",
    )


def test_split_folder_and_known_formats(tmp_path):
    folder = tmp_path / "sst"
    write(folder / "stsa.binary.train", "1 a fine film\n0 a dull film\n")
    write(folder / "stsa.binary.dev", "1 fine\n")
    write(folder / "stsa.binary.test", "0 dull\n")
    d = read_labeled(folder)
    assert set(d.splits) == {"train", "dev", "test"} and d.labels == ["negative", "positive"] and d.fmt == "sst2"
    trec = tmp_path / "trec"
    write(trec / "TREC.train", "LOC:city Where is Paris ?\nHUM:ind Who wrote Hamlet ?\n")
    write(trec / "TREC.train.all", "4 Where is Paris ?\n")  # numeric variant: ignored
    write(trec / "TREC.test", "NUM:date When was it ?\n")
    t = read_labeled(trec)
    assert t.split("train").single == ["LOC", "HUM"] and t.split("test").single == ["NUM"]
    assert read_labeled(trec, label_level="fine").split("train").single == ["LOC:city", "HUM:ind"]
    ag = tmp_path / "ag"
    write(ag / "classes.txt", "World\nSports\n")
    write(ag / "test.csv", '"2","Cup final","The team won  #36;5 million\\prize"\n"1","Summit","Leaders met"\n')
    a = read_labeled(ag)
    assert a.labels == ["World", "Sports"] and a.split("test").texts[0] == "Cup final. The team won $5 million prize"


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("e.csv", "text,label\nfine,pos\n ,neg\n", "e.csv:3: empty text"),
        ("l.csv", "text,label\nfine,pos\nok,\n", "l.csv:3: no label"),
        ("f.csv", "text,label\nfine,pos,extra\n", "f.csv:2: expected 2 fields"),
        ("j.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n', "j.jsonl:2: invalid JSON"),
        ("k.jsonl", '{"text": "a", "label": "x"}\n{"txt": "b", "label": "y"}\n', "k.jsonl:2: no text column"),
        ("t.txt", "LOC:city Where ?\nnot a trec line\n", "t.txt:2: expected 'COARSE:fine question'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, name, content, message):
    with pytest.raises(DataError) as err:
        read_labeled(write(tmp_path / name, content))
    assert message in str(err.value)


def test_agnews_class_out_of_range(tmp_path):
    write(tmp_path / "classes.txt", "World\nSports\n")
    with pytest.raises(DataError, match=r"test.csv:2: class '7'"):
        read_labeled(write(tmp_path / "test.csv", '"1","a","b"\n"7","c","d"\n'))


def test_trainability_checks(tmp_path):
    folder = tmp_path / "d"
    write(folder / "train.csv", "text,label\na,x\nb,y\n")
    write(folder / "dev.csv", "text,label\nc,x\nd,z\n")
    d = read_labeled(folder)
    with pytest.raises(DataError, match=r"dev.csv:3: label 'z' of the dev split never occurs in training"):
        check_trainable(d.split("train"), {"dev": d.split("dev")}, False)
    one = read_labeled(write(tmp_path / "one.csv", "text,label\na,x\nb,x\n"))
    with pytest.raises(DataError, match="only one class"):
        check_trainable(one.split("all"), {}, False)
    with pytest.raises(EncoderkitError, match="does not exist"):
        read_labeled(tmp_path / "missing.csv")


def test_stratified_and_per_class_sampling():
    labels = [("a",)] * 50 + [("b",)] * 10
    keep, held = stratified_split(labels, 0.1, seed=3)
    assert len(held) == 6 and sorted(keep + held) == list(range(60))
    assert sum(1 for i in held if labels[i] == ("b",)) == 1
    few = sample_per_class(labels, 8, seed=1)
    assert sum(1 for i in few if labels[i] == ("a",)) == 8 and sum(1 for i in few if labels[i] == ("b",)) == 8
    assert few != sample_per_class(labels, 8, seed=2)


def test_shared_data_sets_read_with_their_published_counts():
    if not (SHARED_DATA / "sst2").is_dir():
        pytest.skip("shared data not found")
    sst = read_labeled(SHARED_DATA / "sst2")
    assert {k: len(v) for k, v in sst.splits.items()} == {"train": 6920, "dev": 872, "test": 1821}
    trec = read_labeled(SHARED_DATA / "trec_qc")
    assert len(trec.labels) == 6 and len(trec.split("train")) == 5452 and len(trec.split("test")) == 500
    ag = read_labeled(SHARED_DATA / "ag_news")
    assert ag.labels == ["World", "Sports", "Business", "Sci/Tech"] and len(ag.split("test")) == 7600
