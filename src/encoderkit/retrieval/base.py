"""The Retriever protocol: what every first-stage retriever of an index implements.

An index is a list of immutable **segments** (``seg-XXXXXX/``, see :mod:`encoderkit.index.storage.segments`);
one retriever instance serves one segment. Its life cycle:

- at indexing time, retrievers that need model output per chunk (``encodes = True``: dense vectors,
  later token vectors) turn chunk texts into payloads (:meth:`Retriever.encode_chunks`); the index
  keeps them in its store, keyed by :meth:`Retriever.payload_key`, so a rebuild never re-encodes;
- at commit, :meth:`Retriever.build` makes its search structure from **the segment's** chunks (the
  chunks the update added: :class:`ChunkSet` of chunk ids, document row ids, texts, payloads) and
  :meth:`Retriever.save` writes it into ``seg-XXXXXX/<name>/``; an update never rebuilds older segments;
- when segments are merged, :meth:`Retriever.merge` writes the structure of the merged segment from the
  parts' folders and live-chunk masks (the default builds it from the parts' live chunks, read back from
  the store with their payloads: correct for every retriever, nothing re-encoded);
- at query time, :meth:`Retriever.load` reads one segment back and :meth:`Retriever.search` returns,
  per query, chunk ids and scores, best first. The index runs it on every segment and merges the
  results into one ranking by score, so **scores must be comparable across segments**.

Two optional capabilities (class flags), both off by default, so a retriever written against the
single-index protocol works unchanged:

- ``skips_deleted``: :meth:`Retriever.search` takes ``live`` (bool per chunk of the segment; None = all
  live) and never returns deleted chunks. Without it, the index asks for ``k`` plus the segment's
  deleted count and drops deleted chunks itself (exact, at some extra work);
- ``collection_statistics``: scores depend on the whole collection (BM25's document frequencies).
  :meth:`Retriever.statistics` returns what one segment adds (numbers and dicts of numbers, summed
  with :func:`add_statistics` over segments, and over shards of a distributed index), and
  :meth:`Retriever.search` gets the sum as ``stats``.

:meth:`Retriever.add` / :meth:`Retriever.remove` are kept for retrievers that update a built structure
in place (``incremental = True``); the segmented index does not need them.

Retrievers may also re-score given chunks from what they store (:meth:`Retriever.rerank_scores`: a
late-interaction model reranking with its own indexed vectors); the segmented index routes each chunk
to the segment holding it.

Adding a retriever means writing one module with a subclass and registering it
(:func:`encoderkit.retrieval.registry.register`); the index, the CLI, the server and the evaluation
harness find it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..runtime.plugins import Plugin


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


DOCUMENT_TOKEN_BUDGET = 8192  # padded tokens per batch when encoding chunks (32 texts of 256 tokens)


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
    document_encoder_loader: Any = None  # manifest -> the encoder of chunks when it is not fp32

    @property
    def encoder(self):
        """The index's encoder (loaded on first use)."""
        if self.loaded_encoder is None:
            self.loaded_encoder = self.encoder_loader()
        return self.loaded_encoder

    @property
    def document_encoder(self):
        """The encoder of chunks: the index's encoder, or its quantized / bf16 variant when the index
        chose one (``model.encode_precision``, behind the quality gate)."""
        model = self.manifest.get("model") or {}
        precision = model.get("encode_precision") or "fp32"
        if precision == "fp32" or self.document_encoder_loader is None:
            return self.encoder
        manifest = self.manifest
        return self.model(
            ("document encoder", model.get("fingerprint"), precision), lambda: self.document_encoder_loader(manifest)
        )

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Chunk vectors from :attr:`document_encoder`, in token-budget batches (less padding)."""
        return self.document_encoder.encode(list(texts), batch_size=32, token_budget=DOCUMENT_TOKEN_BUDGET, show_progress=False)

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


@dataclass
class SegmentPart:
    """One segment being merged: its retriever folder, its chunk ids (ascending) and which are live
    (None: all)."""

    directory: Path
    chunk_ids: np.ndarray
    live: np.ndarray | None = None


def top_k(scores: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (keys, float32 scores): score descending, equal scores by key ascending (so the
    order never depends on how candidates were gathered).

    >>> top_k(np.array([0.5, 0.9, 0.5, 0.1]), np.array([7, 3, 2, 9]), 3)
    (array([3, 2, 7]), array([0.9, 0.5, 0.5], dtype=float32))
    """
    scores = np.asarray(scores, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.int64)
    if k <= 0 or not len(scores):
        return keys[:0], scores[:0]
    if len(scores) > k:
        kth = np.partition(-scores, k - 1)[k - 1]
        sel = np.flatnonzero(-scores <= kth)  # every tie of the k-th score: the order below decides
        scores, keys = scores[sel], keys[sel]
    order = np.lexsort((keys, -scores))[:k]
    return keys[order], scores[order]


def add_statistics(parts) -> dict:
    """Sum per-segment statistics (numbers, and dicts of numbers, nested) into the collection's.

    >>> add_statistics([{"documents": 2, "df": {"cat": 1}}, {"documents": 3, "df": {"cat": 2, "dog": 1}}])
    {'documents': 5, 'df': {'cat': 3, 'dog': 1}}
    """
    out: dict = {}
    for part in parts:
        for key, value in (part or {}).items():
            if isinstance(value, dict):
                out[key] = add_statistics([out.get(key) or {}, value])
            else:
                out[key] = out.get(key, 0) + value
    return out


