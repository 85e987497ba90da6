"""The query pipeline over one committed generation: first stages -> per-document collapse -> fusion ->
optional reranking. Works over any set of registered retrievers; every ranking it returns carries the
:class:`Snapshot` it was computed on, so results are always read from that same generation. What a
search asks for is a :class:`~.options.SearchOptions`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import EncoderkitError
from ..runtime.threads import cpu_count
from .base import IndexContext, Retriever
from .fusion import DEFAULT_FUSION, resolve_fusion
from .fusion_rule import FusionRule
from .options import RERANK_FUSIONS, SearchOptions, parse_mode  # noqa: F401  (re-exported)
from .ranking import QueryRanking, Ranked, best_first, collapse, fuse, tie_keys
from .registry import get


@dataclass
class Snapshot:
    """The loaded search artifacts of one generation: its chunks (ids ascending, with their document
    row ids; deleted chunks of segments included, ``live`` counts the others) and one loaded retriever
    per name (for a segmented index, a :class:`~encoderkit.retrieval.segmented.SegmentedRetriever`)."""

    gen: int
    chunk_ids: np.ndarray
    chunk_docs: np.ndarray
    retrievers: dict[str, Retriever]
    n_docs: int = 0
    doc_rows: np.ndarray | None = None  # document row ids, ascending ...
    doc_ties: np.ndarray | None = None  # ... and each one's place among equal scores (ranking.tie_keys)
    live: int | None = None  # chunks searchable (None: all of chunk_ids)
    lease: object = None  # the generation's reader lease (see encoderkit.index.storage.leases), held while in use
    segments: list = None  # the loaded segments (index layer), for reuse by the next snapshot

    def set_tie_order(self, rows: np.ndarray) -> None:
        """Document row ids in trec_eval's order among equal scores (descending document id)."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        self.doc_rows = rows[order]
        self.doc_ties = order.astype(np.int64)

    def set_doc_ids(self, doc_ids: dict[int, str]) -> None:
        """Document row id -> document id of this generation: equal scores are then ordered by document
        id the way trec_eval orders them (see :mod:`encoderkit.retrieval.ranking`)."""
        rows = np.array(sorted(doc_ids), dtype=np.int64)
        self.doc_rows = rows
        self.doc_ties = np.asarray(tie_keys([doc_ids[int(r)] for r in rows]), dtype=np.int64)

    def ties_of(self, docs: np.ndarray) -> np.ndarray:
        """Tie keys of document row ids (their row ids when document ids are not known)."""
        docs = np.asarray(docs, dtype=np.int64)
        if self.doc_rows is None or not len(self.doc_rows):
            return docs
        pos = np.clip(np.searchsorted(self.doc_rows, docs), 0, len(self.doc_rows) - 1)
        return self.doc_ties[pos]

    @classmethod
    def load(cls, directory: Path, gen: int, retrievers: Sequence[dict], context: IndexContext) -> Snapshot:
        """Load ``directory`` (a ``gen-XXXXXX`` folder); ``retrievers`` are the manifest's entries
        ({"name", "settings"}); each loads from ``directory/<name>``."""
        chunk_ids = np.load(directory / "chunk_ids.npy", allow_pickle=False)
        chunk_docs = np.load(directory / "chunk_docs.npy", allow_pickle=False)
        if chunk_ids.shape != chunk_docs.shape or chunk_ids.ndim != 1:
            raise ValueError("chunk_ids.npy and chunk_docs.npy disagree")
        loaded = {}
        for entry in retrievers:
            r = get(entry["name"])(entry.get("settings") or {}, context)
            r.load(directory / entry["name"], chunk_ids)
            loaded[entry["name"]] = r
        n_docs = int(len(np.unique(chunk_docs))) if len(chunk_docs) else 0
        return cls(gen, chunk_ids, chunk_docs, loaded, n_docs)

    @property
    def n_chunks(self) -> int:
        return int(len(self.chunk_ids)) if self.live is None else int(self.live)

    def docs_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        """Document row ids of chunks of this generation."""
        return self.chunk_docs[np.searchsorted(self.chunk_ids, np.asarray(chunk_ids, dtype=np.int64))]


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def parallel_stages(n_stages: int) -> bool:
    """Whether a search runs its first stages at once, one thread each: when there are several and the
    process may use more than one core (``ENCODERKIT_PARALLEL_STAGES=0`` turns it off).

    >>> parallel_stages(1)
    False
    """
    if n_stages < 2 or os.environ.get("ENCODERKIT_PARALLEL_STAGES", "1") == "0":
        return False
    return cpu_count() > 1


