"""``encoderkit serve``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import quiet_env, quiet_libraries
from .options import ray_option


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder to serve."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on; anything but loopback requires API keys."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port."),
    rerank: Optional[str] = typer.Option(
        None,
        "--rerank",
        help="Cross-encoder or ColBERT model for /v1/rerank and search rerank=true "
        "(default: none; /v1/rerank then uses the index's bi-encoder).",
    ),
    rerank_backend: str = typer.Option("torch", help="Reranker runtime: torch | onnx | onnx-int8."),
    classify: Optional[str] = typer.Option(None, "--classify", help="Classifier model for /v1/classify (default: none)."),
    extract: Optional[str] = typer.Option(None, "--extract", help="Extraction model for /v1/extract (default: none)."),
    backend: str = typer.Option("auto", help="Query encoding: auto | torch | onnx | onnx-int8."),
    allow_writes: bool = typer.Option(
        False, "--allow-writes", help="Enable POST /v1/documents and /v1/documents/delete (requires API keys)."
    ),
    api_key_file: Optional[Path] = typer.Option(
        None, "--api-key-file", help="File with API keys, one per line (default: none; also read from ENCODERKIT_API_KEYS)."
    ),
    allowed_host: List[str] = typer.Option(
        [],
        "--allowed-host",
        help="Host header to accept (repeatable; '*' for any) (default: loopback names on loopback, any host otherwise).",
    ),
    cors_origin: List[str] = typer.Option(
        [], "--cors-origin", help="Browser origin allowed to call the API (repeatable) (default: none, CORS off)."
    ),
    max_body_bytes: Optional[int] = typer.Option(None, min=1, help="Largest request body (default: 4194304)."),
    max_inputs: Optional[int] = typer.Option(None, min=1, help="Texts per embeddings/classify/extract request (default: 256)."),
    max_documents: Optional[int] = typer.Option(None, min=1, help="Documents per rerank or write request (default: 1000)."),
    max_input_chars: Optional[int] = typer.Option(None, min=1, help="Characters per input text (default: 32768)."),
    max_input_tokens: Optional[int] = typer.Option(None, min=1, help="Tokens per input text (default: 8192)."),
    max_query_chars: Optional[int] = typer.Option(None, min=1, help="Characters per query (default: 4096)."),
    max_k: Optional[int] = typer.Option(None, min=1, help="Largest k (default: 100)."),
    max_depth: Optional[int] = typer.Option(None, min=1, help="Largest search depth (default: 1000)."),
    request_timeout: Optional[float] = typer.Option(None, min=0.1, help="Seconds a request may take (default: 30)."),
    max_in_flight_per_client: Optional[int] = typer.Option(
        None,
        min=0,
        help="Requests of one client (API key, else address) that run at once; its others wait their turn, so one "
        "client cannot starve the rest [4; 0: no share].",
    ),
    max_connections: Optional[int] = typer.Option(
        None, min=1, help="Open connections; past it the longest-idle one is closed (default: 1000)."
    ),
    header_timeout: Optional[float] = typer.Option(
        None, min=0.1, help="Seconds a connection has to send a request head (default: 10)."
    ),
    keep_alive_timeout: Optional[float] = typer.Option(
        None,
        min=0.1,
        help="Seconds an idle keep-alive connection stays open; behind a load balancer set it above the "
        "balancer's idle timeout (default: 5).",
    ),
    batch_wait_ms: float = typer.Option(
        2.0, min=0.0, max=1000.0, help="Micro-batching: longest wait for more requests to join a forward pass, in ms."
    ),
    no_batching: bool = typer.Option(
        False, "--no-batching", help="Run every request's forward pass on its own (for comparison)."
    ),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="One JSON line per request on stderr."),
    verbose: bool = typer.Option(False, "--verbose", help="Show library messages (model loading, warnings)."),
    ray: Optional[str] = ray_option("Sharded index: one Ray actor per shard"),
    replicas: Optional[int] = typer.Option(
        None, "--replicas", min=1, help="With --ray: N copies of the app in Ray Serve behind its HTTP proxy."
    ),
):
    """Serve an index over HTTP: OpenAI-style /v1/embeddings, Cohere/TEI-style rerank, /v1/search, /v1/context,
    a search page at /."""
    quiet_env(not verbose)
    import sys

    from ..server.app import create_app
    from ..server.config import ServerConfig
    from ..server.listen import serve as run_server

    if not verbose:
        quiet_libraries()
    config = ServerConfig.from_options(
        limits=dict(
            max_body_bytes=max_body_bytes, max_inputs=max_inputs, max_documents=max_documents,
            max_input_chars=max_input_chars, max_input_tokens=max_input_tokens, max_query_chars=max_query_chars,
            max_k=max_k, max_depth=max_depth, request_timeout_s=request_timeout, max_connections=max_connections,
            max_in_flight_per_client=max_in_flight_per_client,
            header_timeout_s=header_timeout, keep_alive_s=keep_alive_timeout,
        ),
        api_key_file=api_key_file, allowed_hosts=allowed_host, cors_origins=cors_origin, batching=not no_batching,
        batch_wait_ms=batch_wait_ms, host=host, backend=backend, reranker=rerank, rerank_backend=rerank_backend,
        classifier=classify, extractor=extract, allow_writes=allow_writes, access_log=access_log, ray=ray,
    )  # fmt: skip
    if replicas is not None:
        return _serve_replicas(index_dir, config, port, replicas)
    app = create_app(index_dir, config)
    shown = f"[{host}]" if ":" in host else host

    def ready(cap: int, fds: int) -> None:
        keys = f"{len(app.state.ek.keys)} API key(s)" if app.state.ek.keys else "no API keys (loopback, read-only)"
        print(
            f"encoderkit: serving {index_dir} on http://{shown}:{port} ({keys}; writes {'on' if allow_writes else 'off'}; "
            f"up to {cap} connections) - search page /, API docs /docs",
            file=sys.stderr,
            flush=True,
        )

    run_server(app, host=host, port=port, limits=config.limits, log_level="info", on_ready=ready)


def _serve_replicas(index_dir: Path, config, port: int, replicas: int) -> None:
    """`serve --ray --replicas N`: Ray Serve replicas of the app sharing the shard actors."""
    import sys

    from ..errors import EncoderkitError
    from ..index.shards.routing import is_sharded

    if config.ray is None:
        raise EncoderkitError("--replicas needs --ray", hint="add --ray (a local Ray instance) or --ray ADDRESS")
    if not is_sharded(index_dir):
        raise EncoderkitError(
            f"--ray serves the shards of a sharded index; '{index_dir}' is an ordinary index",
            hint="build a sharded index with --shards N",
        )
    if config.allow_writes:
        raise EncoderkitError("--replicas serves read-only", hint="leave out --allow-writes")
    from ..server.ray_serve import serve_forever
    from ..server.state import check_security

    check_security(config)

    def ready(url: str) -> None:
        print(f"encoderkit: serving {index_dir} with {replicas} Ray Serve replica(s) on {url}", file=sys.stderr, flush=True)

    serve_forever(index_dir, config, port=port, replicas=replicas, on_ready=ready)
