"""The registry of retrievers, by name. BM25 and dense are built in (registered when the
:mod:`encoderkit.retrieval` package is imported); more register themselves.

>>> "bm25" in names() and "dense" in names()
True
>>> get("bm25").name
'bm25'

A retriever defined elsewhere registers with the decorator (in the process that uses it), or is found
through the ``encoderkit.retrievers`` entry-point group of an installed package::

    @register
    class MyRetriever(Retriever):
        name = "mine"
        ...
"""

from __future__ import annotations

from ..errors import EncoderkitError
from .base import Retriever

_REGISTRY: dict[str, type[Retriever]] = {}
_ENTRY_POINTS_LOADED = False


def register(cls: type[Retriever]) -> type[Retriever]:
    """Register a Retriever subclass under ``cls.name`` (replacing one of the same name)."""
    if not cls.name or not cls.name.isidentifier():
        raise ValueError(f"retriever name {cls.name!r} must be a non-empty identifier")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="encoderkit.retrievers"):
        try:
            register(ep.load())
        except Exception as exc:  # a broken plugin must not break the built-in retrievers
            import sys

            print(f"note: retriever plugin {ep.name!r} failed to load ({exc})", file=sys.stderr)


def names() -> list[str]:
    """Registered retriever names."""
    _load_entry_points()
    return sorted(_REGISTRY)


def get(name: str) -> type[Retriever]:
    """The retriever class registered as ``name``; a clear error listing the known ones otherwise."""
    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        raise EncoderkitError(f"unknown retriever '{name}'", hint=f"known retrievers: {', '.join(names())}")
    return _REGISTRY[name]
