"""One loader for every reranker a user can pass with ``--rerank DIR``: a cross-encoder (query and
passage read together) or a ColBERT model (MaxSim of token vectors), told apart from the saved folder.
Both answer ``score(query, passages)``, ``name``, ``kind`` and ``describe()``.

>>> rr = load_reranker("runs/colbert")            # doctest: +SKIP
>>> rr.kind, rr.score("query", ["a", "b"]).shape  # doctest: +SKIP
('colbert', (2,))
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EncoderkitError
from .kinds import detect_kind, get_kind
from .ref import resolve_model


def reranker_kind(spec: str | Path) -> str:
    """The kind of a saved reranker ("colbert" or "cross-encoder"); an error for anything else (e.g. a
    bi-encoder)."""
    ref = resolve_model(spec)
    kind = detect_kind(ref.path)
    if "reranker" not in get_kind(kind).roles:
        raise EncoderkitError(
            f"{ref.name} is a bi-encoder, not a reranker",
            hint="pass a cross-encoder (`encoderkit train rerank`) or a ColBERT model (`encoderkit train colbert`)",
        )
    return kind


def load_reranker(spec: str | Path, *, backend: str = "torch", max_length: int | None = None):
    """A :class:`~encoderkit.models.heads.cross_encoder.Reranker` or a :class:`~encoderkit.models.heads.colbert.ColBERT`
    for ``spec``. ``backend``: torch | onnx | onnx-int8 (cross-encoders; ColBERT runs int8 requests on
    fp32 ONNX Runtime). ONNX backends need an export first (:func:`encoderkit.models.export.ensure_export`)."""
    if reranker_kind(spec) == "colbert":
        from .heads.colbert import ColBERT

        return ColBERT.load(spec, backend="onnx" if backend.startswith("onnx") else "torch")
    from .heads.cross_encoder import Reranker

    return Reranker.load(spec, max_length=max_length, backend=backend)


def ensure_reranker_export(spec: str | Path, backend: str) -> None:
    """Make the ONNX export ``load_reranker(spec, backend=backend)`` needs (cached; nothing for torch)."""
    from .export import ensure_export

    kind = reranker_kind(spec)
    if kind == "colbert":
        ensure_export(spec, "colbert", "onnx" if backend.startswith("onnx") else "torch")
    else:
        ensure_export(spec, kind, backend)
