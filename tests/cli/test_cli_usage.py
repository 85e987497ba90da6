"""Every command answers usage mistakes with the usage line and one error line, exit code 2, never a
traceback (#17); every option has help text that Rich does not eat."""

import inspect
import re

import pytest

from conftest import run_cli


def _commands():
    from typer.models import ArgumentInfo, OptionInfo

    from encoderkit.cli import app

    def walk(t, prefix):
        for c in t.registered_commands:
            yield prefix + [c.name or c.callback.__name__], c.callback
        for g in t.registered_groups:
            yield from walk(g.typer_instance, prefix + [g.name])

    out = []
    for path, cb in walk(app, []):
        params = [
            (name, p.default, p.annotation)
            for name, p in inspect.signature(cb).parameters.items()
            if isinstance(p.default, (OptionInfo, ArgumentInfo))
        ]
        out.append((path, params))
    return out


COMMANDS = _commands()
IDS = [" ".join(p) for p, _ in COMMANDS]


def _usage_error(code, out, err, needle):
    assert code == 2, (code, out, err)
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert lines[0].startswith("Usage: encoderkit"), err
    assert len(lines) == 2 and lines[1].startswith("error: ") and needle in lines[1], err


def test_every_command_is_covered():
    assert len(COMMANDS) >= 13 and ["search"] in [p for p, _ in COMMANDS] and ["eval", "retrieval"] in [p for p, _ in COMMANDS]


@pytest.mark.parametrize("path,params", COMMANDS, ids=IDS)
def test_no_arguments(capsys, path, params):
    required = [n for n, d, _ in params if d.default is ...]
    if not required:  # `export onnx` runs with defaults: nothing is missing
        pytest.skip("no required parameter")
    code, out, err = run_cli(capsys, *path)
    _usage_error(code, out, err, "Missing")


@pytest.mark.parametrize("path,params", COMMANDS, ids=IDS)
def test_unknown_option(capsys, path, params):
    code, out, err = run_cli(capsys, *path, "--bogus")
    _usage_error(code, out, err, "No such option: --bogus")


@pytest.mark.parametrize("path,params", COMMANDS, ids=IDS)
def test_bad_value(capsys, path, params):
    from typer.models import OptionInfo

    numeric = [(d, a) for n, d, a in params if isinstance(d, OptionInfo) and re.search(r"\b(int|float)\b", str(a))]
    if not numeric:
        pytest.skip("no numeric option")
    for info, _ in numeric:
        flag = next(d for d in info.param_decls if d.startswith("-")) if info.param_decls else None
        if flag is None:
            continue
        code, out, err = run_cli(capsys, *path, flag, "abc")
        _usage_error(code, out, err, "Invalid value for")
        if getattr(info, "min", None) is not None:  # out of range, e.g. -k -3 or -k 0
            code, out, err = run_cli(capsys, *path, flag, str(info.min - 1))
            _usage_error(code, out, err, "Invalid value for")


def test_top_level_mistakes(capsys):
    code, out, err = run_cli(capsys)
    assert code == 2 and "Usage: encoderkit" in out + err and "Traceback" not in out + err
    _usage_error(*run_cli(capsys, "nocommand"), "No such command 'nocommand'")
    _usage_error(*run_cli(capsys, "search", "q"), "Missing option '--index'")
    _usage_error(*run_cli(capsys, "search", "q", "--index", "x", "-k", "-3"), "Invalid value for '-k'")
    _usage_error(*run_cli(capsys, "search", "q", "--index", "x", "-k", "0"), "Invalid value for '-k'")


@pytest.mark.parametrize("path,params", COMMANDS, ids=IDS)
def test_help_shows_every_option_with_its_text(capsys, monkeypatch, path, params):
    import typer.rich_utils

    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 1000)
    code, out, err = run_cli(capsys, *path, "--help")
    assert code == 0, err
    text = " ".join(out.replace("│", " ").split())
    for name, info, _ in params:
        raw = info.help.replace("\\[", "[")  # the help as written (escape_help only adds backslashes)
        assert " ".join(raw.split()) in text, (name, raw)


