"""An index written by encoderkit 0.1 (format 1: one embedding column per chunk, dense vectors at the top
of the generation folder) opens and searches without a rebuild, and the next update migrates it in
place without re-encoding what it holds.

The fixture under tests/fixtures/index-v1 was written by the 0.1 code (commit 046564d) with the tiny
test model of conftest.make_tiny_model (seed 0), documents added, replaced and removed."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from conftest import REPO, run_cli, write
from encoderkit import Index

FIXTURE = REPO / "tests" / "fixtures" / "index-v1"


@pytest.fixture
def v1_index(tmp_path, tiny_model_dir, tiny_encoder):
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert tiny_encoder.fingerprint == expected["fingerprint"], "the tiny test model changed: regenerate the fixture"
    path = tmp_path / "ix"
    shutil.copytree(FIXTURE, path, ignore=shutil.ignore_patterns("expected.json"))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["model"]["path"] = str(tiny_model_dir)  # the model folder of the machine that wrote it is gone
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path, expected["results"]


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
    assert m["format_version"] == 2 and [r["name"] for r in m["retrievers"]] == ["bm25", "dense"]
    assert "bm25" not in m and "dense" not in m
    assert (path / m["artifacts"] / "dense" / "vectors.npy").is_file()
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
    assert index.manifest["format_version"] == 2 and "upgraded_from" not in index.manifest
    assert index.add([{"id": "owls", "title": "Owls", "text": "Owls hunt at night."}]).committed is False