def _stage_pool() -> ThreadPoolExecutor:
    """One process-wide pool for the first stages of searches (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="encoderkit-stage")
        return _POOL


def fetch_depth(depth: int, snap: Snapshot, by: str) -> int:
    """How many chunks to fetch so that, usually, ``depth`` distinct documents come back."""
    if by == "chunk" or snap.n_docs == 0:
        return min(depth, snap.n_chunks)
    ratio = snap.n_chunks / snap.n_docs
    return min(snap.n_chunks, int(math.ceil(depth * ratio * 1.3)) + 10)


def stage_rankings(
    retriever: Retriever,
    queries: Sequence[str],
    encoded,
    snap: Snapshot,
    depth: int,
    by: str,
    allowed_docs: np.ndarray | None = None,
) -> list[Ranked]:
    """Rank documents (or chunks) for each query with one first-stage retriever, ``depth`` deep;
    with ``allowed_docs`` (sorted document row ids), only chunks of those documents count."""
    fetch = fetch_depth(depth, snap, by)
    while True:
        raw = retriever.search(queries, fetch, encoded)
        out = []
        for ids, sc in raw:
            docs = snap.docs_of(ids)
            if allowed_docs is not None:
                keep = np.isin(docs, allowed_docs)
                ids, sc, docs = ids[keep], sc[keep], docs[keep]
            out.append(collapse(ids, sc, docs, by, snap.ties_of(docs)))
        short = [i for i, (r, (ids, _)) in enumerate(zip(out, raw)) if len(r) < depth and len(ids) >= fetch]
        if not short or fetch >= snap.n_chunks:
            break
        fetch = min(snap.n_chunks, fetch * 2)  # a few documents had many matching chunks: dig deeper
    return [r.head(depth) for r in out]


def rank(
    snap: Snapshot | None,
    queries: Sequence[str],
    stages: Sequence[str],
    options: SearchOptions | None = None,
    *,
    chunk_texts: Callable[[list[int]], dict[int, str]] | None = None,
    allowed_docs: np.ndarray | None = None,
    default_rule: FusionRule | None = None,
) -> list[QueryRanking]:
    """Run the pipeline for each query. ``stages``: retriever names (see :func:`parse_mode`); more
    than one are fused by :func:`fusion_rule_for`: the index's calibrated or tuned ``default_rule`` unless
    the options name a fusion or weights. A reranker (anything
    with ``score(query, passages)``) re-scores the top ``rerank_depth`` candidates: from vectors a
    retriever stores when one can (:meth:`Retriever.rerank_scores`, e.g. a ColBERT model over its own
    index), otherwise on their best chunk's indexed text (``chunk_texts``). ``allowed_docs``: restrict
    results to these document row ids (search filters). ``options.k`` is not applied here: a ranking
    holds ``depth`` candidates."""
    o = (options or SearchOptions()).check_ranking()
    depth, by = o.depth, o.by
    reranker, rerank_depth, rerank_fusion = o.reranker, o.rerank_depth, o.rerank_fusion
    rule = fusion_rule_for(o, stages, default_rule)
    queries = list(queries)
    for q in queries:
        if not isinstance(q, str) or not q.strip():
            raise EncoderkitError("empty query", hint="pass a non-empty query string")
    if snap is None or snap.n_chunks == 0 or (allowed_docs is not None and not len(allowed_docs)):
        empty = Ranked([], [], [])
        return [QueryRanking(empty, {s: empty for s in stages}, {}, snap) for _ in queries]
    timings: dict[str, float] = {"encode_query": 0.0}
    per_stage = {}

    def run_stage(name: str) -> tuple[list[Ranked], float, float]:
        retriever = snap.retrievers[name]
        t = time.perf_counter()
        encoded = retriever.encode_queries(queries)
        encode_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        ranked = stage_rankings(retriever, queries, encoded, snap, depth, by, allowed_docs)
        return ranked, encode_ms, (time.perf_counter() - t) * 1000

    if parallel_stages(len(stages)):  # the stages overlap: numpy, faiss and ONNX Runtime release the GIL
        done = dict(zip(stages, _stage_pool().map(run_stage, stages)))
    else:
        done = {name: run_stage(name) for name in stages}
    for name in stages:
        per_stage[name], encode_ms, timings[name] = done[name]
        timings["encode_query"] += encode_ms
    out = []
    for i, query in enumerate(queries):
        stage_r = {s: per_stage[s][i] for s in stages}
        t = time.perf_counter()
        final, explained = rule.apply(stage_r, explain=True) if len(stages) > 1 else (stage_r[stages[0]], None)
        q_timings = {**{k: v / len(queries) for k, v in timings.items()}, "fuse": (time.perf_counter() - t) * 1000}
        if reranker is not None:
            t = time.perf_counter()
            final, stage_r["rerank"] = rerank_head(
                query, final, reranker, rerank_depth, rerank_fusion, o.rrf_k, chunk_texts, snap=snap
            )
            q_timings["rerank"] = (time.perf_counter() - t) * 1000
        out.append(QueryRanking(final, stage_r, q_timings, snap, explained))
    return out


def fusion_rule_for(o: SearchOptions, stages: Sequence[str], default_rule: FusionRule | None = None) -> FusionRule:
    """How a search fuses its stages: the index's own rule (``default_rule``, calibrated or tuned for
    exactly these retrievers) when the options name no fusion (or ``auto``) and no weights; otherwise,
    and for an index without a rule (built before calibration existed), the fixed rule of
    :func:`~.fusion.resolve_fusion` with the given weights or each retriever's default
    (``fusion_weight`` for RRF, ``weighted_fusion_weight`` for weighted fusion).

    >>> fusion_rule_for(SearchOptions(), ["bm25", "dense"]).describe()
    'rrf (bm25 1, dense 1)'
    >>> own = FusionRule("weighted", {"bm25": 0.2, "dense": 0.8}, source="calibrated")
    >>> fusion_rule_for(SearchOptions(), ["bm25", "dense"], own).source
    'calibrated'
    >>> fusion_rule_for(SearchOptions(fusion="rrf"), ["bm25", "dense"], own).source
    'override'
    """
    asked = o.fusion not in (None, "auto") or o.weights is not None
    if not asked and default_rule is not None and set(default_rule.weights) == set(stages):
        return default_rule
    method = resolve_fusion(o.fusion or DEFAULT_FUSION, any(getattr(get(name), "late_interaction", False) for name in stages))
    weights = o.weights
    if weights is None:  # each retriever's default weight (see retrieval.fusion for how they were chosen)
        attr = "weighted_fusion_weight" if method == "weighted" else "fusion_weight"
        weights = {name: float(getattr(get(name), attr)) for name in stages}
    for name, w in (weights or {}).items():  # weights of retrievers a search does not run are ignored
        get(name)  # ... but a name that is no retriever at all is an error (a typo)
        if not isinstance(w, (int, float)) or w < 0:
            raise EncoderkitError(f"fusion weight {name}={w!r} is not a number >= 0")
    weights = {name: float(weights.get(name, 1.0)) for name in stages}  # unnamed: 1, as always
    return FusionRule(method, weights, rrf_k=o.rrf_k, source="override" if asked else "default")


def stored_scores(snap: Snapshot | None, query: str, chunk_ids: list[int], reranker) -> np.ndarray | None:
    """Reranker scores computed by one of the snapshot's retrievers from what it stores, if any can."""
    if snap is None:
        return None
    for retriever in snap.retrievers.values():
        scores = retriever.rerank_scores(query, chunk_ids, reranker)
        if scores is not None:
            return np.asarray(scores, dtype=np.float32)
    return None


