"""BM25 over chunk texts: bm25s' analysis (tokenizer, stop words, stemmer), per-segment postings
(:mod:`.postings`) scored by hand with collection-wide statistics (:mod:`.bm25_variants`).

Defaults follow bm25s' BEIR setup: Lucene BM25 (k1=1.5, b=0.75), lower-casing, English stop words and
the Snowball English stemmer (PyStemmer). A segmented index scores every segment with the statistics of
all its live chunks — document frequencies, chunk count and average length summed over segments,
deleted chunks left out — so a chunk's score is exactly what one index over the live chunks gives it,
however the chunks are spread over segments (the "distributed frequencies" of Lucene's
``DFS_QUERY_THEN_FETCH``): phase 1 sums :meth:`BM25Retriever.statistics` over segments (or shards),
phase 2 scores each segment with the sum.

Folders written before segments (bm25s' own matrices, formats 1 and 2) are still read, through
:mod:`.bm25s_index`, until the index's next update migrates them.

>>> from encoderkit.retrieval.base import ChunkSet, IndexContext
>>> r = BM25Retriever({}, IndexContext(None, {}))
>>> r.build(ChunkSet(np.array([10, 11]), np.array([1, 2]), ["the cat sat", "dogs run fast"]))
>>> ids, scores = r.search(["running dogs"], k=1)[0]
>>> ids.tolist(), round(float(scores[0]), 4)
([11], 0.5087)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import bm25_variants as variants
from .base import ChunkSet, Retriever, SegmentPart, top_k
from .bm25_params import BM25Params, analyze, tokenize
from .postings import Postings, hashes_of, merge
from .registry import register

__all__ = ["BM25Params", "BM25Retriever", "analyze"]


def collection_of(stats: dict) -> tuple[int, float]:
    """(documents, average length) of summed statistics."""
    n = int(stats.get("documents", 0))
    return n, (float(stats.get("length", 0)) / n if n else 0.0)


@register
class BM25Retriever(Retriever):
    """Lexical retrieval over chunk texts (title header included)."""

    name = "bm25"
    collection_statistics = True
    skips_deleted = True
    calibration_weight = 0.4  # its base weight in a calibrated fusion rule, chosen on dev queries (docs/fusion.md)

    def __init__(self, settings: dict, context):
        super().__init__(settings, context)
        self.params = BM25Params.from_dict(self.settings)
        variants.check_method(self.params.method)
        self.postings: Postings | None = None
        self.legacy = None  # a bm25s index from before segments
        self.ids = np.zeros(0, np.int64)

    @classmethod
    def default_settings(cls) -> dict:
        return BM25Params().to_dict()

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        checked = super().check_settings(settings)
        if checked["method"] not in variants.METHODS:
            from ..errors import EncoderkitError

            raise EncoderkitError(
                f"unknown BM25 variant '{checked['method']}'", hint=f"use one of: {', '.join(variants.METHODS)}"
            )
        return checked

    # ------------------------------------------------------------------ indexing time
    def build(self, chunks: ChunkSet) -> None:
        tok = tokenize(chunks.texts, self.params, return_ids=True) if len(chunks) else None
        if tok is None:
            self.postings = Postings.from_ids([], [])
        else:
            vocab = [""] * len(tok.vocab)
            for term, i in tok.vocab.items():
                vocab[i] = term
            self.postings = Postings.from_ids(tok.ids, vocab)
        self.ids = np.asarray(chunks.ids, dtype=np.int64)

    def save(self, directory: Path) -> None:
        self.postings.save(directory)

    def merge(self, parts: Sequence[SegmentPart], directory: Path, chunks) -> None:
        """Join the segments' postings (live chunks only) without re-tokenizing anything."""
        loaded = []
        for part in parts:
            r = BM25Retriever(self.settings, self.context)
            r.load(part.directory, part.chunk_ids)
            if r.legacy is not None:  # bm25s matrices hold no term counts: analyse the texts again
                return super().merge(parts, directory, chunks)
            loaded.append((r.postings, part.live))
        merge(loaded, directory)

    def verify(self, directory: Path, chunk_ids: np.ndarray) -> list[str]:
        from .bm25s_index import BM25Index, is_bm25s_folder, matrix_problems

        if is_bm25s_folder(directory):
            if not len(chunk_ids):
                return []
            return matrix_problems(BM25Index.load(directory, self.params, len(chunk_ids)).retriever.scores, len(chunk_ids))
        p = Postings.load(directory, deep=True)
        if p.n_docs != len(chunk_ids):
            return [f"postings hold {p.n_docs} chunks, the segment {len(chunk_ids)}"]
        return []

    # ------------------------------------------------------------------ query time
    def load(self, directory: Path, chunk_ids: np.ndarray) -> None:
        from .bm25s_index import BM25Index, is_bm25s_folder, matrix_problems

        self.ids = np.asarray(chunk_ids, dtype=np.int64)
        directory = Path(directory)
        if is_bm25s_folder(directory) or (not len(self.ids) and not (directory / "postings.json").is_file()):
            self.legacy = BM25Index.load(directory, self.params, len(self.ids))
            if self.legacy.retriever is not None:
                problems = matrix_problems(self.legacy.retriever.scores, len(self.ids))
                if problems:  # never serve results from a damaged matrix
                    raise ValueError(problems[0])
            return
        self.postings = Postings.load(directory)
        if self.postings.n_docs != len(self.ids):
            raise ValueError(f"postings hold {self.postings.n_docs} chunks, the segment {len(self.ids)}")

    def encode_queries(self, queries: Sequence[str]) -> Any:
        return analyze(queries, self.params)

    def statistics(self, encoded: Any, live: np.ndarray | None = None) -> dict:
        """What this segment adds to the collection's statistics for these analysed queries: live chunks,
        their total length, and each query term's live document frequency (all additive)."""
        p = self.postings
        if p is None:  # a pre-segment index: one segment, its own statistics are the collection's
            return {}
        terms = sorted({t for q in encoded for t in q})
        found = p.lookup(terms, hashes_of(terms))
        df = {}
        for term, t in zip(terms, found.tolist()):
            if t >= 0:
                n = p.df(t, live)
                if n:
                    df[term] = n
        if live is None:
            return {"documents": p.n_docs, "length": p.total_length, "df": df}
        return {
            "documents": int(np.count_nonzero(live)),
            "length": int(np.asarray(p.lengths)[live].sum(dtype=np.int64)),
            "df": df,
        }

    def search(
        self, queries: Sequence[str], k: int, encoded: Any = None, *, live: np.ndarray | None = None, stats: dict | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.legacy is not None:
            return [(self.ids[pos], sc) for pos, sc in self.legacy.search_many(list(queries), k)]
        encoded = encoded if encoded is not None else self.encode_queries(queries)
        if stats is None:  # this segment alone is the collection
            stats = self.statistics(encoded, live)
        return [self._search_one(q, k, live, stats) for q in encoded]

    def _search_one(self, terms: list[str], k: int, live, stats: dict) -> tuple[np.ndarray, np.ndarray]:
        p, prm = self.postings, self.params
        n, avgdl = collection_of(stats)
        dfs = stats.get("df") or {}
        present = [t for t in terms if dfs.get(t, 0) > 0]  # terms of the collection, in query order, repeats kept
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        if not present or not p.n_docs:
            return empty
        idf = {t: variants.idf32(prm.method, dfs[t], n) for t in set(present)}
        absent = {
            t: variants.absent_score(prm.method, dfs[t], n, avgdl, k1=prm.k1, b=prm.b, delta=prm.delta) for t in set(present)
        }
        acc = np.zeros(p.n_docs, dtype=np.float32)
        unique = sorted(set(present))
        where = dict(zip(unique, p.lookup(unique).tolist()))
        cache: dict[str, tuple] = {}
        lengths = p.lengths
        for t in present:  # float32 accumulation in query order, like bm25s
            if where[t] < 0:
                continue
            if t not in cache:
                docs, tfs = p.postings(where[t])
                docs = np.asarray(docs)
                s = variants.term_scores(
                    prm.method, idf[t], absent[t], np.asarray(tfs), lengths[docs], avgdl, k1=prm.k1, b=prm.b, delta=prm.delta
                )
                cache[t] = (docs, s)
            docs, s = cache[t]
            acc[docs] += s
        base = np.array([absent[t] for t in present], dtype=np.float32).sum()
        if base != 0:
            acc += base
            cand = np.arange(p.n_docs) if live is None else np.flatnonzero(live)
        else:
            cand = np.flatnonzero(acc)
            if live is not None:
                cand = cand[live[cand]]
        scores = acc[cand]
        keep = scores > 0
        cand, scores = cand[keep], scores[keep]
        pos, sc = top_k(scores, cand, k)
        return self.ids[pos], sc

    def score_texts(
        self, queries: Sequence[str], encoded: Any, texts: Sequence[str], stats: dict | None = None
    ) -> np.ndarray | None:
        """BM25 of each text for its query with the collection's statistics, summed the way ``search``
        sums a chunk's (query terms of the collection, in order, repeats kept, float32).

        >>> from encoderkit.retrieval.base import ChunkSet, IndexContext
        >>> r = BM25Retriever({}, IndexContext(None, {}))
        >>> r.build(ChunkSet(np.array([10, 11]), np.array([1, 2]), ["the cat sat", "dogs run fast"]))
        >>> enc = r.encode_queries(["running dogs"])
        >>> round(float(r.score_texts(["running dogs"], enc, ["dogs run fast"], r.statistics(enc))[0]), 4)
        0.5087
        """
        if self.legacy is not None or (stats is None and self.postings is None):
            return None  # a pre-segment index (bm25s scores it), or no statistics to score with
        prm = self.params
        stats = stats if stats is not None else self.statistics(encoded)
        n, avgdl = collection_of(stats)
        if not n:
            return None
        dfs = stats.get("df") or {}
        out = np.zeros(len(texts), dtype=np.float32)
        for i, (terms, toks) in enumerate(zip(encoded, analyze(list(texts), prm))):
            present = [t for t in terms if dfs.get(t, 0) > 0]
            counts: dict[str, int] = {}
            for t in toks:
                counts[t] = counts.get(t, 0) + 1
            total = np.float32(0)
            for t in present:
                idf = variants.idf32(prm.method, dfs[t], n)
                absent = variants.absent_score(prm.method, dfs[t], n, avgdl, k1=prm.k1, b=prm.b, delta=prm.delta)
                total += absent
                if counts.get(t):
                    tf, dl = np.array([counts[t]]), np.array([len(toks)])
                    total += variants.term_scores(prm.method, idf, absent, tf, dl, avgdl, k1=prm.k1, b=prm.b, delta=prm.delta)[0]
            out[i] = total
        return out

    def footprint(self, directory: Path) -> dict:
        """Postings are memory-mapped (paged in per query term); lengths and the vocabulary are read."""
        directory = Path(directory)
        sizes = {f.name: f.stat().st_size for f in directory.iterdir() if f.is_file()}
        mapped = sum(sizes.get(n, 0) for n in ("postings_docs.npy", "postings_tfs.npy", "term_hashes.npy"))
        disk = sum(sizes.values())
        return {"disk": disk, "memory": disk - mapped, "mapped": mapped}

    def stats(self) -> dict:
        n = self.postings.n_docs if self.postings is not None else int(len(self.ids))
        out = {"chunks": n, "params": self.params.to_dict()}
        if self.postings is not None:
            out.update(terms=self.postings.n_terms, postings=int(len(self.postings.docs)))
        return out
