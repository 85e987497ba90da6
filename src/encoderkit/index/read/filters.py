"""Search filters: restrict results to documents whose path, metadata or annotations match.

``FIELD=VALUE`` strings, combined with AND across fields and OR within one field:

- ``path=GLOB``: the document's path (absolute, or relative to the working directory; a pattern without
  a leading ``/`` or ``*`` also matches at any depth);
- ``meta.KEY=VALUE``: the document's own metadata (e.g. a BEIR record's ``metadata``);
- anything else: a value an index-time annotator produced (``label=sports``, ``entity=PER:obama``).

Values compare case-insensitively.

>>> [(f.field, f.values) for f in parse_filters(["label=sports", "label=tech", "path=docs/*.md"])]
[('label', ('sports', 'tech')), ('path', ('docs/*.md',))]
>>> path_matches("/home/u/docs/a.md", "docs/*.md"), path_matches("/home/u/a.txt", "*.md")
(True, False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from ..storage.store import VISIBLE


@dataclass(frozen=True)
class Filter:
    field: str
    values: tuple[str, ...]


def parse_filters(specs: Sequence[str] | None) -> list[Filter]:
    """Parse ``FIELD=VALUE`` strings into filters (one per field, its values OR-ed)."""
    by_field: dict[str, list[str]] = {}
    for spec in specs or []:
        if not isinstance(spec, str) or "=" not in spec:
            raise EncoderkitError(f"bad filter {spec!r}", hint="write FIELD=VALUE, e.g. label=sports or path=docs/*.md")
        field, value = (s.strip() for s in spec.split("=", 1))
        if not field or not value:
            raise EncoderkitError(f"bad filter {spec!r}", hint="write FIELD=VALUE with both parts non-empty")
        by_field.setdefault(field, []).append(value)
    return [Filter(f, tuple(v)) for f, v in by_field.items()]


def path_matches(path: str, pattern: str) -> bool:
    """Whether a document path matches a glob (absolute, relative to the working directory, or at any depth)."""
    if not path:
        return False
    candidates = [path]
    try:
        candidates.append(os.path.relpath(path))
    except ValueError:
        pass
    patterns = [pattern] if pattern.startswith(("/", "*")) else [pattern, "*/" + pattern]
    return any(fnmatch(c, p) for c in candidates for p in patterns)


def check_fields(filters: Sequence[Filter], known: set[str]) -> None:
    """Raise a clear error for a filter on a field no document of the index has (a typo, or labels never
    stored): an empty result would look like "nothing matched".

    >>> check_fields([Filter("path", ("*.md",)), Filter("label", ("x",))], {"label"})
    >>> check_fields([Filter("label", ("sports",))], {"meta.year"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    encoderkit.errors.EncoderkitError: no document of this index has a 'label' field (fields here: path, meta.year); ...
    """
    for f in filters:
        if f.field == "path" or f.field in known:
            continue
        fields = ", ".join(["path", *sorted(known)])
        if f.field.startswith("meta."):
            hint = "meta.KEY filters a document's own metadata (e.g. the 'metadata' of a BEIR record)"
        else:
            hint = "labels and entities are stored at index time: encoderkit index ... --classify MODEL or --extract MODEL"
        raise EncoderkitError(f"no document of this index has a {f.field!r} field (fields here: {fields})", hint=hint)


def allowed_documents(store, gen: int, filters: Sequence[Filter], check: bool = True) -> np.ndarray | None:
    """Sorted row ids of the documents visible at ``gen`` that pass every filter; None without filters.
    ``check``: a filter on a field no visible document has is an error (see :func:`check_fields`)."""
    if not filters:
        return None
    if check:
        check_fields(filters, store.filter_fields(gen))
    allowed: set[int] | None = None
    for f in filters:
        if f.field == "path":
            rows = store.conn.execute(f"SELECT d.id, d.path FROM documents d WHERE {VISIBLE}", {"g": gen})
            match = {r[0] for r in rows if any(path_matches(r[1], p) for p in f.values)}
        elif f.field.startswith("meta."):
            match = store.documents_with_meta(gen, f.field[5:], f.values)
        else:
            match = store.documents_with_values(gen, f.field, [v.lower() for v in f.values])
        allowed = match if allowed is None else allowed & match
    return np.array(sorted(allowed or ()), dtype=np.int64)
