import json
import subprocess
import sys

import pytest

from conftest import run_cli, write

cli = run_cli


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "docs"
    write(src / "rivers.md", "# Rivers\n\nThe Nile is the longest river in Africa.\n\n## Deltas\n\nDeltas form at river mouths.")
    write(src / "space.txt", "The Moon orbits the Earth every 27 days and causes tides.")
    write(src / "cooking.html", "<title>Bread</title><p>Knead the dough and let the yeast rise for an hour.</p>")
    write(src / "notes.pdf", b"%PDF-1.4 binary")
    write(src / "bad.txt", b"\xff\xfe\x00\x00")
    return src


def test_index_search_roundtrip(capsys, tmp_path, corpus, tiny_model_dir):
    ix = tmp_path / "ix"
    code, out, err = cli(capsys, "index", corpus, "--index", ix, "--model", tiny_model_dir, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["added"] == 3 and report["totals"]["documents"] == 3
    assert report["skipped_by_reason"] == {"damaged PDF": 1, "empty file": 1}  # pdfs are read now; a UTF-32 BOM alone
    code, out, _ = cli(capsys, "search", "longest river", "--index", ix, "--mode", "bm25", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and hits[0]["path"].endswith("rivers.md") and "Nile" in hits[0]["snippet"]
    assert {"doc_id", "chunk_id", "score", "stages"} <= set(hits[0])
    code, out, _ = cli(capsys, "search", "yeast dough", "--index", ix, "--explain", "-k", "2")
    assert code == 0 and "cooking.html" in out and "bm25: rank 1" in out and "dense: rank" in out
    code, out, _ = cli(capsys, "search", "tides", "--index", ix, "--chunks", "--json", "--mode", "hybrid")
    assert json.loads(out)["hits"][0]["path"].endswith("space.txt")
    # second run: nothing to do
    code, out, _ = cli(capsys, "index", corpus, "--index", ix, "--json")
    assert json.loads(out)["unchanged"] == 3 and json.loads(out)["chunks_encoded"] == 0
    code, out, _ = cli(capsys, "index", corpus, "--index", ix)
    assert "up to date" in out
    code, out, _ = cli(capsys, "info", "--index", ix)
    assert code == 0 and "3 documents" in out and "tiny-bert" in out


def test_settings_change_needs_rebuild(capsys, tmp_path, corpus, tiny_model_dir):
    ix = tmp_path / "ix"
    cli(capsys, "index", corpus, "--index", ix, "--model", tiny_model_dir, "-q")
    code, _, err = cli(capsys, "index", corpus, "--index", ix, "--chunk-size", "64")
    assert code == 2 and "--rebuild" in err
    code, out, err = cli(capsys, "index", corpus, "--index", ix, "--chunk-size", "64", "--rebuild", "--json")
    assert code == 0 and json.loads(out)["chunks_encoded"] >= 3
    code, out, _ = cli(capsys, "index", corpus, "--index", ix, "--k1", "1.2", "--json")
    assert code == 0 and json.loads(out)["committed"] is True  # BM25 settings apply without re-encoding
    retrievers = {r["name"]: r["settings"] for r in json.loads((ix / "manifest.json").read_text())["retrievers"]}
    assert retrievers["bm25"]["k1"] == 1.2


def test_user_errors_are_one_line_and_exit_2(capsys, tmp_path, tiny_model_dir):
    code, _, err = cli(capsys, "search", "x", "--index", tmp_path / "missing")
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = cli(capsys, "index", tmp_path, "--index", tmp_path / "ix", "--model", tmp_path / "no-model")
    assert code == 2 and "does not exist" in err
    code, _, err = cli(capsys, "search", "x", "--index", tmp_path / "missing", "--mode", "nope")
    assert code == 2


def test_search_model_mismatch(capsys, tmp_path, corpus, tiny_model_dir):
    from conftest import make_tiny_model

    ix = tmp_path / "ix"
    cli(capsys, "index", corpus, "--index", ix, "--model", tiny_model_dir, "-q")
    other = make_tiny_model(tmp_path / "other", seed=5)
    code, _, err = cli(capsys, "search", "river", "--index", ix, "--model", other)
    assert code == 2 and "does not match index" in err


def test_help_does_not_import_torch():
    code = (
        "import sys; from encoderkit.cli import app; import typer.testing as t; "
        "r = t.CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules; print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "ok", res.stderr
