"""What a server is configured with: where it listens, who may call it, and how much one request may ask.

Every limit answers with a 4xx and a message naming the limit and the value that broke it; the defaults
suit a 2-core machine serving a few users (see docs/serving.md for the reasoning and how to change them).

>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("::1")
(True, True, False, True)
>>> default_allowed_hosts("127.0.0.1")
['localhost', '127.0.0.1', '::1']
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Per-request and per-connection limits. Each is checked before any model work starts."""

    max_body_bytes: int = 4 * 1024 * 1024  # 413 beyond
    max_inputs: int = 256  # texts per /v1/embeddings, /v1/classify, /v1/extract request
    max_documents: int = 1000  # documents per /v1/rerank request, per write request
    max_input_chars: int = 32_768  # characters per input text / document
    max_input_tokens: int = 8192  # model tokens per input (before truncation to the model's limit)
    max_query_chars: int = 4096  # characters per search/rerank query
    max_k: int = 100
    max_depth: int = 1000
    max_rerank_depth: int = 200
    max_context_tokens: int = 16_384
    request_timeout_s: float = 30.0  # 408 when a request (reading its body included) takes longer
    max_in_flight: int = 256  # requests being processed at once; 429 beyond
    # one client's (API key's, else address's) requests that run at once; its others wait their turn (0: no
    # share). 4: of 0/2/4/8, the share that kept another client's p50 near its idle value (123 ms vs 2.8 s
    # with no share) at the flooding client's best throughput (benchmarks/serve_fairness.py, BENCHMARKS.md)
    max_in_flight_per_client: int = 4
    max_connections: int = 1000  # open connections; past it the oldest idle one is closed
    header_timeout_s: float = 10.0  # a connection must send a complete request head within this
    keep_alive_s: float = 5.0  # idle keep-alive connections are closed after this

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_overrides(self, **values) -> Limits:
        unknown = set(values) - set(self.names())
        if unknown:
            from ..errors import EncoderkitError

            raise EncoderkitError(f"unknown limit(s): {', '.join(sorted(unknown))}", hint=f"known: {', '.join(self.names())}")
        return replace(self, **{k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True)
class BatchSettings:
    """Micro-batching of encoder forward passes: requests arriving within ``max_wait_ms`` of each other
    share one forward pass of at most ``max_batch_tokens`` (padded) tokens. ``enabled=False`` runs each
    request on its own (what the load benchmark compares against)."""

    enabled: bool = True
    max_wait_ms: float = 2.0
    max_batch_tokens: int = 8192
    max_batch_items: int = 256
    max_queue: int = 4096


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``encoderkit serve`` passes to :func:`encoderkit.server.create_app` besides the index."""

    host: str = "127.0.0.1"
    backend: str = "auto"
    reranker: str | None = None
    rerank_backend: str = "torch"
    classifier: str | None = None
    extractor: str | None = None
    allow_writes: bool = False
    api_keys: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None  # None: loopback names on loopback, any host otherwise
    cors_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    batching: BatchSettings = field(default_factory=BatchSettings)
    access_log: bool = True
    ray: str | None = None  # a sharded index searched through one Ray actor per shard ("local", "auto", HOST:PORT)

    @property
    def hosts(self) -> list[str]:
        return list(self.allowed_hosts) if self.allowed_hosts is not None else default_allowed_hosts(self.host)

    @classmethod
    def from_options(
        cls,
        *,
        limits: dict | None = None,
        api_key_file: str | Path | None = None,
        allowed_hosts=(),
        cors_origins=(),
        batching: bool = True,
        batch_wait_ms: float = 2.0,
        **settings,
    ) -> ServerConfig:
        """The configuration ``encoderkit serve`` options describe: ``limits`` by :class:`Limits` field
        name (None: the default), API keys from ``api_key_file`` and the environment, the rest as fields."""
        from .keys import load_keys

        return cls(
            api_keys=tuple(load_keys(api_key_file)),
            allowed_hosts=tuple(allowed_hosts) or None,
            cors_origins=tuple(cors_origins),
            limits=Limits().with_overrides(**(limits or {})),
            batching=BatchSettings(enabled=batching, max_wait_ms=batch_wait_ms),
            **settings,
        )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, "localhost")."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind: str) -> list[str]:
    """Host headers accepted by default: the loopback names when bound to loopback (a web page the user
    visits cannot reach the server by rebinding a DNS name to 127.0.0.1), any host otherwise (API keys
    are then required; pass --allowed-host to pin the names a load balancer forwards)."""
    if is_loopback(bind):
        names = ["localhost", "127.0.0.1", "::1"]
        b = bind.strip("[]")
        return names if b in names else [*names, b]
    return ["*"]