@pytest.fixture
def docs(tmp_path):
    from conftest import write

    write(tmp_path / "docs" / "a.md", "# Rivers\n\nThe Nile is the longest river in Africa.\n")
    return tmp_path / "docs"


def test_missing_paths_are_errors_unless_allowed(capsys, tmp_path, docs, tiny_model_dir):
    ix = tmp_path / "ix"
    code, _, err = run_cli(capsys, "index", tmp_path / "no-such-folder", docs, "--index", ix, "--model", tiny_model_dir)
    assert code == 2 and err.count("\n") == 1 and "path does not exist" in err and "no-such-folder" in err
    assert not ix.exists()  # nothing was created
    code, out, err = run_cli(
        capsys, "index", tmp_path / "no-such-folder", docs, "--index", ix, "--model", tiny_model_dir, "--allow-missing", "--json"
    )
    assert code == 0 and '"added": 1' in out
    code, _, err = run_cli(capsys, "index", docs, "--index", ix, "--dense", "annoy")  # existing index: a clean error
    assert code == 2 and err.count("\n") == 1 and "unknown dense index kind 'annoy'" in err
    code, out, _ = run_cli(capsys, "info", "--index", ix)
    assert code == 0 and not re.search(r"[{}]|None|True|False", out) and "lower=on" in out and "titles auto" in out


def test_missing_model_folder_and_fill_mask_without_mask(capsys, tmp_path, docs):
    (tmp_path / "runs").mkdir()
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _, err = run_cli(capsys, "index", docs, "--index", tmp_path / "ix", "--model", "runs/reranker")
    finally:
        os.chdir(cwd)
    assert code == 2 and "model folder 'runs/reranker' does not exist" in err and "hub" not in err
    code, _, err = run_cli(capsys, "fill-mask", "no mask in here", "--model", tmp_path / "nothing-here")
    assert code == 2 and "has no [MASK]" in err  # said before any model is looked for


def test_library_chatter_is_silenced_unless_verbose(monkeypatch):
    import logging

    from encoderkit.cli.common import quiet_env

    monkeypatch.delenv("ENCODERKIT_VERBOSE", raising=False)
    for name in ("sentence_transformers", "transformers"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    quiet_env(False)
    assert logging.getLogger("sentence_transformers").getEffectiveLevel() >= logging.ERROR
    assert logging.getLogger("transformers").getEffectiveLevel() >= logging.ERROR
    monkeypatch.setattr(logging.getLogger("sentence_transformers"), "level", logging.NOTSET)
    monkeypatch.setenv("ENCODERKIT_VERBOSE", "1")
    quiet_env(False)
    assert logging.getLogger("sentence_transformers").level == logging.NOTSET


def test_converting_to_cross_encoder_message_is_gone(tmp_path, tiny_model_dir):
    """`train rerank` from a bi-encoder: sentence-transformers says "Converting ... to CrossEncoder"."""
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO, write

    root = tmp_path / "beir"
    write(
        root / "corpus.jsonl",
        "".join(json.dumps({"_id": f"d{i}", "text": f"text number {i} on topic {i}"}) + "\n" for i in range(30)),
    )
    write(root / "queries.jsonl", "".join(json.dumps({"_id": f"q{i}", "text": f"topic {i}"}) + "\n" for i in range(10)))
    write(root / "qrels" / "train.tsv", "".join(f"q{i}\td{i}\t1\n" for i in range(10)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ENCODERKIT_THREADS": "1"}
    env.pop("ENCODERKIT_VERBOSE", None)
    args = [sys.executable, "-m", "encoderkit", "train", "rerank", "--data", str(root), "--model", str(tiny_model_dir)]
    args += ["--out", str(tmp_path / "ce"), "--max-steps", "1", "--negatives", "1", "--hard-negatives", "bm25", "-q"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Converting" not in done.stderr and "LOAD REPORT" not in done.stdout + done.stderr, done.stderr


def test_tables_are_not_cut_at_80_columns_in_a_pipe(capsys):
    from rich.table import Table

    from encoderkit.cli.common import console

    t = Table("reason", "example")
    t.add_row("unsupported type .xyz", "/a/very/long/path/" + "x" * 150 + ".xyz")
    console().print(t)
    assert "x" * 150 in capsys.readouterr().out
