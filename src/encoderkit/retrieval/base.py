"""The Retriever protocol: what every first-stage retriever of an index implements.

A retriever ranks the chunks of one committed generation for a query. Its life cycle:

- at indexing time, retrievers that need model output per chunk (``encodes = True``: dense vectors,
  later token vectors) turn chunk texts into payloads (:meth:`Retriever.encode_chunks`); the index
  keeps them in its store, keyed by :meth:`Retriever.payload_key`, so a rebuild never re-encodes;
- at commit, :meth:`Retriever.build` makes its search structure from the live chunks
  (:class:`ChunkSet`: chunk ids, document row ids, texts, payloads) and :meth:`Retriever.save` writes
  it into the generation's folder ``gen-XXXXXX/<name>/``;
- :meth:`Retriever.add` / :meth:`Retriever.remove` update a built retriever in place when it
  supports that (``incremental = True``): at commit the index loads the previous generation's
  artifacts and hands over only the chunks that changed, unless :meth:`Retriever.can_update` asks for
  a full build (e.g. a setting that shapes the artifacts changed);
- at query time, :meth:`Retriever.load` reads it back and :meth:`Retriever.search` returns, per
  query, chunk ids and scores, best first; :meth:`Retriever.rerank_scores` may re-score given chunks
  from what it stores (a late-interaction model reranking with its own indexed vectors).

Adding a retriever means writing one module with a subclass and registering it
(:func:`encoderkit.retrieval.registry.register`); the index, the CLI, the server and the evaluation
harness find it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np


@dataclass
class ChunkSet:
    """Chunks handed to a retriever: parallel arrays, ordered by chunk id. ``payloads`` holds this
    retriever's per-chunk payloads (bytes, as returned by ``encode_chunks``) when it encodes."""

    ids: np.ndarray
    docs: np.ndarray
    texts: list[str]
    payloads: list[bytes] | None = None

    def __len__(self) -> int:
        return int(len(self.ids))


@dataclass
class IndexContext:
    """What a retriever may use from the index it belongs to: the index's encoder (loaded lazily by
    ``encoder_loader``, on the backend chosen for queries) and its manifest. Retrievers never touch
    the store."""

    path: Path
    manifest: dict
    encoder_loader: Any = None
    loaded_encoder: Any = field(default=None, repr=False)
    backend: str = "auto"  # how queries are encoded: auto | torch | onnx | onnx-int8
    models: dict = field(default_factory=dict, repr=False)  # other models retrievers load (cached)

    @property
    def encoder(self):
        """The index's encoder (loaded on first use)."""
        if self.loaded_encoder is None:
            self.loaded_encoder = self.encoder_loader()
        return self.loaded_encoder

    def reset_encoder(self) -> None:
        """Forget the loaded encoder and models (the model or the query backend changed); reloaded on
        next use."""
        self.loaded_encoder = None
        self.models.clear()

    def model(self, key, loader):
        """A model a retriever needs besides the index's encoder (e.g. ColBERT), loaded once per ``key``
        and shared by the retrievers of every generation loaded in this process."""
        if key not in self.models:
            self.models[key] = loader()
        return self.models[key]


Hits = tuple[np.ndarray, np.ndarray]  # (chunk ids int64, scores float32), best first


class Retriever:
    """Base class of first-stage retrievers. Subclasses set ``name`` and implement build/save/load/search."""

    name: ClassVar[str] = ""
    encodes: ClassVar[bool] = False  # needs per-chunk payloads computed at indexing time
    incremental: ClassVar[bool] = False  # add/remove work on a built retriever
    fusion_weight: ClassVar[float] = 1.0  # its weight when fused with others, unless a search gives weights

    def __init__(self, settings: dict, context: IndexContext):
        self.settings = dict(settings)
        self.context = context

    # ------------------------------------------------------------------ settings
    @classmethod
    def default_settings(cls) -> dict:
        """Settings a new index records for this retriever (JSON-serialisable)."""
        return {}

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        """Validated settings (raise EncoderkitError naming the bad key); unknown keys are errors."""
        unknown = set(settings) - set(cls.default_settings())
        if unknown:
            from ..errors import EncoderkitError

            raise EncoderkitError(
                f"unknown {cls.name} setting(s): {', '.join(sorted(unknown))}",
                hint=f"known: {', '.join(sorted(cls.default_settings())) or 'none'}",
            )
        return {**cls.default_settings(), **settings}

    # ------------------------------------------------------------------ indexing time
    def payload_key(self) -> str:
        """Identifies what ``encode_chunks`` computes (e.g. the model fingerprint): payloads stored under
        another key are recomputed."""
        return ""

    def encode_chunks(self, texts: Sequence[str]) -> list[bytes]:
        raise NotImplementedError(f"retriever {self.name!r} does not encode chunks")

    def build(self, chunks: ChunkSet) -> None:
        raise NotImplementedError

    def add(self, chunks: ChunkSet) -> None:
        raise NotImplementedError(f"retriever {self.name!r} is rebuilt, not updated in place")

    def remove(self, chunk_ids: np.ndarray) -> None:
        raise NotImplementedError(f"retriever {self.name!r} is rebuilt, not updated in place")

    def can_update(self, old_settings: dict, n_before: int, n_added: int, n_removed: int) -> bool:
        """Called on a retriever loaded from the previous generation (built with ``old_settings``, holding
        ``n_before`` chunks): True if :meth:`remove` / :meth:`add` of the changed chunks give what a full
        :meth:`build` would; False asks for a full build."""
        return old_settings == self.settings

    def save(self, directory: Path) -> None:
        raise NotImplementedError

    def verify(self, directory: Path, chunk_ids: np.ndarray) -> list[str]:
        """Cheap structural checks of what :meth:`save` wrote for these chunks (shapes, dtypes, value
        ranges) without building anything: a list of problems, [] when it looks sound. The index's
        manifest records every file's size and checksum anyway; :meth:`load` should refuse the same
        damage (raise ValueError) so a damaged generation never serves wrong results."""
        return []

    # ------------------------------------------------------------------ query time
    def load(self, directory: Path, chunk_ids: np.ndarray) -> None:
        """Read what :meth:`save` wrote; ``chunk_ids`` are the generation's chunks in order."""
        raise NotImplementedError

    def encode_queries(self, queries: Sequence[str]) -> Any:
        """Model work per query batch (e.g. query vectors), timed apart from the search itself; None
        when the retriever needs none. Its result is passed to :meth:`search` as ``encoded``."""
        return None

    def search(self, queries: Sequence[str], k: int, encoded: Any = None) -> list[Hits]:
        """Top-``k`` (chunk ids, scores) per query, best first; chunks that do not match are left out."""
        raise NotImplementedError

    def rerank_scores(self, query: str, chunk_ids: Sequence[int], reranker) -> np.ndarray | None:
        """Scores of ``reranker`` for ``query`` against ``chunk_ids`` computed from what this retriever
        stores, or None (the pipeline then runs ``reranker.score`` on the chunk texts)."""
        return None

    def stats(self) -> dict:
        """Sizes for ``encoderkit info`` (counts, bytes)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"
