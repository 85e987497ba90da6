"""The BM25 variants as small pure functions: an inverse document frequency ``idf(df, n)`` and a term
frequency component ``tfc(tf, dl, avgdl)`` per variant; a term's score in a document is their product.

Written by hand because the index scores segments with *collection-wide* statistics (document
frequencies, document count and average length summed over segments, deleted documents left out),
which bm25s' eager score matrices cannot do: they bake one collection's statistics into every entry.
The formulas, names and numerical conventions are bm25s' (``bm25s/scoring.py``), so one segment scores
exactly like ``bm25s.BM25`` over the same texts (``tests/agreement/test_bm25_agreement.py``):

- ``robertson``: Robertson, Walker, Jones, Hancock-Beaulieu & Gatford, *Okapi at TREC-3* (1994);
  idf ``log((n - df + 0.5) / (df + 0.5))`` clamped at 0;
- ``lucene``: Lucene's BM25 (idf ``log(1 + (n - df + 0.5) / (df + 0.5))``, never negative);
- ``atire``: Trotman, Jia & Crane, *Towards an efficient and effective search engine* (2012):
  idf ``log(n / df)``, tfc with ``(k1 + 1)`` in the numerator;
- ``bm25l``: Lv & Zhai, *When documents are very long, BM25 fails!* (SIGIR 2011);
- ``bm25+``: Lv & Zhai, *Lower-bounding term frequency normalization* (CIKM 2011).

All five as compared by Kamphuis, de Vries, Boytsov & Lin, *Which BM25 do you mean? A large-scale
reproducibility study of scoring variants* (ECIR 2020). BM25L and BM25+ give a document that lacks a
query term a positive score (``tfc(0) > 0``): :func:`absent_score` is that constant per term.

>>> round(idf("lucene", df=1, n=10), 4), round(idf("robertson", df=9, n=10), 4)
(1.9924, 0.0)
>>> round(float(tfc("lucene", 2.0, 10, 10.0, k1=1.5, b=0.75)), 4)
0.5714
>>> round(float(tfc("atire", 2.0, 10, 10.0, k1=1.5, b=0.75)), 4)
1.4286
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
ABSENT_SCORING = ("bm25l", "bm25+")  # variants where a document without the term still scores


def idf_robertson(df: float, n: float) -> float:
    inner = (n - df + 0.5) / (df + 0.5)
    return math.log(max(inner, 1.0))


def idf_lucene(df: float, n: float) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def idf_atire(df: float, n: float) -> float:
    return math.log(n / df)


def idf_bm25l(df: float, n: float) -> float:
    return math.log((n + 1) / (df + 0.5))


def idf_bm25plus(df: float, n: float) -> float:
    return math.log((n + 1) / df)


def tfc_robertson(tf, dl, avgdl, k1, b, delta=None):
    return tf / (k1 * ((1 - b) + b * dl / avgdl) + tf)


def tfc_atire(tf, dl, avgdl, k1, b, delta=None):
    return (tf * (k1 + 1)) / (tf + k1 * (1 - b + b * dl / avgdl))


def tfc_bm25l(tf, dl, avgdl, k1, b, delta):
    c = tf / (1 - b + b * dl / avgdl)
    return ((k1 + 1) * (c + delta)) / (k1 + c + delta)


def tfc_bm25plus(tf, dl, avgdl, k1, b, delta):
    return ((k1 + 1) * tf) / (k1 * (1 - b + b * dl / avgdl) + tf) + delta


_IDF = {"lucene": idf_lucene, "robertson": idf_robertson, "atire": idf_atire, "bm25l": idf_bm25l, "bm25+": idf_bm25plus}
_TFC = {"lucene": tfc_robertson, "robertson": tfc_robertson, "atire": tfc_atire, "bm25l": tfc_bm25l, "bm25+": tfc_bm25plus}


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown BM25 variant {method!r}; use one of {', '.join(METHODS)}")
    return method


def idf(method: str, df: float, n: float) -> float:
    """Inverse document frequency of a term in ``df`` of ``n`` documents (float64)."""
    return _IDF[check_method(method)](df, n)


def tfc(method: str, tf, dl, avgdl: float, *, k1: float, b: float, delta: float = 0.5):
    """Term frequency component for term counts ``tf`` in documents of length ``dl`` (arrays or numbers)."""
    return _TFC[check_method(method)](tf, dl, avgdl, k1, b, delta)


def idf32(method: str, df: float, n: float) -> np.float32:
    """The idf as bm25s keeps it: computed in float64, stored in float32."""
    return np.float32(idf(method, df, n))


def absent_score(method: str, df: float, n: float, avgdl: float, *, k1: float, b: float, delta: float) -> np.float32:
    """What a document without the term scores for it (0 except for BM25L / BM25+), in float32 as bm25s
    keeps it (its "non-occurrence" array; the document length cancels out for both variants).

    >>> float(absent_score("lucene", 3, 10, 5.0, k1=1.5, b=0.75, delta=0.5))
    0.0
    >>> round(float(absent_score("bm25+", 3, 10, 5.0, k1=1.5, b=0.75, delta=0.5)), 4)
    0.6496
    """
    if method not in ABSENT_SCORING:
        return np.float32(0.0)
    return np.float32(idf(method, df, n) * tfc(method, 0, avgdl, avgdl, k1=k1, b=b, delta=delta))


def term_scores(
    method: str,
    idf_value: np.float32,
    absent: np.float32,
    tf: np.ndarray,
    dl: np.ndarray,
    avgdl: float,
    *,
    k1: float,
    b: float,
    delta: float,
) -> np.ndarray:
    """float32 scores of one term in the documents that contain it (term counts ``tf``, lengths ``dl``),
    computed the way bm25s fills its score matrix: float32 idf times a float64 tfc, minus the term's
    :func:`absent_score` (which every document gets back at query time), rounded to float32.

    >>> term_scores("lucene", np.float32(2.0), np.float32(0.0), np.array([2]), np.array([10]), 10.0, k1=1.5, b=0.75, delta=0.5)
    array([1.1428572], dtype=float32)
    """
    t = tfc(method, np.asarray(tf, dtype=np.float32), np.asarray(dl, dtype=np.int64), np.float64(avgdl), k1=k1, b=b, delta=delta)
    s = np.float64(idf_value) * np.asarray(t, dtype=np.float64)
    if method in ABSENT_SCORING:
        s = s - np.float64(absent)
    return s.astype(np.float32)
