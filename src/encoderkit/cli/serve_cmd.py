"""``encoderkit serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import quiet_env


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder to serve."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port."),
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Cross-encoder for requests with rerank=true."),
    rerank_backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    backend: str = typer.Option("auto", help="Query encoding: auto | torch | onnx | onnx-int8."),
    allow_writes: bool = typer.Option(False, "--allow-writes", help="Enable POST /documents and /documents/delete."),
):
    """Serve an index over HTTP (FastAPI): /search, /encode, /info, /health."""
    quiet_env(True)
    import uvicorn

    from ..server.app import create_app

    uvicorn.run(
        create_app(index_dir, backend=backend, reranker=rerank, rerank_backend=rerank_backend, allow_writes=allow_writes),
        host=host,
        port=port,
        log_level="info",
    )
