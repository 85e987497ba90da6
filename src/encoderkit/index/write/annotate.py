"""Index-time annotators: document-level metadata computed when documents are indexed (a classifier's
labels, a tagger's entities, ...), stored with the index and used by search filters.

An annotator is a class with a ``name``, settings, a ``key()`` saying what produced its output (e.g.
the model's fingerprint), ``annotate(docs) -> one JSON dict per document`` and
``filter_values(annotation) -> {field: [values]}`` (what ``--filter field=value`` matches). The index runs
every configured annotator on new or changed documents and back-fills documents that lack its
annotation under the current key, so adding one to an existing index re-encodes nothing. Built-in
annotators live above the index (in ``encoderkit.tasks``) and are found by name through
:data:`BUILTIN` (imported on first use); others register with :func:`register_annotator` or the
``encoderkit.annotators`` entry-point group.

>>> reconstruct_text([(0, 5, "Hello"), (7, 12, "world")])
'Hello  world'
"""

from __future__ import annotations

import importlib
import json
from typing import Any, ClassVar, Sequence

from ...errors import EncoderkitError

BUILTIN = {"classify": "encoderkit.tasks.classify.annotator", "entities": "encoderkit.tasks.extract.annotator"}
_REGISTRY: dict[str, type[Annotator]] = {}


class Annotator:
    """Base class of index-time annotators (see the module docstring)."""

    name: ClassVar[str] = ""

    def __init__(self, settings: dict):
        self.settings = dict(settings)

    @classmethod
    def default_settings(cls) -> dict:
        return {}

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        """Validated settings; unknown keys are errors."""
        unknown = set(settings) - set(cls.default_settings())
        if unknown:
            raise EncoderkitError(
                f"unknown {cls.name} annotator setting(s): {', '.join(sorted(unknown))}",
                hint=f"known: {', '.join(sorted(cls.default_settings())) or 'none'}",
            )
        return {**cls.default_settings(), **settings}

    def key(self) -> str:
        """Identifies what :meth:`annotate` computes; annotations stored under another key are redone."""
        return ""

    def annotate(self, docs: Sequence[Any]) -> list[dict]:
        """One JSON-serialisable dict per document (``docs``: SourceDoc-like, with title, text, path, meta)."""
        raise NotImplementedError

    def filter_values(self, annotation: dict) -> dict[str, list[str]]:
        """What filters match for one document's annotation, e.g. {"label": ["sports"]}."""
        return {}


def register_annotator(cls: type[Annotator]) -> type[Annotator]:
    """Register an Annotator subclass under ``cls.name``."""
    if not cls.name or not cls.name.replace("-", "_").isidentifier():
        raise ValueError(f"annotator name {cls.name!r} must be a non-empty identifier")
    _REGISTRY[cls.name] = cls
    return cls


def unregister_annotator(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_annotator(name: str) -> type[Annotator]:
    """The annotator class called ``name`` (built-in, registered, or from an entry point)."""
    if name not in _REGISTRY and name in BUILTIN:
        try:
            importlib.import_module(BUILTIN[name])
        except ImportError as exc:
            raise EncoderkitError(
                f"annotator '{name}' is not available ({exc})", hint="check the installation of encoderkit"
            ) from None
    if name not in _REGISTRY:
        from importlib.metadata import entry_points

        for ep in entry_points(group="encoderkit.annotators"):
            if ep.name == name:
                register_annotator(ep.load())
    if name not in _REGISTRY:
        known = sorted(set(_REGISTRY) | set(BUILTIN))
        raise EncoderkitError(f"unknown annotator '{name}'", hint=f"known annotators: {', '.join(known)}")
    return _REGISTRY[name]


def annotator_entries(names: Sequence[str], settings: dict[str, dict] | None = None, previous: Sequence[dict] = ()) -> list[dict]:
    """Manifest entries ({"name", "settings"}), settings checked by each annotator, starting from the
    previous entry of the same name and overridden by ``settings[name]``."""
    old = {e["name"]: e.get("settings") or {} for e in previous}
    return [
        {"name": n, "settings": get_annotator(n).check_settings({**old.get(n, {}), **(settings or {}).get(n, {})})} for n in names
    ]


def reconstruct_text(chunks: Sequence[tuple[int, int, str]]) -> str:
    """A document's text rebuilt from its stored chunks ((start, end, text), offsets into the original):
    every character a chunk covers is exact, characters between chunks (whitespace, markup) become
    spaces, so offsets into the result are offsets into the original."""
    out: list[str] = []
    pos = 0
    for start, end, text in sorted(chunks):
        if start > pos:
            out.append(" " * (start - pos))
            pos = start
        if end > pos:
            out.append(text[pos - start :])
            pos = end
    return "".join(out)


def annotate_missing(
    store, annotators: Sequence[Annotator], gen: int, fresh: dict | None = None, *, group: int = 64, progress=None
) -> int:
    """Annotate every document visible at ``gen`` that lacks an annotator's output under its current key;
    returns how many annotations were written. ``fresh``: doc_id -> SourceDoc of documents read in this
    update (their exact text is used); others are rebuilt from their stored chunks. Saved per group of
    ``group`` documents, so an interrupted run resumes."""
    from ...data.files.sources import SourceDoc

    fresh = fresh or {}
    todo = {a.name: store.docs_missing_annotation(gen, a.name, a.key()) for a in annotators}
    total = sum(len(v) for v in todo.values())
    if not total:
        return 0
    if progress is not None:
        progress.reset(total=total)
        progress.set_description("annotating documents")
    for a in annotators:
        rows = todo[a.name]
        for i in range(0, len(rows), group):
            part = rows[i : i + group]
            meta = store.documents_by_rowid(part)
            spans = store.chunk_spans(part)
            docs = []
            for r in part:
                row = meta[r]
                src = fresh.get(row["doc_id"])
                if src is None or src.content_hash != row["content_hash"]:
                    src = SourceDoc(
                        doc_id=row["doc_id"],
                        text=reconstruct_text(spans[r]),
                        title=row["title"],
                        path=row["path"],
                        fmt=row["fmt"],
                        content_hash=row["content_hash"],
                        meta=json.loads(row["meta"] or "{}"),
                    )
                docs.append(src)
            results = a.annotate(docs)
            if len(results) != len(docs):
                raise EncoderkitError(f"annotator {a.name} returned {len(results)} results for {len(docs)} documents")
            store.put_annotations(a.name, a.key(), [(r, res, a.filter_values(res)) for r, res in zip(part, results)])
            if progress is not None:
                progress.update(len(part))
    return total
