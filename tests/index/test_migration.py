"""Indexes written by earlier versions open and search without a rebuild, and the next update migrates
them in place (format 3: segments) without re-encoding what they hold:

- format 1 (encoderkit 0.1: one embedding column per chunk, dense vectors at the top of the generation
  folder): tests/fixtures/index-v1, written by commit 046564d;
- format 2 (one ``gen-XXXXXX`` folder per commit, bm25s' score matrices, ``dense/vectors.npy``):
  tests/fixtures/index-v2, written by commit 957f4af with tests/fixtures/make_index_v2.py.

Both with the tiny test model of conftest.make_tiny_model (seed 0), documents added, replaced and
removed."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from conftest import REPO, run_cli, write
from encoderkit import Index

FIXTURE = REPO / "tests" / "fixtures" / "index-v1"
FIXTURE_V2 = REPO / "tests" / "fixtures" / "index-v2"


def _copy_fixture(fixture, tmp_path, tiny_model_dir, tiny_encoder):
    expected = json.loads((fixture / "expected.json").read_text())
    assert tiny_encoder.fingerprint == expected["fingerprint"], "the tiny test model changed: regenerate the fixture"
    path = tmp_path / "ix"
    shutil.copytree(fixture, path, ignore=shutil.ignore_patterns("expected.json"))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["model"]["path"] = str(tiny_model_dir)  # the model folder of the machine that wrote it is gone
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path, expected["results"]


@pytest.fixture
def v1_index(tmp_path, tiny_model_dir, tiny_encoder):
    return _copy_fixture(FIXTURE, tmp_path, tiny_model_dir, tiny_encoder)


@pytest.fixture
def v2_index(tmp_path, tiny_model_dir, tiny_encoder):
    return _copy_fixture(FIXTURE_V2, tmp_path, tiny_model_dir, tiny_encoder)


def _results(index):
    return {
        q: [[h.doc_id, round(h.score, 6), h.chunk_id] for h in index.search(q, mode=m, k=5)]
        for q, m in [("why do dogs bark", "bm25"), ("green tea", "dense"), ("owls hunting at night", "hybrid")]
    }


def test_format_1_opens_and_searches_unchanged(v1_index):
    path, expected = v1_index
    index = Index.open(path, readonly=True)
    assert index.manifest["upgraded_from"] == 1 and index.retrievers == ["bm25", "dense"]
    got = _results(index)
    for q in expected:
        assert [d for d, _, _ in got[q]] == [d for d, _, _ in expected[q]], q
        assert [s for _, s, _ in got[q]] == pytest.approx([s for _, s, _ in expected[q]], abs=1e-5)
    assert json.loads((path / "manifest.json").read_text())["format_version"] == 1  # reading writes nothing


def test_cli_index_migrates_in_place_without_re_encoding(v1_index, tmp_path, capsys):
    path, expected = v1_index
    write(tmp_path / "new" / "river.txt", "The Nile flows north through Egypt.")
    code, out, err = run_cli(capsys, "index", tmp_path / "new", "--index", path, "--no-onnx", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["migrated_from"] == 1 and report["added"] == 1 and report["committed"]
    assert report["chunks_encoded"] == 1  # only the new file: the stored vectors were moved, not recomputed
    m = json.loads((path / "manifest.json").read_text())
    assert m["format_version"] == 3 and [r["name"] for r in m["retrievers"]] == ["bm25", "dense"]
    assert "bm25" not in m and "dense" not in m and "artifacts" not in m
    assert (path / m["segments"][0]["name"] / "dense" / "vectors.npy").is_file()
    assert not list(path.glob("gen-*"))  # the old generation folders are gone
    con = sqlite3.connect(path / "index.db")
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    assert "embedding" not in [r[1] for r in con.execute("PRAGMA table_info(chunks)")]
    con.close()
    index = Index.open(path)
    assert len(index) == 5
    got = _results(index)
    assert [d for d, _, _ in got["why do dogs bark"]] == [d for d, _, _ in expected["why do dogs bark"]]
    old_dense = [d for d, _, _ in expected["green tea"]]
    assert [d for d, _, _ in got["green tea"] if d in old_dense] == old_dense  # same vectors, same order
    assert index.search("Nile Egypt", mode="bm25")[0].doc_id.endswith("river.txt")


def test_library_update_migrates_too(v1_index):
    path, _ = v1_index
    index = Index.open(path)
    report = index.add([{"id": "owls", "title": "Owls", "text": "Owls hunt at night."}], export_onnx=False)
    assert report.migrated_from == 1 and report.unchanged == 1 and report.chunks_encoded == 0 and report.committed
    assert index.manifest["format_version"] == 3 and "upgraded_from" not in index.manifest
    assert index.add([{"id": "owls", "title": "Owls", "text": "Owls hunt at night."}]).committed is False


V2_QUERIES = [
    ("why do dogs bark", "bm25"),
    ("green tea", "dense"),
    ("owls hunting at night", "hybrid"),
    ("longest river", "bm25"),
]
TEA = {"id": "tea", "title": "Tea", "text": "Green tea is brewed at a lower temperature than black tea."}


def _v2_results(index):
    return {q: [[h.doc_id, round(h.score, 6)] for h in index.search(q, mode=m, k=5)] for q, m in V2_QUERIES}


def _same(got, expected):
    for q in expected:
        assert [d for d, *_ in got[q]] == [d for d, *_ in expected[q]], q
        assert [s for _, s, *_ in got[q]] == pytest.approx([s for _, s, *_ in expected[q]], abs=1e-5), q


def test_format_2_opens_searches_and_migrates_to_segments(v2_index):
    path, expected = v2_index
    with Index.open(path, readonly=True) as index:  # format 2 as it is: bm25s matrices, the gen folder
        assert index.manifest["format_version"] == 2 and index.manifest["artifacts"] == "gen-000004"
        _same(_v2_results(index), expected)
        assert index.health(full=True).ok
    assert json.loads((path / "manifest.json").read_text())["format_version"] == 2  # reading writes nothing
    index = Index.open(path)
    report = index.add([TEA])
    assert report.migrated_from == 2 and report.unchanged == 1 and report.chunks_encoded == 0 and report.full_build
    m = json.loads((path / "manifest.json").read_text())
    assert m["format_version"] == 3 and len(m["segments"]) == 1 and "artifacts" not in m
    assert not list(path.glob("gen-*")) and (path / m["segments"][0]["name"] / "bm25" / "postings.json").is_file()
    _same(_v2_results(index), expected)  # the same scores from the segment, BM25 scored by hand now
    assert index.health(full=True).ok
    index.remove(["owls"])  # and it is a segmented index like any other
    assert "owls" not in {h.doc_id for h in index.search("owls hunting at night", k=5)}
    assert (
        index.add([{"id": "tea", "title": "Tea", "text": "Green tea is brewed at a lower temperature than black tea."}]).committed
        is False
    )


def test_optimize_migrates_a_format_2_index(v2_index):
    path, expected = v2_index
    with Index.open(path) as index:
        report = index.optimize()
        assert report.migrated and report.segments_after == 1
        _same(_v2_results(index), expected)
