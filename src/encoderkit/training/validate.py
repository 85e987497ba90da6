"""Validation during training: small, fast, and on held-out data only.

- retrieval (bi-encoders): held-out queries ranked against a reduced corpus (their judged documents,
  BM25 candidates of each query, and random distractors), nDCG@10 / MRR@10 / Recall@100 by trec_eval;
- scored pairs: Spearman of cosine vs gold;
- reranking: each held-out query's BM25 top candidates re-scored, nDCG@10 of the result.
"""

from __future__ import annotations

import random
from typing import Callable, Mapping

import numpy as np

from ..data.corpora.pairs import TrainingData


def validation_corpus(
    val: TrainingData, corpus: Mapping[str, str], size: int, seed: int = 0, bm25_depth: int = 10
) -> dict[str, str]:
    """Judged documents of the held-out queries + their BM25 top ``bm25_depth`` + random distractors."""
    from ..retrieval.bm25s_index import BM25Index

    ids = list(corpus)
    keep: dict[str, None] = {}
    for p in val.pairs:
        keep[p.positive_id] = None
    qids = sorted({p.query_id for p in val.pairs})
    bm25 = BM25Index.build([corpus[i] for i in ids])
    for pos, _ in bm25.search_many([val.queries[q] for q in qids], bm25_depth):
        for p in pos:
            keep[ids[p]] = None
    rest = [i for i in ids if i not in keep]
    random.Random(seed).shuffle(rest)
    for i in rest[: max(0, size - len(keep))]:
        keep[i] = None
    return {i: corpus[i] for i in keep}


def ir_validator(
    val: TrainingData, corpus: Mapping[str, str], encode: Callable[[list[str]], np.ndarray], *, size: int = 1000, seed: int = 0
) -> Callable[[], dict]:
    """nDCG@10 etc. of held-out queries over a reduced corpus, encoded afresh at each call."""
    from ..retrieval.metrics import evaluate

    sub = validation_corpus(val, corpus, size, seed)
    ids = list(sub)
    qids = sorted({p.query_id for p in val.pairs})
    qrels = {q: {d: g for d, g in val.qrels[q].items() if d in sub} for q in qids}

    def run() -> dict:
        dv = encode([sub[i] for i in ids])
        qv = encode([val.queries[q] for q in qids])
        top = np.argsort(-(qv @ dv.T), axis=1)[:, :100]
        res = evaluate(
            qrels, {q: [ids[j] for j in row] for q, row in zip(qids, top)}, metrics=("ndcg@10", "mrr@10", "recall@100")
        )["mean"]
        return {k: round(v, 4) for k, v in res.items()} | {"val_queries": len(qids), "val_corpus": len(ids)}

    return run


def pair_validator(val: TrainingData, encode: Callable[[list[str]], np.ndarray]) -> Callable[[], dict]:
    """Without a corpus: rank each held-out query's positive among all held-out positives (MRR@10)."""
    from ..retrieval.metrics import evaluate

    texts = list(dict.fromkeys(p.positive for p in val.pairs))
    pos_id = {t: f"p{i}" for i, t in enumerate(texts)}
    queries = list(dict.fromkeys(p.query for p in val.pairs))
    qrels: dict[str, dict[str, int]] = {}
    for p in val.pairs:
        qrels.setdefault(f"q{queries.index(p.query)}", {})[pos_id[p.positive]] = 1

    def run() -> dict:
        dv, qv = encode(texts), encode(queries)
        top = np.argsort(-(qv @ dv.T), axis=1)[:, :100]
        res = evaluate(qrels, {f"q{i}": [f"p{j}" for j in row] for i, row in enumerate(top)}, metrics=("ndcg@10", "mrr@10"))[
            "mean"
        ]
        return {k: round(v, 4) for k, v in res.items()}

    return run


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [n, d] arrays.

    >>> cosine_rows(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [-1.0, -1.0]])).round(3).tolist()
    [1.0, -1.0]
    """
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return (a * b).sum(axis=1)


def sts_validator(val: TrainingData, encode: Callable[[list[str]], np.ndarray]) -> Callable[[], dict]:
    from scipy.stats import pearsonr, spearmanr

    def run() -> dict:
        a = encode([s.a for s in val.scored])
        b = encode([s.b for s in val.scored])
        cos = cosine_rows(a, b)
        gold = np.array([s.score for s in val.scored])
        return {
            "spearman": round(float(spearmanr(cos, gold).statistic), 4),
            "pearson": round(float(pearsonr(cos, gold).statistic), 4),
        }

    return run


def rerank_validator(
    val: TrainingData, corpus: Mapping[str, str], score: Callable[[list[tuple[str, str]]], np.ndarray], *, depth: int = 20
) -> Callable[[], dict]:
    """Re-score each held-out query's BM25 top ``depth`` and report nDCG@10 (BM25's own nDCG@10 over
    the same candidates is returned once, as the bar to beat)."""
    from ..retrieval.bm25s_index import BM25Index
    from ..retrieval.metrics import evaluate

    ids = list(corpus)
    qids = sorted({p.query_id for p in val.pairs})
    bm25 = BM25Index.build([corpus[i] for i in ids])
    cands = {q: [ids[p] for p in pos] for q, (pos, _) in zip(qids, bm25.search_many([val.queries[q] for q in qids], depth))}
    qrels = {q: dict(val.qrels[q]) for q in qids}
    base = evaluate(qrels, cands, metrics=("ndcg@10",))["mean"]["ndcg@10"]

    def run() -> dict:
        pairs = [(val.queries[q], corpus[d]) for q in qids for d in cands[q]]
        scores = score(pairs)
        run_, k = {}, 0
        for q in qids:
            s = scores[k : k + len(cands[q])]
            k += len(cands[q])
            run_[q] = [cands[q][i] for i in np.argsort(-s, kind="stable")]
        res = evaluate(qrels, run_, metrics=("ndcg@10", "mrr@10"))["mean"]
        return {k_: round(v, 4) for k_, v in res.items()} | {"bm25_ndcg@10": round(base, 4), "depth": depth}

    return run
