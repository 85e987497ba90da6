"""HTTP API over an index: a thin FastAPI layer on the library, one router per capability.

    encoderkit serve --index my-index [--rerank M] [--classify M] [--extract M] [--api-key-file F]

Routers (``routers/``): ``embeddings`` (``POST /v1/embeddings``, ``GET /v1/models``, older ``/encode``),
``rerank`` (``/v1/rerank``, ``/v2/rerank``, ``/rerank``), ``search`` (``/v1/search``, older
``/search``), ``context`` (``/v1/context``), ``documents`` (``GET /v1/documents/{id}``; writes with
``--allow-writes``), ``classify`` / ``extract`` (with those models), ``health`` (``/health``,
``/v1/info``, ``/metrics``) and ``web`` (the search page at ``/``, ``/docs``, ``/redoc``). In front of
them :class:`~encoderkit.server.guard.Guard` applies the host list, API keys, limits and timeout; every
error has one JSON shape (:mod:`.errors`). See docs/serving.md.

>>> from fastapi.testclient import TestClient                                           # doctest: +SKIP
>>> client = TestClient(create_app("my-index"), base_url="http://localhost")             # doctest: +SKIP
>>> client.post("/v1/search", json={"query": "key rotation", "k": 3}).json()["hits"][0]["doc_id"]  # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from .. import __version__
from .config import ServerConfig
from .state import ServerState


def create_app(index: str | Path | ServerState, config: ServerConfig | None = None, **overrides):
    """The ASGI app for an index folder (or an already opened :class:`ServerState`). ``overrides``:
    fields of :class:`ServerConfig` (``allow_writes=True``, ``api_keys=(...)``, ``reranker=...``)."""
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from ..errors import EncoderkitError
    from .batcher import Overloaded
    from .guard import Guard
    from .http_errors import error_response, install_handlers, json_response_class
    from .routers import classify, context, documents, embeddings, extract, health, rerank, search, web
    from .routers.shared import ApiError

    if isinstance(index, ServerState):
        state = index
    else:
        config = replace(config or ServerConfig(), **overrides)
        state = ServerState.open(index, config)
    config = state.config

    @asynccontextmanager
    async def lifespan(app):
        yield
        state.close()

    app = FastAPI(
        title="encoderkit",
        version=__version__,
        description="Embeddings (OpenAI-compatible), reranking (Cohere/Jina/TEI-compatible), search and "
        'context assembly over one encoderkit index. Errors: `{"error": {"message", "type", "code", "param"}}`.',
        docs_url=None,
        redoc_url=None,
        default_response_class=json_response_class(),
        lifespan=lifespan,
    )
    app.state.ek = state
    install_handlers(app)

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return error_response(exc.status, exc.message, code=exc.code, param=exc.param, headers=exc.headers)

    @app.exception_handler(Overloaded)
    async def _busy(request, exc: Overloaded):
        return error_response(429, f"server busy: {exc}; retry shortly", code="too_many_requests", headers={"Retry-After": "1"})

    @app.exception_handler(TimeoutError)
    async def _slow(request, exc: TimeoutError):
        return error_response(408, f"request timed out: {exc}", code="timeout")

    @app.exception_handler(EncoderkitError)
    async def _user_error(request, exc: EncoderkitError):
        return error_response(400, str(exc))

    app.include_router(health.router(state))
    app.include_router(embeddings.router(state))
    app.include_router(rerank.router(state))
    app.include_router(search.router(state))
    app.include_router(context.router(state))
    app.include_router(documents.router(state, writes=config.allow_writes))
    if state.classifier is not None:
        app.include_router(classify.router(state))
    if state.extractor is not None:
        app.include_router(extract.router(state))
    app.include_router(web.router(app))
    _document_security(app, bool(state.keys))

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            max_age=600,
        )
    app.add_middleware(Guard, state=state)  # added last: the outermost layer
    return app


def _document_security(app, keys: bool) -> None:
    """OpenAPI: a bearer-key scheme (Swagger UI's "Authorize" button) and the shared error shape."""
    base = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        comps = schema.setdefault("components", {})
        comps.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "API key (required when the server has keys; /health, / and /docs are public).",
        }
        if keys:
            schema["security"] = [{"bearer": []}]
        comps.setdefault("schemas", {})["Error"] = {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "code": {"type": "string", "nullable": True},
                        "param": {"type": "string", "nullable": True},
                    },
                }
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
