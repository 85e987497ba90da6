"""What a search asks for, in one frozen value carried unchanged from the CLI, the server and the
evaluation harness down to the query pipeline (:func:`encoderkit.retrieval.pipeline.rank`), and which
retrievers a search mode runs (:func:`parse_mode`).

>>> parse_mode("hybrid", ["bm25", "dense"]), parse_mode("dense", ["bm25", "dense"])
(['bm25', 'dense'], ['dense'])
>>> parse_mode("bm25+dense", ["bm25", "dense", "colbert"])
['bm25', 'dense']

>>> o = SearchOptions(mode="bm25", k=5)
>>> o.k, o.depth, o.by, SearchOptions.of(o, k=3).k
(5, 100, 'document', 3)
>>> SearchOptions.of(None, filters=["label=x"]).filters
('label=x',)
>>> SearchOptions(by="page").check()
Traceback (most recent call last):
...
encoderkit.errors.EncoderkitError: unknown result unit 'page'; use 'document' or 'chunk'
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

from ..errors import EncoderkitError
from .fusion import FUSIONS, RRF_K

RERANK_FUSIONS = ("none", "rrf")
UNITS = ("document", "chunk")


@dataclass(frozen=True)
class SearchOptions:
    """One search's settings.

    ``mode``: hybrid (all the index's retrievers fused, each ``depth`` deep) | one retriever (bm25, dense,
    colbert, ...) | several joined by "+". ``k``: results per query. ``by``: document (one hit per
    document, its best chunk) | chunk. ``fusion``: auto | rrf | weighted (score-normalised, per-retriever
    ``weights``; None: the index's default). ``rrf_k``: the RRF constant. With a ``reranker``
    (:func:`encoderkit.models.load_reranker`: a cross-encoder or a ColBERT model, which re-scores from the
    index's stored vectors when they are its own), the top ``rerank_depth`` candidates are re-scored;
    ``rerank_fusion="rrf"`` fuses the reranker's order with the first stage's instead of replacing it.
    ``filters``: ``FIELD=VALUE`` strings such as ``label=sports`` or ``path=docs/*.md`` (see
    :mod:`encoderkit.index.read.filters`).
    """

    mode: str = "hybrid"
    k: int = 10
    depth: int = 100
    by: str = "document"
    rrf_k: int = RRF_K
    fusion: str | None = None
    weights: Mapping[str, float] | None = None
    reranker: Any = field(default=None, compare=False)
    rerank_depth: int = 50
    rerank_fusion: str = "none"
    filters: tuple[str, ...] = ()

    def __post_init__(self):
        if self.filters is None or isinstance(self.filters, str):
            object.__setattr__(self, "filters", () if self.filters is None else (self.filters,))
        elif not isinstance(self.filters, tuple):
            object.__setattr__(self, "filters", tuple(self.filters))

    @classmethod
    def of(cls, options: SearchOptions | None = None, **overrides) -> SearchOptions:
        """``options`` (or the defaults) with ``overrides`` applied; unknown names are errors."""
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown search option(s): {', '.join(sorted(unknown))}")
        base = options if options is not None else cls()
        return replace(base, **overrides) if overrides else base

    def check(self) -> SearchOptions:
        """Itself, if every setting is one the pipeline knows; an EncoderkitError naming the first that is not."""
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise EncoderkitError(f"k must be a positive number of results, got {self.k!r}", hint="pass k >= 1")
        return self.check_ranking()

    def check_ranking(self) -> SearchOptions:
        """Itself, if the settings a ranking reads are known ones (``k`` is applied after ranking)."""
        if self.by not in UNITS:
            raise EncoderkitError(f"unknown result unit '{self.by}'", hint="use 'document' or 'chunk'")
        if self.rerank_fusion not in RERANK_FUSIONS:
            raise EncoderkitError(f"unknown rerank fusion '{self.rerank_fusion}'", hint="use none or rrf")
        if self.fusion is not None and self.fusion not in FUSIONS:
            raise EncoderkitError(f"unknown fusion '{self.fusion}'", hint=f"use one of: {', '.join(FUSIONS)}")
        return self


def parse_mode(mode: str, available: Sequence[str]) -> list[str]:
    """Retriever names a search mode runs: "hybrid" = all of the index's retrievers, "a+b" = those,
    "a" = one. Unknown or absent names are errors listing what the index has."""
    if not isinstance(mode, str) or not mode.strip():
        raise EncoderkitError("empty search mode", hint=f"use hybrid or one of: {', '.join(available)}")
    if mode == "hybrid":
        return list(available)
    names = [m.strip() for m in mode.split("+")]
    for n in names:
        if n in available:
            continue
        if n in _known_retrievers():  # a retriever this index was built without: say how to add it
            have = ", ".join(available)
            raise EncoderkitError(
                f"mode '{mode}': this index has no '{n}' retriever (it has {have})",
                hint=f"add it (encodes only what it needs): encoderkit index DIR... --index INDEX "
                f"--retrievers {','.join([*available, n])}",
            )
        raise EncoderkitError(
            f"unknown search mode '{mode}'" if n == mode else f"mode '{mode}': no retriever is called '{n}'",
            hint=f"use hybrid, one of {', '.join(available)}, or several joined by '+'",
        )
    if len(set(names)) != len(names):
        raise EncoderkitError(f"mode '{mode}' names a retriever twice", hint="name each retriever once")
    return names


def _known_retrievers() -> list[str]:
    from .registry import names

    return names()
