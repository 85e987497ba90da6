"""The ``encoderkit`` command line: a thin layer over the library API.

Only typer is imported at start-up; each command imports what it needs, so ``encoderkit --help``
stays fast.
"""

from __future__ import annotations

import sys

import typer

from . import (
    classify_cmd,
    cluster_cmd,
    colbert_cmd,
    common,
    compress_cmd,
    eval_cmd,
    export_cmd,
    extract_cmd,
    extract_train_cmd,
    index_cmd,
    link_cmd,
    optimize_cmd,
    pretrain_cmd,
    robustness_cmd,
    search_cmd,
    serve_cmd,
    tradeoff_cmd,
    train_cmd,
    tune_cmd,
    verify_cmd,
)

app = typer.Typer(
    name="encoderkit",
    help="Embed, search (BM25, dense, hybrid), evaluate and adapt text encoders on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show the messages of the libraries underneath (transformers, sentence-transformers)."
    ),
) -> None:
    """Embed, search (BM25, dense, hybrid), evaluate and adapt text encoders on a CPU."""
    if verbose:
        import os

        os.environ["ENCODERKIT_VERBOSE"] = "1"


index_cmd.register(app)
search_cmd.register(app)
eval_cmd.register(app)
train_cmd.register(app)
export_cmd.register(app)
serve_cmd.register(app)
pretrain_cmd.register(app)
verify_cmd.register(app)
optimize_cmd.register(app)
classify_cmd.register(app)
cluster_cmd.register(app)
extract_train_cmd.register(app)
extract_cmd.register(app)
compress_cmd.register(app)
robustness_cmd.register(app)
tradeoff_cmd.register(app)
colbert_cmd.register(app)
tune_cmd.register(app)
link_cmd.register(app)
common.add_device_option(app)
common.escape_help(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns user errors into one line and exit code 2."""
    common.run_app(app, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