class Retriever(Plugin):
    """Base class of first-stage retrievers (a :class:`~encoderkit.runtime.plugins.Plugin`: a ``name`` and
    settings checked against :meth:`default_settings`). Subclasses set ``name`` and implement
    build/save/load/search."""

    plugin_kind: ClassVar[str] = "retriever"
    encodes: ClassVar[bool] = False  # needs per-chunk payloads computed at indexing time
    incremental: ClassVar[bool] = False  # add/remove work on a built retriever
    skips_deleted: ClassVar[bool] = False  # search() takes live= and leaves deleted chunks out
    collection_statistics: ClassVar[bool] = False  # scores need statistics() summed over segments
    search_time_settings: ClassVar[tuple] = ()  # settings only queries read: changing them rebuilds nothing
    fusion_weight: ClassVar[float] = 1.0  # its RRF weight when fused with others, unless a search gives weights
    weighted_fusion_weight: ClassVar[float] = 1.0  # its weight in score-normalised weighted fusion (see retrieval.fusion)
    calibration_weight: ClassVar[float] = 0.5  # its base weight in a calibrated fusion rule (retrieval.fusion_fit)
    late_interaction: ClassVar[bool] = False  # fusing it makes "auto" fusion weighted (see retrieval.fusion)
    # files under the retriever's folder (path prefixes) whose checksums every open verifies: small files a
    # few flipped bytes of which would change rankings without failing any structural check (ColBERT's codec)
    checked_at_open: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: dict, context: IndexContext):
        self.settings = dict(settings)
        self.context = context

    # ------------------------------------------------------------------ settings
    @classmethod
    def default_settings(cls) -> dict:
        """Settings a new index records for this retriever (JSON-serialisable)."""
        return {}

    def keep_from(self, parts: Sequence[SegmentPart]) -> None:
        """Before the chunks of ``parts`` (segments whose files verified) are written again by a repair:
        take over what they hold that a fresh build would compute differently, so a repair restores the
        same answers (ColBERT keeps its centroids). Default: nothing to keep."""

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

    def merge(self, parts: Sequence[SegmentPart], directory: Path, chunks) -> None:
        """Write into ``directory`` what :meth:`build` over the parts' live chunks and :meth:`save` would.
        ``chunks()`` returns those chunks as a ChunkSet (from the store, payloads included); this default
        uses it. Override to merge from the parts' folders instead (faster, no store reads)."""
        self.build(chunks())
        self.save(directory)

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

    def statistics(self, encoded: Any, live: np.ndarray | None = None) -> dict:
        """This segment's additive share of the collection statistics for these encoded queries (only
        with ``collection_statistics``); summed with :func:`add_statistics`."""
        return {}

    def search(self, queries: Sequence[str], k: int, encoded: Any = None) -> list[Hits]:
        """Top-``k`` (chunk ids, scores) per query, best first; chunks that do not match are left out.
        Retrievers with ``skips_deleted`` also take ``live=``, with ``collection_statistics`` ``stats=``
        (the summed :meth:`statistics`; None: this segment alone is the collection)."""
        raise NotImplementedError

    def rerank_scores(self, query: str, chunk_ids: Sequence[int], reranker) -> np.ndarray | None:
        """Scores of ``reranker`` for ``query`` against ``chunk_ids`` computed from what this retriever
        stores, or None (the pipeline then runs ``reranker.score`` on the chunk texts)."""
        return None

    def score_texts(
        self, queries: Sequence[str], encoded: Any, texts: Sequence[str], stats: dict | None = None
    ) -> np.ndarray | None:
        """The score ``search`` would give ``texts[i]`` for ``queries[i]`` were it an indexed chunk (with
        ``stats`` the collection's, for retrievers with ``collection_statistics``), or None when this
        retriever cannot say. Fusion calibration scores a passage with its pseudo-query cut out this way
        (:mod:`encoderkit.index.calibrate`)."""
        return None

    def stats(self) -> dict:
        """Sizes for ``encoderkit info`` (counts, bytes)."""
        return {}

    @classmethod
    def combine_stats(cls, per_segment: Sequence[dict]) -> dict:
        """One figure set for the whole index from :meth:`stats` of each segment: numbers are summed
        (override for ratios).

        >>> Retriever.combine_stats([{"chunks": 2, "kind": "x"}, {"chunks": 3}])
        {'chunks': 5, 'kind': 'x'}
        """
        out: dict = {}
        for st in per_segment:
            for k, v in st.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(out.get(k, 0), (int, float)):
                    out[k] = out.get(k, 0) + v
                else:
                    out.setdefault(k, v)
        return out

    def footprint(self, directory: Path) -> dict:
        """Bytes of one saved segment folder: ``disk``, ``memory`` (what a warm search keeps resident)
        and ``mapped`` (memory-mapped, paged in only where a search reads). The default assumes
        :meth:`load` reads every file into memory."""
        size = sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
        return {"disk": size, "memory": size, "mapped": 0}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"
