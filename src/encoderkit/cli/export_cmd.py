"""``encoderkit export onnx``."""

from __future__ import annotations

from typing import Optional

import typer

from .common import console, plain, print_json, quiet_env
from .options import json_option

export_app = typer.Typer(help="Export models for faster CPU serving.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("onnx")
def onnx(
    model: str = typer.Option(
        "default",
        help="Bi-encoder, cross-encoder, classifier, ColBERT, tagger, relation or extraction model (folder, hub id, 'default').",
    ),
    quantize: Optional[str] = typer.Option(None, help="int8: dynamic per-channel int8 weights (faster, ~0.99 cosine) [fp32]."),
    kind: Optional[str] = typer.Option(
        None, help="encoder | cross-encoder | classifier | colbert (default: from the model's folder)."
    ),
    force: bool = typer.Option(False, "--force", help="Export again even if cached."),
    as_json: bool = json_option("Print the export report as JSON."),
):
    """Export a model to ONNX Runtime (cached by weights fingerprint).

    An fp32 export of an index's model makes `encoderkit search` encode queries with ONNX Runtime
    automatically (same vectors, faster, no torch import); int8 exports are used when asked for
    (`--backend onnx-int8`, `--rerank-backend onnx-int8`).
    """
    quiet_env(True)
    import json

    from rich.markup import escape

    from ..models.export import export_onnx

    folder = export_onnx(model, kind=kind, quantize=quantize, force=force)
    info = json.loads((folder / "export.json").read_text())
    if as_json:
        print_json({"folder": str(folder), **info})
        return
    agree = {k: v for k, v in info.items() if k.startswith(("min_cos", "max_abs", "prediction_agreement"))}
    console().print(
        f"exported {info['kind']} {escape(model)} ({info['quantize'] or 'fp32'}) to {escape(str(folder))}"
        + (f"; agreement with torch: {plain(agree)}" if agree else "")
    )
