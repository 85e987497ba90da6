"""Model kinds from one registry: how a saved folder's kind is recognised, which head it runs, and how it
loads. Everything that must tell kinds apart (``encoderkit export onnx``, ``--rerank``, the server's
models, ``models inspect``) asks here instead of keeping its own if-chain.

Kinds are tried in registration order; the first whose ``detect`` accepts the folder wins, so the most
specific files come first (``classifier.json``, ``colbert_config.json``, an ``encoderkit_model.json``
card) and the bi-encoder, which accepts any transformer, comes last. A new kind is one
:func:`register_kind` call in the module of its head.

>>> [k.name for k in kinds()]
['classifier', 'colbert', 'tagger', 'span-pair', 'extraction', 'cross-encoder', 'encoder']
>>> get_kind("cross-encoder").roles
('reranker',)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import EncoderkitError
from .layout import read_json, transformer_dir


@dataclass(frozen=True)
class ModelKind:
    """One kind of saved model. ``detect(folder)`` says whether a folder holds it; ``load(spec, backend)``
    returns the loaded model; ``head()`` the backbone :class:`~.backbone.Head` it runs (what the ONNX
    exporter traces); ``roles`` what it can be used as (encoder, reranker, classifier, extractor)."""

    name: str
    detect: Callable[[Path], bool]
    load: Callable[..., object]
    head: Callable[[], object]
    roles: tuple[str, ...] = field(default=())


_KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Add a kind (a later registration of the same name replaces it, keeping its place)."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> list[ModelKind]:
    return list(_KINDS.values())


def get_kind(name: str) -> ModelKind:
    if name not in _KINDS:
        raise EncoderkitError(f"unknown model kind '{name}'", hint=f"known kinds: {', '.join(_KINDS)}")
    return _KINDS[name]


def detect_kind(path: str | Path) -> str:
    """The name of the first registered kind whose ``detect`` accepts the folder."""
    for kind in _KINDS.values():
        if kind.detect(Path(path)):
            return kind.name
    raise EncoderkitError(f"'{path}' is not a model folder encoderkit can load", hint="see `encoderkit models inspect`")


def load_model(spec: str | Path, *, kind: str | None = None, backend: str = "torch", **options):
    """Load whatever ``spec`` holds (or the given ``kind``) on ``backend``."""
    from .ref import resolve_model

    name = kind or detect_kind(resolve_model(spec).path)
    return get_kind(name).load(spec, backend=backend, **options)


# ---------------------------------------------------------------------------- the built-in kinds
def _card_kind(path: Path) -> str | None:
    return read_json(Path(path) / "encoderkit_model.json").get("kind")


def _is_sequence_classifier(path: Path) -> bool:
    archs = read_json(transformer_dir(path) / "config.json").get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in archs)


def _classifier():
    from .heads import classifier

    return classifier


def _colbert():
    from .heads import colbert

    return colbert


def _tagger():
    from .heads import tagger

    return tagger


def _span_pair():
    from .heads import span_pair

    return span_pair


def _cross_encoder():
    from .heads import cross_encoder

    return cross_encoder


def _encoder():
    from .heads import encoder

    return encoder


def _load_extraction(spec, *, backend: str = "torch", **_):
    raise EncoderkitError(
        f"'{spec}' is an extraction bundle (tagger + relation model)",
        hint="load it with encoderkit.tasks.extract.Extractor.load, or `encoderkit extract ... --model DIR`",
    )


def _no_head():
    raise EncoderkitError("an extraction bundle has no single backbone", hint="export or load its components")


register_kind(
    ModelKind(
        "classifier",
        lambda p: (p / "classifier.json").is_file(),
        lambda spec, backend="torch", **o: _classifier().Classifier.load(spec, backend=backend, **o),
        lambda: _classifier().HEAD,
        ("classifier", "encoder"),
    )
)
register_kind(
    ModelKind(
        "colbert",
        lambda p: (p / "colbert_config.json").is_file(),
        lambda spec, backend="torch", **o: _colbert().ColBERT.load(spec, backend=backend, **o),
        lambda: _colbert().HEAD,
        ("reranker", "colbert"),
    )
)
register_kind(
    ModelKind(
        "tagger",
        lambda p: _card_kind(p) == "tagger",
        lambda spec, backend="torch", **o: _tagger().Tagger.load(spec, backend=backend, **o),
        lambda: _tagger().HEAD,
        ("extractor",),
    )
)
register_kind(
    ModelKind(
        "span-pair",
        lambda p: _card_kind(p) == "span-pair",
        lambda spec, backend="torch", **o: _span_pair().SpanPairClassifier.load(spec, backend=backend, **o),
        lambda: _span_pair().HEAD,
        ("extractor",),
    )
)
register_kind(ModelKind("extraction", lambda p: _card_kind(p) == "extraction", _load_extraction, _no_head, ("extractor",)))
register_kind(
    ModelKind(
        "cross-encoder",
        _is_sequence_classifier,
        lambda spec, backend="torch", **o: _cross_encoder().Reranker.load(spec, backend=backend, **o),
        lambda: _cross_encoder().HEAD,
        ("reranker",),
    )
)
register_kind(
    ModelKind(
        "encoder",
        lambda p: True,
        lambda spec, backend="torch", **o: _encoder().Encoder.load(spec, backend=backend, **o),
        lambda: _encoder().HEAD,
        ("encoder", "colbert"),
    )
)
