import pytest

from conftest import write
from encoderkit.data.corpora.beir import load_beir
from encoderkit.errors import DataError, EncoderkitError


def _beir(root, corpus=None, queries=None, qrels=None):
    write(
        root / "corpus.jsonl",
        corpus
        if corpus is not None
        else '{"_id": "d1", "title": "", "text": "one"}\n{"_id": "d2", "title": "T", "text": "two"}\n',
    )
    write(
        root / "queries.jsonl",
        queries
        if queries is not None
        else '{"_id": "q1", "text": "first"}\n{"_id": "q2", "text": "second"}\n{"_id": "q3", "text": "unjudged"}\n',
    )
    write(
        root / "qrels" / "test.tsv",
        qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\nq2\td1\t0\n",
    )
    return root


def test_loads_graded_qrels_and_counts_unjudged(tmp_path):
    data = load_beir(_beir(tmp_path))
    assert data.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1, "d1": 0}}
    assert sorted(data.queries) == ["q1", "q2"] and data.skipped_queries == 1
    assert data.doc_ids == {"d1", "d2"}
    sub = data.subset(1)
    assert sub.subset(1).queries == sub.queries and len(sub.queries) == 1  # deterministic


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing_corpus", "corpus.jsonl: file not found"),
        ("bad_json", "corpus.jsonl:2: invalid JSON"),
        ("no_id", "queries.jsonl:1: record lacks _id/text"),
        ("unknown_query", "test.tsv:2: query id 'qX' is not in queries.jsonl"),
        ("unknown_doc", "test.tsv:3: document id 'dX' is not in corpus.jsonl"),
        ("bad_fields", "test.tsv:2: expected 3 tab-separated fields"),
        ("missing_split", "qrels/dev.tsv: file not found"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, kind, needle):
    root = tmp_path / "beir"
    split = "test"
    if kind == "missing_corpus":
        _beir(root)
        (root / "corpus.jsonl").unlink()
    elif kind == "bad_json":
        _beir(root, corpus='{"_id": "d1", "text": "x"}\n{oops\n')
    elif kind == "no_id":
        _beir(root, queries='{"text": "no id"}\n')
    elif kind == "unknown_query":
        _beir(root, qrels="query-id\tcorpus-id\tscore\nqX\td1\t1\n")
    elif kind == "unknown_doc":
        _beir(root, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tdX\t1\n")
    elif kind == "bad_fields":
        _beir(root, qrels="query-id\tcorpus-id\tscore\nq1 d1 1\n")
    else:
        _beir(root)
        split = "dev"
    with pytest.raises(DataError) as info:
        load_beir(root, split)
    assert needle in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(EncoderkitError, match="does not exist"):
        load_beir(tmp_path / "nope")
