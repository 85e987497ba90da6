"""Shared CLI plumbing: error handling, consoles, JSON output."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager


def _click_exceptions() -> tuple[tuple, tuple, tuple]:
    """(usage/click errors, aborts, exits) of both the installed click and the copy typer bundles
    (typer >= 0.26 raises ``typer._click`` exceptions, which are not click's classes)."""
    errors, aborts, exits = [], [], []
    try:
        import click

        errors.append(click.exceptions.ClickException)
        aborts.append(click.exceptions.Abort)
        exits.append(click.exceptions.Exit)
    except ImportError:  # pragma: no cover - typer without click
        pass
    try:
        from typer import _click as tclick

        errors.append(tclick.exceptions.ClickException)
        aborts.append(tclick.exceptions.Abort)
        exits.append(tclick.exceptions.Exit)
    except (ImportError, AttributeError):  # older typer: click itself
        pass
    try:
        import typer.exceptions as texc

        aborts.append(texc.Abort)
        exits.append(texc.Exit)
    except (ImportError, AttributeError):  # pragma: no cover
        pass
    return tuple(errors), tuple(aborts), tuple(exits)


def usage_error(exc) -> tuple[str, int]:
    """The text a usage error prints (usage line + one line naming the problem) and its exit code (2).

    No arguments at all prints the command's help instead."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        return (ctx.get_help() if ctx is not None else str(exc)), 2
    message = " ".join(exc.format_message().split()).rstrip(".")
    code = getattr(exc, "exit_code", 2) or 2
    if ctx is None:
        return f"error: {message}", code
    usage = ctx.get_usage().strip()
    return f"{usage}\nerror: {message}; see '{ctx.command_path} --help'", code


OPTIONAL_VALUE = {"--ray": "local"}  # options whose value may be left out, and what they mean then


def optional_values(argv: list[str]) -> list[str]:
    """Give ``--ray`` its optional address: ``--ray HOST:PORT`` keeps it, a bare ``--ray`` (followed by an
    option, a path or nothing) becomes ``--ray=local``.

    >>> optional_values(["index", "docs", "--ray", "--index", "ix"])
    ['index', 'docs', '--ray=local', '--index', 'ix']
    >>> optional_values(["index", "docs", "--ray", "auto"]), optional_values(["index", "--ray", "docs"])
    (['index', 'docs', '--ray=auto'], ['index', '--ray=local', 'docs'])
    """
    from ..runtime.ray_cluster import is_address

    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in OPTIONAL_VALUE:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and is_address(nxt):
                out.append(f"{arg}={nxt}")
                i += 2
                continue
            out.append(f"{arg}={OPTIONAL_VALUE[arg]}")
        else:
            out.append(arg)
        i += 1
    return out


def run_app(app, argv: list[str]) -> None:
    """Run the typer app: user errors (EncoderkitError) and usage errors become a short message and exit
    code 2, Ctrl-C exit code 130; tracebacks are kept for real bugs only."""
    from ..errors import EncoderkitError

    errors, aborts, exits = _click_exceptions()
    argv = optional_values(list(argv))
    try:
        code = app(args=argv, prog_name="encoderkit", standalone_mode=False)
        # typer turns Ctrl-C into exit code 130 and typer.Exit(n) into n when not standalone
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except EncoderkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(_interrupted_line(argv), file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except errors as exc:
        text, code = usage_error(exc)
        if text:
            print(text, file=sys.stderr)
        sys.exit(code)
    except aborts:
        print(_interrupted_line(argv), file=sys.stderr)
        sys.exit(130)
    except exits as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except BrokenPipeError:  # `encoderkit search ... | head`
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:
        from ..training.loop import TrainingInterrupted  # imported only when something went wrong

        if not isinstance(exc, TrainingInterrupted):
            raise
        print(_interrupted_line(argv, exc), file=sys.stderr)
        sys.exit(130)


def _interrupted_line(argv: list[str], exc: BaseException | None = None) -> str:
    """What Ctrl-C left behind, by command (``exc``: the interrupt; a stopped training run says where)."""
    step, out = getattr(exc, "step", None), getattr(exc, "out", None)
    if step is not None:
        return f"interrupted at step {step}: checkpoint saved in {out}/checkpoint; resume with --resume (the same command)"
    command = next((a for a in argv if not a.startswith("-")), "")
    if command in ("train", "pretrain", "compress"):
        return "interrupted before the first checkpoint: nothing to resume; run the same command again to start over"
    if command == "index":
        return "interrupted: the index keeps its last committed state; run the same command again to resume"
    return "interrupted"


def escape_help(app) -> None:
    """Keep help texts literal: typer renders them as Rich markup, which would swallow "[new index: 256]"
    or "[MASK]". Escapes every command's and option's help once, before the app runs."""
    import inspect

    from rich.markup import escape
    from typer.models import ArgumentInfo, OptionInfo

    if getattr(app, "_help_escaped", False):
        return
    app._help_escaped = True
    for info in app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback) or ""
        info.help = escape(doc)
        for param in inspect.signature(info.callback).parameters.values():
            if isinstance(param.default, (OptionInfo, ArgumentInfo)) and param.default.help:
                param.default.help = escape(param.default.help)
    for group in app.registered_groups:
        escape_help(group.typer_instance)


# commands that run no model: everything else takes --device (the export traces on the CPU for ONNX Runtime)
NO_MODEL_COMMANDS = {"info", "verify", "optimize", "export onnx"}


def add_device_option(app, prefix: str = "") -> None:
    """Give every command that runs a model ``--device auto|cpu|cuda|cuda:N``, set (and checked: a GPU
    asked for where torch sees none is one line) before the command runs, as the process default of
    :mod:`encoderkit.runtime.devices`. One wrapper here instead of a parameter in thirty commands."""
    import functools
    import inspect

    import typer

    for info in app.registered_commands:
        name = prefix + (info.name or info.callback.__name__)
        if name in NO_MODEL_COMMANDS or getattr(info.callback, "_takes_device", False):
            continue
        original = info.callback
        sig = inspect.signature(original)
        option = typer.Option(
            "auto", "--device", help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N."
        )
        param = inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str)
        params = list(sig.parameters.values())
        at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))

        def wrapper(*args, __original=original, device: str = "auto", **kwargs):
            from ..runtime.devices import describe_device, is_cuda, use_device

            resolved = use_device(device)
            if is_cuda(resolved) and not os.environ.get("ENCODERKIT_QUIET"):
                print(f"device: {describe_device(resolved)}", file=sys.stderr)
            return __original(*args, **kwargs)

        functools.update_wrapper(wrapper, original)
        wrapper.__signature__ = sig.replace(parameters=params[:at] + [param] + params[at:])
        wrapper._takes_device = True
        info.callback = wrapper
    for group in app.registered_groups:
        add_device_option(group.typer_instance, prefix + group.name + " ")


def verbose() -> bool:
    """``encoderkit --verbose`` (or ENCODERKIT_VERBOSE=1): let libraries print their own messages."""
    return os.environ.get("ENCODERKIT_VERBOSE", "") not in ("", "0")


def quiet_env(quiet: bool) -> None:
    """Quiet mode: no progress bars. Library chatter (transformers' load reports and progress bars,
    sentence-transformers' "Converting ... to CrossEncoder", their warnings) is silenced unless
    ``--verbose``; encoderkit's own messages and errors are unaffected."""
    if quiet:
        os.environ["ENCODERKIT_QUIET"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbose():
        return
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import logging
    import warnings

    for name in ("transformers", "sentence_transformers", "huggingface_hub", "torch", "onnxruntime", "bm25s", "faiss"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for module in ("transformers", "sentence_transformers", "huggingface_hub", "torch", "onnx", "onnxruntime", "sklearn"):
        warnings.filterwarnings("ignore", module=module)
    if "transformers" in sys.modules:  # already imported: its verbosity was read from the environment then
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def console(stderr: bool = False):
    """A Rich console; output that is not a terminal (a pipe, a file) is not cut to 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    wide = None if _isatty(stream) or os.environ.get("COLUMNS") else 400
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=wide)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plain(value) -> str:
    """A setting as a person reads it: no Python reprs (dicts, lists, None, True).

    >>> plain({"k1": 1.5, "stemmer": None, "lower": True, "fields": ["a", "b"]})
    'fields=a,b, k1=1.5, lower=on, stemmer=none'
    """
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return ",".join(plain(v) for v in value) or "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_json(obj) -> None:
    """JSON on stdout, always valid UTF-8 whatever the data holds (lone surrogates are escaped,
    see encoderkit.data.textsafe) and whatever the locale."""
    from ..data.textsafe import json_safe

    data = json.dumps(json_safe(obj), indent=2, ensure_ascii=False) + "\n"
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data)
        return
    sys.stdout.flush()
    buffer.write(data.encode("utf-8"))
    buffer.flush()


def quiet_libraries() -> None:
    """Silence the warnings and progress bars of the libraries underneath (a server's log is its own)."""
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def print_markdown(text: str) -> None:
    """A Markdown report: rendered by Rich on a terminal; as the Markdown itself into a pipe or a file
    (Rich pads every rendered line to the console width: 400 columns of spaces in a pipe)."""
    if _isatty(sys.stdout):
        from rich.markdown import Markdown

        console().print(Markdown(text))
        return
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def print_results(res: dict, out, plot: str, as_json: bool) -> None:
    """A report written to ``out`` (results.json, results.md, ``plot``): JSON to stdout, or its Markdown."""
    if as_json:
        print_json(res)
        return
    print_markdown((out / "results.md").read_text())
    console().print(f"wrote {out}/results.json, results.md, {plot}")


@contextmanager
def ray_output(active: bool = True, *, quiet: bool = False):
    """While inside (a command using Ray), nothing Ray writes reaches stdout, which stays the command's
    own (JSON is printed after the block): Ray's lines ("(raylet) ...", "core_worker.cc: ...", written by
    its threads and C++ code straight to the file descriptors) go to stderr, or with ``quiet`` to
    ``$ENCODERKIT_CACHE/logs/ray-PID.log``. Ray is left before the block ends (when this command joined it), so its
    threads print nothing afterwards."""
    if not active:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log = None
    try:
        if quiet:
            from ..runtime.onnx import cache_root

            folder = cache_root() / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            log = open(folder / f"ray-{os.getpid()}.log", "ab")
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        else:
            os.dup2(2, 1)
        yield
    finally:
        from ..runtime.ray_cluster import release

        try:
            release()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if log is not None:
                log.close()
