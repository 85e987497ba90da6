"""Index-time annotators: document-level metadata computed when documents are indexed (a classifier's
labels, a tagger's entities, ...), stored with the index and used by search filters.

An annotator is a class with a ``name``, settings, a ``key()`` saying what produced its output (e.g.
the model's fingerprint), ``annotate(docs) -> one JSON dict per document`` and
``filter_values(annotation) -> {field: [values]}`` (what ``--filter field=value`` matches). The index runs
every configured annotator on new or changed documents and back-fills documents that lack its
annotation under the current key, so adding one to an existing index re-encodes nothing. Annotators
are plug-ins (:mod:`encoderkit.runtime.plugins`): the built-in ones live above the index (in
``encoderkit.tasks``) and are found, like any installed package's, through the ``encoderkit.annotators``
entry-point group (declared in ``pyproject.toml``); others register with :func:`register_annotator`.

>>> reconstruct_text([(0, 5, "Hello"), (7, 12, "world")])
'Hello  world'
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Sequence

from ...errors import EncoderkitError
from ...runtime.plugins import Plugin, Registry

ANNOTATORS = Registry("annotator", "encoderkit.annotators")


class Annotator(Plugin):
    """Base class of index-time annotators (see the module docstring)."""

    plugin_kind: ClassVar[str] = "annotator"

    def __init__(self, settings: dict):
        self.settings = dict(settings)

    def key(self) -> str:
        """Identifies what :meth:`annotate` computes; annotations stored under another key are redone."""
        return ""

    def annotate(self, docs: Sequence[Any]) -> list[dict]:
        """One JSON-serialisable dict per document (``docs``: SourceDoc-like, with title, text, path, meta)."""
        raise NotImplementedError

    def filter_values(self, annotation: dict) -> dict[str, list[str]]:
        """What filters match for one document's annotation, e.g. {"label": ["sports"]}."""
        return {}


register_annotator = ANNOTATORS.register
unregister_annotator = ANNOTATORS.unregister
get_annotator = ANNOTATORS.get


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
