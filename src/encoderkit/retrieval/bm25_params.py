"""BM25 settings and text analysis (bm25s' tokenizer: lower-casing, its word pattern, English stop
words, the Snowball stemmer from PyStemmer). Documents and queries go through the same analysis.

>>> analyze(["The cats are running!"], BM25Params())
[['cat', 'run']]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence


@dataclass(frozen=True)
class BM25Params:
    """Scoring variant and text analysis. ``method``: lucene | robertson | atire | bm25l | bm25+."""

    method: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float = 0.5  # bm25l / bm25+ only
    stemmer: str | None = "english"
    stopwords: str | None = "en"
    lower: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BM25Params:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@lru_cache(maxsize=4)
def stemmer(name: str | None):
    if not name:
        return None
    import Stemmer

    return Stemmer.Stemmer(name)


def tokenize(texts: Sequence[str], params: BM25Params, *, return_ids: bool):
    import bm25s

    return bm25s.tokenize(
        list(texts),
        lower=params.lower,
        stopwords=params.stopwords,
        stemmer=stemmer(params.stemmer),
        return_ids=return_ids,
        show_progress=False,
    )


def analyze(texts: Sequence[str], params: BM25Params) -> list[list[str]]:
    """Each text's terms, in order, repeats kept."""
    return tokenize(texts, params, return_ids=False)
