"""``encoderkit pretrain mlm|rtd`` and ``encoderkit fill-mask`` (issue 5; filled in by its implementation)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the pretraining commands to the top-level app."""