def rerank_head(
    query: str,
    first: Ranked,
    reranker,
    depth: int,
    fusion: str,
    rrf_k: int,
    chunk_texts: Callable[[list[int]], dict[int, str]],
    snap: Snapshot | None = None,
) -> tuple[Ranked, Ranked]:
    """Re-score the top ``depth`` candidates on their best chunk (from stored vectors when the snapshot
    has the reranker's own, else from the chunk texts); the rest keep their first-stage order after
    them. With ``fusion="rrf"`` the head is ordered by RRF of first-stage and reranker ranks."""
    head = first.head(depth)
    chunk_ids = [int(c) for c in head.best_chunk]
    scores = stored_scores(snap, query, chunk_ids, reranker)
    if scores is None:
        texts = chunk_texts(chunk_ids)
        scores = np.asarray(reranker.score(query, [texts.get(c, "") for c in chunk_ids]), dtype=np.float32)
    ties = head.ties if head.ties is not None else head.keys
    order = best_first(scores, ties)  # equal scores: by document id, as everywhere
    reranked = Ranked(
        [head.keys[i] for i in order],
        [float(scores[i]) for i in order],
        [head.best_chunk[i] for i in order],
        [ties[i] for i in order],
    )
    top = fuse({"first": head, "rerank": reranked}, k=rrf_k) if fusion == "rrf" else reranked
    n = len(head)
    rest_ties = first.ties[n:] if first.ties is not None else first.keys[n:]
    final = Ranked(
        top.keys + first.keys[n:],
        top.scores + first.scores[n:],
        top.best_chunk + first.best_chunk[n:],
        list(top.ties or top.keys) + list(rest_ties),
    )
    return final, reranked
