"""The ``encoderkit`` command line: a thin layer over the library API.

Only typer is imported at start-up; each command imports what it needs, so ``encoderkit --help``
stays fast.
"""

from __future__ import annotations

import sys

import typer

from . import colbert_cmd, common, eval_cmd, export_cmd, index_cmd, pretrain_cmd, search_cmd, serve_cmd, train_cmd

app = typer.Typer(
    name="encoderkit",
    help="Embed, search (BM25, dense, hybrid), evaluate and adapt text encoders on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_cmd.register(app)
search_cmd.register(app)
eval_cmd.register(app)
train_cmd.register(app)
export_cmd.register(app)
serve_cmd.register(app)
pretrain_cmd.register(app)
colbert_cmd.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns user errors into one line and exit code 2."""
    common.run_app(app, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
