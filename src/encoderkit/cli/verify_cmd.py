"""``encoderkit verify``: check an index fully (every artifact's checksum, the store against the
artifacts) and say in one line what to do if anything is damaged."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import console, print_json
from .options import json_option
from .safe import shown


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    as_json: bool = json_option("Print the result as JSON."),
):
    """Check an index (every shard of a sharded one) for damage: checksums of every search file, shapes,
    counts and finite values, and the SQLite store against them. Exit code 0 when healthy, 1 when damaged."""
    from ..index.dispatch import open_index
    from ..index.storage.integrity import repair_hint

    with open_index(index_dir, readonly=True) as idx:  # a sharded index: every shard
        health = idx.health(full=True)
    if as_json:
        print_json({"index": str(index_dir), **health.to_dict()})
    else:
        out = console()
        state = "healthy" if health.ok else f"DAMAGED ({len(health.problems)} problem{'s' * (len(health.problems) > 1)})"
        out.print(shown(f"{index_dir}: generation {health.generation}, {health.checked_files} files checked, {state}"))
        for p in health.problems:
            out.print(shown(f"  - {p}"))
        for n in health.notes:
            out.print(shown(f"  note: {n}"))
        if not health.ok:
            out.print(shown(f"to fix: {repair_hint(index_dir)}"))
    if not health.ok:
        raise typer.Exit(1)
