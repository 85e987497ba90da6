"""The models a server runs besides the index: its encoder behind the micro-batcher, an optional
reranker (cross-encoder or ColBERT), classifier and extractor. Task packages are imported only when the
option that needs them is given."""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError


class BatchedEncoder:
    """Stands in for the index's :class:`~encoderkit.models.heads.encoder.Encoder`: ``encode`` goes through the
    server's micro-batcher (so concurrent searches and embedding requests share forward passes); every
    other attribute is the encoder's own."""

    def __init__(self, encoder, batcher, timeout: float = 30.0):
        self._encoder = encoder
        self._batcher = batcher
        self._timeout = timeout

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    @property
    def unwrapped(self):
        return self._encoder

    def encode(self, texts, *, pooling=None, normalize=True, max_length=None, **_ignored) -> np.ndarray:
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        if not items:
            return self._encoder.encode(items, pooling=pooling, normalize=normalize)
        limit = max_length or self._encoder.max_length
        cost = sum(min(limit, len(t) // 3 + 2) for t in items)
        fut = self._batcher.submit(items, key=(self._encoder, pooling, normalize, max_length), cost=cost)
        try:
            vecs = np.stack(fut.result(timeout=self._timeout))
        except FutureTimeout:
            raise TimeoutError(f"the encoder did not answer within {self._timeout:.0f} s") from None
        return vecs[0] if single else vecs


SUB_BATCH = 16  # texts per forward pass inside a micro-batch: sorted by length, so little padding


def run_encoder_batch(items: list, key) -> list:
    """The micro-batcher's function for encoders: one ``encode`` call for the whole batch. The encoder
    sorts the texts by length and runs them ``SUB_BATCH`` at a time, so short queries are not padded to
    the longest text of the batch (on a CPU the forward pass costs per token, padding included)."""
    encoder, pooling, normalize, max_length = key
    vecs = encoder.encode(items, pooling=pooling, normalize=normalize, max_length=max_length, batch_size=SUB_BATCH)
    return list(vecs)


class BiEncoderScorer:
    """Reranking without a reranker: cosine similarity of the query's and each document's embedding
    under the index's bi-encoder (what ``/v1/rerank`` uses when the server has no ``--rerank`` model)."""

    kind = "bi-encoder"

    def __init__(self, encoder):
        self.encoder = encoder

    @property
    def name(self) -> str:
        return self.encoder.name

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "scoring": "cosine similarity of embeddings"}

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        vecs = self.encoder.encode([query, *passages])
        return (vecs[1:] @ vecs[0]).astype(np.float32)


def load_reranker(spec: str, backend: str = "torch"):
    """The ``--rerank`` model: a cross-encoder, or a ColBERT model (late-interaction MaxSim), told apart by
    :func:`encoderkit.models.rerankers.load_reranker` where this version has it; else a cross-encoder."""
    try:
        from ..models import rerankers
    except ImportError:
        rerankers = None
    if rerankers is not None:
        rerankers.ensure_reranker_export(spec, backend)
        return rerankers.load_reranker(spec, backend=backend)
    from ..models.export import ensure_export
    from ..models.heads.cross_encoder import Reranker

    ensure_export(spec, "cross-encoder", backend)
    return Reranker.load(spec, backend=backend)


def load_classifier(spec: str):
    try:
        from ..tasks.classify import Classifier
    except ImportError:
        raise EncoderkitError("this version of encoderkit has no classifier support", hint="drop --classify") from None
    return Classifier.load(spec)


def load_extractor(spec: str):
    try:
        from ..tasks.extract import Extractor
    except ImportError:
        raise EncoderkitError("this version of encoderkit has no extraction support", hint="drop --extract") from None
    return Extractor.load(spec)


def describe(model) -> dict:
    try:
        d = dict(model.describe())
    except Exception:  # a model without describe(): still listed by name
        d = {}
    d.setdefault("name", getattr(model, "name", type(model).__name__))
    return d
