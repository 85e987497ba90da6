"""HTTP API over an index: a thin FastAPI layer on the library, one router per capability.

    encoderkit serve --index my-index [--rerank runs/reranker] [--allow-writes] [--port 8000]

Routers: :mod:`.routers.health` (``GET /health``, ``GET /info``), :mod:`.routers.search`
(``POST /search``), :mod:`.routers.embed` (``POST /encode``) and, with ``--allow-writes``,
:mod:`.routers.documents` (``POST /documents``, ``POST /documents/delete``). Requests are validated
(bad input is a 422 naming the field); an index error is a 400 with the same one-line message as the
CLI. One lock serialises access to the index (SQLite connection and model).

>>> from fastapi.testclient import TestClient                      # doctest: +SKIP
>>> client = TestClient(create_app("my-index"))                      # doctest: +SKIP
>>> client.post("/search", json={"query": "key rotation", "k": 3}).json()["hits"][0]["doc_id"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..errors import EncoderkitError
from .state import ServerState


def create_app(
    index_dir: str | Path,
    *,
    backend: str = "auto",
    reranker: str | None = None,
    rerank_backend: str = "torch",
    allow_writes: bool = False,
):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from .routers import documents, embed, health, search

    state = ServerState.open(
        index_dir, backend=backend, reranker=reranker, rerank_backend=rerank_backend, allow_writes=allow_writes
    )
    app = FastAPI(
        title="encoderkit",
        version=__version__,
        description="Search (BM25, dense, hybrid, reranked) and embeddings over one index.",
    )
    app.state.ek = state

    @app.exception_handler(EncoderkitError)
    def _user_error(request, exc: EncoderkitError):
        return JSONResponse(status_code=400, content={"error": str(exc)})

    app.include_router(health.router(state))
    app.include_router(search.router(state))
    app.include_router(embed.router(state))
    if allow_writes:
        app.include_router(documents.router(state))
    return app
