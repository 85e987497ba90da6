"""What a running server holds: the index, the optional reranker, and the lock around them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServerState:
    index: object
    reranker: object | None = None
    allow_writes: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(
        cls,
        index_dir: str | Path,
        *,
        backend: str = "auto",
        reranker: str | None = None,
        rerank_backend: str = "torch",
        allow_writes: bool = False,
    ) -> ServerState:
        from ..index import Index

        index = Index.open(index_dir, backend=backend)
        rr = None
        if reranker:
            from ..models.cross_encoder import Reranker
            from ..models.export import ensure_export

            ensure_export(reranker, "cross-encoder", rerank_backend)
            rr = Reranker.load(reranker, backend=rerank_backend)
        return cls(index, rr, allow_writes)
