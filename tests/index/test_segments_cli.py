"""The segmented index from the command line: updates add segments, `info` reports memory and disk per
component, `optimize` merges without changing results, dense kind / vector options are recorded, bad
values are one-line errors."""

from __future__ import annotations

import json

from conftest import run_cli


def _write(folder, start, n, tag):
    folder.mkdir(exist_ok=True)
    for i in range(start, start + n):
        (folder / f"doc{i:03d}.txt").write_text(
            f"document {i} about {tag}. " + " ".join(f"word{(i * j) % 17}" for j in range(30))
        )


def test_updates_info_optimize_and_vector_options(tmp_path, tiny_model_dir, capsys):
    src, ix = tmp_path / "docs", tmp_path / "ix"
    _write(src, 0, 8, "rivers")
    base = ["index", src, "--index", ix, "--no-onnx", "--quiet"]
    code, out, err = run_cli(capsys, *base, "--model", tiny_model_dir, "--no-auto-merge")
    assert code == 0, err
    for start, tag in ((8, "storms"), (12, "glaciers")):
        _write(src, start, 4, tag)
        assert run_cli(capsys, *base)[0] == 0
    (src / "doc003.txt").unlink()  # a deletion: a marker, no rewrite
    code, out, err = run_cli(capsys, *base, "--json")
    report = json.loads(out)
    assert code == 0 and report["removed"] == 1 and report["segments"] == 3
    code, out, err = run_cli(capsys, "info", "--index", ix)
    assert code == 0 and "disk and memory" in out and "3 segments" in out
    before = run_cli(capsys, "search", "storms glaciers", "--index", ix, "--json", "-k", "10")[1]
    code, out, err = run_cli(capsys, "optimize", "--index", ix)
    assert code == 0 and "optimized: 3 -> 1 segments" in out and "1 deleted chunks dropped" in out
    after = run_cli(capsys, "search", "storms glaciers", "--index", ix, "--json", "-k", "10")[1]
    hits = [[(h["doc_id"], round(h["score"], 6)) for h in json.loads(x)["hits"]] for x in (before, after)]
    assert hits[0] and hits[0] == hits[1]
    code, out, err = run_cli(capsys, "optimize", "--index", ix, "--json")
    assert code == 0 and json.loads(out)["merges"] == [] and json.loads(out)["segments_after"] == 1
    code, out, err = run_cli(capsys, *base, "--vectors", "binary", "--rescore", "float", "--dense", "hnsw")
    assert code == 0, err
    dense = next(r for r in json.loads((ix / "manifest.json").read_text())["retrievers"] if r["name"] == "dense")
    assert dense["settings"]["quantization"] == "binary" and dense["settings"]["kind"] == "hnsw"
    assert run_cli(capsys, "search", "storms", "--index", ix, "--mode", "dense")[0] == 0
    code, out, err = run_cli(capsys, *base, "--vectors", "int4")
    assert code != 0 and "int4" in err and err.strip().count("\n") <= 1
