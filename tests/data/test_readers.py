"""Every reader splits records by its format's rule only and names file:line for bad records (#18).

The awkward characters: U+0085 (NEL), U+2028, U+2029 and a lone "\\r" are legal inside JSON strings
and TSV fields; a BOM may open a file; lines may be very long.
"""

import json

import pytest

from conftest import write
from encoderkit.data.corpora.beir import load_beir
from encoderkit.data.corpora.pairs import load_training_data
from encoderkit.data.corpora.sts import read_sts
from encoderkit.data.files.sources import Skipped, SourceDoc, walk
from encoderkit.data.jsonl import lines, parse, read_jsonl
from encoderkit.errors import DataError

ODD = ["\u0085", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
LONG = "word " * 400_000  # a 2 MB line


def _corpus_lines() -> list[dict]:
    docs = [{"_id": f"d{i}", "title": f"T{i}", "text": f"before{c}after number {i}"} for i, c in enumerate(ODD)]
    docs.append({"_id": "long", "title": "", "text": LONG})
    return docs


def _dump(recs, ensure_ascii=False, eol="\n") -> str:
    return "".join(json.dumps(r, ensure_ascii=ensure_ascii) + eol for r in recs)


def test_jsonl_lines_split_on_newline_only():
    text = "\ufeff" + _dump(_corpus_lines(), eol="\r\n")
    got = [(n, parse(line)["_id"]) for n, line in lines(text)]
    assert got == [(i + 1, r["_id"]) for i, r in enumerate(_corpus_lines())]
    assert parse(dict(lines(text))[2])["text"] == "before\u2028after number 1"


def test_lone_carriage_return_as_separator_is_reported():
    text = '{"_id": "a", "text": "x"}\r{"_id": "b", "text": "y"}\n'
    with pytest.raises(DataError, match=r"x.jsonl:1: invalid JSON .*carriage return"):
        list(read_jsonl("x.jsonl", text))


@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_beir_corpus_with_odd_separators_is_read_whole_by_index_and_eval(tmp_path, ensure_ascii):
    root = tmp_path / "beir"
    docs = _corpus_lines()
    write(root / "corpus.jsonl", ("\ufeff" + _dump(docs, ensure_ascii)).encode("utf-8"))
    queries = [{"_id": "q1", "text": f"find{c}this"} for c in ["\u2028"]] + [{"_id": "q2", "text": "long\u0085query"}]
    write(root / "queries.jsonl", _dump(queries, ensure_ascii, eol="\r\n"))
    write(root / "qrels" / "test.tsv", "\ufeffquery-id\tcorpus-id\tscore\r\nq1\td0\t2\r\nq2\tlong\t1\r\n")
    data = load_beir(root)
    assert data.doc_ids == {d["_id"] for d in docs}
    assert data.queries == {"q1": "find\u2028this", "q2": "long\u0085query"}
    assert data.qrels == {"q1": {"d0": 2}, "q2": {"long": 1}}
    items = list(walk([root / "corpus.jsonl"]))
    assert not [s for s in items if isinstance(s, Skipped)]
    got = {d.doc_id: d.text for d in items if isinstance(d, SourceDoc)}
    assert got == {d["_id"]: d["text"] for d in docs}


def test_beir_validation_collects_every_problem_with_counts(tmp_path):
    root = tmp_path / "beir"
    write(
        root / "corpus.jsonl",
        '{"_id": "d1", "text": "one"}\n{oops\n{"_id": "d1", "text": "again"}\n{"_id": "d3", "title": "", "text": " "}\n',
    )
    write(root / "queries.jsonl", '{"_id": "q1", "text": "first"}\n{"_id": "q2", "text": ""}\n')
    write(root / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tdX\t1\nq1\tdY\t1\nqZ\td1\t1\nq1\td1\tx\n")
    with pytest.raises(DataError) as info:
        load_beir(root)
    msg = str(info.value)
    head = msg.splitlines()[0]
    assert "1 invalid JSON" in head and "1 duplicate ids" in head and "1 empty documents" in head
    assert "2 judgements name 2 documents not in corpus.jsonl" in head
    assert "1 judgement name 1 query not in queries.jsonl" in head and "empty queries" in head
    assert "corpus.jsonl:2: invalid JSON" in msg and len(msg.splitlines()) == 6  # summary + the first 5
    data = load_beir(_fixed(root), drop_unknown=True)
    assert data.qrels == {"q1": {"d1": 1}} and "dropped" in data.notes[0]


def _fixed(root):
    write(root / "corpus.jsonl", '{"_id": "d1", "text": "one"}\n')
    write(root / "queries.jsonl", '{"_id": "q1", "text": "first"}\n')
    write(root / "qrels" / "test.tsv", "q1\td1\t1\nq1\tdX\t1\nqZ\td1\t1\n")
    return root


def test_training_pairs_jsonl_keeps_odd_separators(tmp_path):
    recs = [{"query": f"q{c}x", "positive": f"p{c}y", "negatives": [f"n{c}z"]} for c in ODD] + [
        {"query": "long", "positive": LONG}
    ]
    data = load_training_data(write(tmp_path / "pairs.jsonl", "\ufeff" + _dump(recs, eol="\r\n")))
    assert [p.query for p in data.pairs] == [r["query"] for r in recs]
    assert data.pairs[1].negatives == ["n\u2028z"]
    write(tmp_path / "bad.jsonl", _dump(recs[:2]) + '{"query": "q", "positive": 1}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:3: field 'positive'"):
        load_training_data(tmp_path / "bad.jsonl")
    write(tmp_path / "nan.jsonl", '{"text1": "a b", "text2": "c d", "score": NaN}\n')
    with pytest.raises(DataError, match=r"nan.jsonl:1: field 'score'"):
        load_training_data(tmp_path / "nan.jsonl")


STS_ROW = "main-news\theadlines\t2015\t{i:04d}\t{score}\tA sentence{c} number {i} here.\tAnother one {i} there.\n"


def test_sts_b_tsv_keeps_odd_separators_and_counts_rows(tmp_path):
    body = "".join(STS_ROW.format(i=i, score=i % 5, c=c) for i, c in enumerate(ODD * 2))
    body += STS_ROW.format(i=99, score=2.5, c=LONG[:1000])
    pairs = read_sts(write(tmp_path / "sts-test.csv", "\ufeff" + body.replace("\n", "\r\n")))
    assert len(pairs) == 2 * len(ODD) + 1 and pairs.info["rows"] == len(pairs) and pairs.info["format"] == "sts-b"
    assert pairs[1].a == "A sentence\u2028 number 1 here."


def test_sts_validation_names_file_line_and_reason(tmp_path):
    rows = [STS_ROW.format(i=i, score=3, c="") for i in range(12)]
    rows[3] = rows[3].replace("\t3\t", "\t7.5\t")
    rows[5] = rows[5].replace("\t3\t", "\tabc\t")
    rows[8] = rows[8].replace("A sentence number 8 here.", "42")
    with pytest.raises(DataError) as info:
        read_sts(write(tmp_path / "sts-test.csv", "".join(rows)))
    msg = str(info.value)
    assert "sts-test.csv:4: score '7.5' is outside the range 0..5" in msg
    assert "sts-test.csv:6: score 'abc' is not a number" in msg
    assert "sts-test.csv:9: sentence1 is a number ('42')" in msg


SICK_HEADER = (
    "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\tentailment_BA\t"
    "sentence_A_original\tsentence_B_original\tsentence_A_dataset\tsentence_B_dataset\tSemEval_set\n"
)
LABELS = [("NEUTRAL", "A_neutral_B", "B_neutral_A"), ("ENTAILMENT", "A_entails_B", "B_entails_A")]


def _sick_rows(n=24):
    out = []
    for i in range(n):
        label, ab, ba = LABELS[i % 2]
        split = ("TRAIN", "TRIAL", "TEST")[i % 3]
        out.append(
            f"{i + 1}\tA group of kids is playing {i}\tKids are playing outside {i}\t{label}\t{1 + (i % 9) / 2}\t{ab}\t{ba}\t"
            f"orig A\torig B\tFLICKR\tFLICKR\t{split}\n"
        )
    return out


def test_sick_is_read_by_its_header_and_split(tmp_path):
    path = write(tmp_path / "SICK.txt", SICK_HEADER + "".join(_sick_rows()))
    test = read_sts(path, "test")
    assert test.info["format"] == "sick" and test.info["score_range"] == [1.0, 5.0]
    assert len(test) == 8 and test[0].a == "A group of kids is playing 2" and test[0].score == 2.0
    assert len(read_sts(path, "train")) == 8 and len(read_sts(tmp_path, "dev")) == 8
    assert test.info["split"] == "test" and "split_note" not in test.info


def test_sick_without_a_split_column_says_it_scored_the_whole_file(tmp_path, capsys, tiny_model_dir):
    """A SICK file without SemEval_set was scored whole while the report said "split": "test"."""
    from conftest import run_cli

    header = SICK_HEADER.replace("\tSemEval_set", "")
    rows = "".join(r.rsplit("\t", 1)[0] + "\n" for r in _sick_rows())
    path = write(tmp_path / "sick_no_split.txt", header + rows)
    pairs = read_sts(path, "test")
    assert len(pairs) == 24 and pairs.info["split"] is None
    assert pairs.info["split_note"] == "sick_no_split.txt has no split column: all 24 pairs of the file were scored"
    code, out, err = run_cli(capsys, "eval", "sts", path, "--model", tiny_model_dir, "--split", "test")
    assert code == 0 and "has no split column: all 24 pairs" in err and "--split test does not apply" in err
    code, out, err = run_cli(capsys, "eval", "sts", path, "--model", tiny_model_dir, "--json")
    assert code == 0 and json.loads(out)["results"][0]["split"] is None


def test_headerless_sick_like_file_with_label_columns_is_refused(tmp_path):
    path = write(tmp_path / "sts-test.csv", "".join(_sick_rows()))  # no header: columns 5-7 are labels
    with pytest.raises(DataError) as info:
        read_sts(path)
    assert "looks like labels" in str(info.value) and "'A_entails_B'" in str(info.value)


def test_generic_csv_tsv_jsonl_with_named_columns(tmp_path):
    pairs = [(f"first sentence {i}, with a comma", f'second "quoted"\nsentence {i}', i % 6) for i in range(12)]
    csv_text = "s1,s2,gold\n" + "".join(f'"{a}","{b.replace(chr(34), 2 * chr(34))}",{s}\n' for a, b, s in pairs)
    got = read_sts(write(tmp_path / "p.csv", csv_text), columns=["s1", "s2", "gold"], score_range=(0, 5))
    assert [(p.a, p.b, p.score) for p in got] == [(a, b, float(s)) for a, b, s in pairs]
    tsv = "sentence1\tsentence2\tscore\n" + "".join(f"{a}\u2028x\tb {i} c\t{s}\n" for i, (a, _, s) in enumerate(pairs))
    assert len(read_sts(write(tmp_path / "p.tsv", tsv))) == 12
    jl = _dump([{"text1": a, "text2": f"other {i}\u0085here", "score": s} for i, (a, _, s) in enumerate(pairs)])
    assert len(read_sts(write(tmp_path / "p.jsonl", jl), score_range=(0, 5))) == 12
    with pytest.raises(DataError, match=r"p.jsonl \(columns\): 2 problems \(2 scores out of range\)"):
        read_sts(tmp_path / "p.jsonl", score_range=(0, 4))
    with pytest.raises(DataError, match="cannot tell which columns"):
        read_sts(write(tmp_path / "q.tsv", "a\tb\tc\nx y\tz w\t1\n"))
