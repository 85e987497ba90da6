"""Shared CLI plumbing: error handling, consoles, JSON output."""

from __future__ import annotations

import json
import os
import sys


def run_app(app, argv: list[str]) -> None:
    from ..errors import EncoderkitError

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
        print("interrupted: the index keeps its last committed state; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise


def quiet_env(quiet: bool) -> None:
    """Quiet mode: no progress bars and no library chatter."""
    if quiet:
        os.environ["ENCODERKIT_QUIET"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
