"""``encoderkit optimize``: merge an index's segments (deleted chunks are dropped for good)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import console, print_json, quiet_env
from .options import json_option, quiet_option
from .safe import shown


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)


def optimize(
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    max_segments: int = typer.Option(1, "--max-segments", min=1, help="Merge into at most this many segments."),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Merge the index's segments into at most --max-segments, dropping deleted chunks for good.

    Searches keep answering from the previous state until the merged one is committed; results do not
    change. An index from before segments is migrated first (nothing is re-encoded)."""
    quiet_env(quiet or as_json)
    from ..index import Index

    with Index.open(index_dir) as idx:
        report = idx.optimize(max_segments)
        fp = idx.footprint()
    if as_json:
        print_json({"index": str(index_dir), **report.to_dict(), "disk_bytes": fp["disk_total"]})
        return
    out = console()
    for m in report.merges:
        what = f"{len(m['merged'])} segments" if len(m["merged"]) > 1 else m["merged"][0]
        dropped = f", {m['deleted_dropped']} deleted chunks dropped" if m["deleted_dropped"] else ""
        out.print(shown(f"merged {what} into {m['into']}: {m['chunks']} chunks{dropped} ({m['seconds']:.1f} s)"))
    if report.migrated:
        out.print("migrated to segments (format 3); nothing re-encoded")
    state = "already optimal" if not report.merges and not report.migrated else "optimized"
    out.print(
        shown(
            f"{state}: {report.segments_before} -> {report.segments_after} segments, {report.chunks} chunks, "
            f"generation {report.generation}, {fp['disk_total'] / 2**20:.1f} MB on disk, {report.seconds:.1f} s"
        )
    )
