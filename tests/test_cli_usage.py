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
