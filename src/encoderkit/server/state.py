"""What a running server holds, and how it reads and writes the index concurrently.

- Reads take no lock. The read side is an :class:`~encoderkit.index.Index` whose store gives each thread
  its own SQLite connection (:class:`~encoderkit.index.storage.threadlocal.ThreadLocalStore`); every search runs
  pinned to one committed generation (:func:`~encoderkit.index.storage.threadlocal.pinned_read`).
- The index's encoder sits behind a micro-batcher (:mod:`.batcher`): query encodings of concurrent
  searches and ``/v1/embeddings`` requests share forward passes.
- Writes (only with ``allow_writes``) go through a second :class:`Index` with its own connection, one at
  a time under ``write_lock``; a write becomes visible to readers all at once, when its generation's
  manifest is committed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EncoderkitError
from .config import ServerConfig, is_loopback
from .keys import ApiKeys
from .observe import Metrics


@dataclass
class ServerState:
    index: object
    config: ServerConfig = field(default_factory=ServerConfig)
    encoder: object = None  # the index's encoder, unbatched
    batcher: object = None
    reranker: object | None = None  # a --rerank model (cross-encoder or ColBERT)
    classifier: object | None = None
    extractor: object | None = None
    keys: ApiKeys = field(default_factory=lambda: ApiKeys([]))
    metrics: Metrics = field(default_factory=Metrics)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    _writer: object = None
    _tokenizer: object = None

    @property
    def allow_writes(self) -> bool:
        return self.config.allow_writes

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, index_dir: str | Path, config: ServerConfig | None = None) -> ServerState:
        from ..index import Index
        from ..index.storage.model import load_index_encoder
        from ..index.storage.threadlocal import ThreadLocalStore
        from .batcher import DirectRunner, MicroBatcher
        from .models import BatchedEncoder, load_classifier, load_extractor, load_reranker, run_encoder_batch

        config = config or ServerConfig()
        check_security(config)
        from ..index.shards.routing import is_sharded

        sharded = is_sharded(index_dir)
        if sharded and config.allow_writes:
            raise EncoderkitError(
                f"'{index_dir}' is a sharded index: the server serves shards read-only",
                hint="update it with `encoderkit index PATHS --index DIR` and leave out --allow-writes",
            )
        if config.ray is not None and not sharded:
            raise EncoderkitError(
                f"--ray serves the shards of a sharded index; '{index_dir}' is an ordinary index",
                hint="leave out --ray, or build a sharded index with --shards N",
            )
        if sharded:
            from ..index.shards.sharded import ShardedIndex

            probe = ShardedIndex.open(index_dir, readonly=True, backend=config.backend)  # validates every shard
            path, manifest, names = probe.shards[0].path, probe.manifest, list(probe.names)
        else:
            probe = Index.open(index_dir, readonly=True, backend=config.backend)  # validates folder, store, backend
            path, manifest = probe.path, probe.manifest
        probe.close()
        encoder = load_index_encoder(manifest, path, config.backend)
        metrics = Metrics()
        b = config.batching
        runner = MicroBatcher if b.enabled else DirectRunner
        batcher = runner(
            run_encoder_batch,
            max_wait_ms=b.max_wait_ms,
            max_batch_tokens=batch_tokens_for(encoder, b.max_batch_tokens),
            max_batch_items=b.max_batch_items,
            max_queue=b.max_queue,
            on_batch=metrics.on_batch,
        )
        timeout = config.limits.request_timeout_s

        def reader(folder: Path, manifest: dict):
            idx = Index(
                folder, manifest, ThreadLocalStore(folder / "index.db"), BatchedEncoder(encoder, batcher, timeout),
                readonly=True, backend=config.backend,
            )  # fmt: skip
            load_raw = idx.context.encoder_loader  # the model changed under us (another process): reload, still batched
            idx.context.encoder_loader = lambda: BatchedEncoder(load_raw(), batcher, timeout)
            return idx

        if sharded:
            from ..index.shards.sharded import ShardedIndex
            from ..index.storage.manifest import read_manifest

            root = Path(index_dir)
            index = ShardedIndex(root, [reader(root / n, read_manifest(root / n)) for n in names], names)
            if config.ray is not None:
                index.use_ray(config.ray, backend=config.backend)
        else:
            index = reader(path, manifest)
        state = cls(
            index,
            config,
            encoder=encoder,
            batcher=batcher,
            reranker=load_reranker(config.reranker, config.rerank_backend) if config.reranker else None,
            classifier=load_classifier(config.classifier) if config.classifier else None,
            extractor=load_extractor(config.extractor) if config.extractor else None,
            keys=ApiKeys(config.api_keys),
            metrics=metrics,
        )
        return state

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        if getattr(self.index, "shards", None) is not None:  # sharded: its stores, and its Ray actors if any
            self.index.close()
        else:
            self.index.store.close()
        if self._writer is not None:
            self._writer.close()

    # ------------------------------------------------------------------ helpers
    @property
    def model_name(self) -> str:
        return self.index.manifest["model"]["name"]

    @property
    def tokenizer(self):
        """A raw tokenizer of the index's model (no truncation, no padding) for counting tokens."""
        if self._tokenizer is None:
            self._tokenizer = self.encoder.raw_tokenizer()
        return self._tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        enc = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in enc]

    def read(self, fn):
        """``fn(snapshot)`` pinned to one committed generation (see :mod:`encoderkit.index.storage.threadlocal`)."""
        from ..index.storage.threadlocal import pinned_read

        return pinned_read(self.index, fn)

    def writer(self):
        """The write side (opened on first use); call under ``write_lock``."""
        if not self.allow_writes:
            raise EncoderkitError("this server is read-only", hint="start it with --allow-writes (and API keys)")
        if self._writer is None:
            from ..index import Index

            shared = self.encoder if self.encoder.backend != "onnx-int8" else None  # int8 vectors must not be stored
            self._writer = Index.open(self.index.path, encoder=shared)
        return self._writer


def check_security(config: ServerConfig) -> None:
    """API keys are required on a non-loopback address and whenever writes are enabled."""
    if config.api_keys:
        return
    if not is_loopback(config.host):
        raise EncoderkitError(
            f"serving on {config.host} (reachable from other machines) requires API keys",
            hint="pass --api-key-file FILE or set ENCODERKIT_API_KEYS, or listen on 127.0.0.1",
        )
    if config.allow_writes:
        raise EncoderkitError(
            "--allow-writes requires API keys (any web page you visit could otherwise change the index)",
            hint="pass --api-key-file FILE or set ENCODERKIT_API_KEYS",
        )


# a GPU's forward pass takes many times the tokens of a CPU's at the same latency; 8 is a starting value,
# not measured here (no GPU was lent): benchmarks/gpu_check.py is where it should be checked
GPU_BATCH_SCALE = 8


def batch_tokens_for(encoder, max_batch_tokens: int) -> int:
    """The micro-batcher's token budget for where ``encoder`` runs: on a GPU the default budget times
    :data:`GPU_BATCH_SCALE` (a budget the user set is kept as set)."""
    from .config import BatchSettings

    device = str(getattr(getattr(getattr(encoder, "backbone", None), "runner", None), "device", "cpu"))
    if device.startswith("cuda") and max_batch_tokens == BatchSettings.max_batch_tokens:
        return max_batch_tokens * GPU_BATCH_SCALE
    return max_batch_tokens
