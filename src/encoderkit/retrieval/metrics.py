"""Retrieval metrics through pytrec_eval (the trec_eval code, compiled), and TREC run files.

trec_eval orders a query's documents by score (in single precision) and breaks ties by document id,
which can disagree with the order a pipeline produced. :func:`strict_scores` lowers tied or
near-tied scores by tiny steps so that trec_eval, run here or on the written run file, sees exactly
the pipeline's order.

>>> qrels = {"q": {"a": 1, "b": 0}}
>>> evaluate(qrels, {"q": ["b", "a"]})["mean"]["mrr@10"]
0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

# our name -> (trec_eval measure, key in its output, cutoff applied to the run first)
METRICS = {
    "ndcg@10": ("ndcg_cut.10", "ndcg_cut_10", None),
    "mrr@10": ("recip_rank", "recip_rank", 10),  # trec_eval's recip_rank has no cutoff: truncate the run
    "recall@10": ("recall.10", "recall_10", None),
    "recall@100": ("recall.100", "recall_100", None),
    "map@100": ("map_cut.100", "map_cut_100", None),
}
CURVE_KS = (1, 2, 3, 5, 10, 20, 30, 50, 100)


def strict_scores(ranked: Sequence[str], scores: Sequence[float] | None = None) -> dict[str, float]:
    """doc -> score, strictly decreasing in the given order.

    trec_eval compares scores in single precision, so a score closer than ~1e-6 (relative) to the one
    before it, or tied with it, is lowered to ``prev - max(1e-6 * |prev|, 1e-6)``.
    """
    out: dict[str, float] = {}
    prev = None
    for i, doc in enumerate(ranked):
        s = float(scores[i]) if scores is not None else float(len(ranked) - i)
        if prev is not None:
            step = max(abs(prev) * 1e-6, 1e-6)
            if s > prev - step:
                s = prev - step
        out[doc] = s
        prev = s
    return out


def _as_run(run: Mapping[str, Sequence[str] | Mapping[str, float]], cutoff: int | None) -> dict[str, dict[str, float]]:
    out = {}
    for q, docs in run.items():
        if isinstance(docs, Mapping):
            ranked = sorted(docs, key=lambda d: -docs[d])
            scores = [docs[d] for d in ranked]
        else:
            ranked, scores = list(docs), None
        if cutoff is not None:
            ranked, scores = ranked[:cutoff], (scores[:cutoff] if scores is not None else None)
        out[q] = strict_scores(ranked, scores)
    return out


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping,
    metrics: Sequence[str] = tuple(METRICS),
) -> dict:
    """Mean and per-query metrics. ``run``: query -> ranked doc ids (best first) or doc -> score.

    Every query in ``qrels`` counts (a query the run misses scores 0, like ``trec_eval -c``); grades
    >= 1 are relevant for binary measures, nDCG uses the grades as gains.
    """
    import pytrec_eval

    per_query: dict[str, dict[str, float]] = {q: {} for q in qrels}
    for cutoff in {METRICS[m][2] for m in metrics}:
        names = [m for m in metrics if METRICS[m][2] == cutoff]
        evaluator = pytrec_eval.RelevanceEvaluator(dict(qrels), {METRICS[m][0] for m in names})
        scored = evaluator.evaluate(_as_run(run, cutoff))
        for q in qrels:
            for m in names:
                per_query[q][m] = float(scored.get(q, {}).get(METRICS[m][1], 0.0))
    mean = {m: float(np.mean([per_query[q][m] for q in qrels])) for m in metrics}
    return {"mean": mean, "per_query": per_query}


def recall_curve(qrels: Mapping, run: Mapping, ks: Sequence[int] = CURVE_KS) -> dict[int, float]:
    """Recall@k for each k (mean over all judged queries), from trec_eval's recall measure."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(dict(qrels), {"recall." + ",".join(str(k) for k in ks)})
    scored = evaluator.evaluate(_as_run(run, None))
    return {k: float(np.mean([scored.get(q, {}).get(f"recall_{k}", 0.0) for q in qrels])) for k in ks}


def candidate_recall(qrels: Mapping, candidates: Mapping[str, Sequence[str]]) -> float:
    """Share of relevant documents that appear anywhere in each query's candidate set (mean over
    queries): the ceiling a later stage (fusion, reranking) can reach."""
    return recall_curve(qrels, {q: list(c) for q, c in candidates.items()}, ks=(100_000,))[100_000]


def write_run(path: Path, run: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> None:
    """TREC run file: ``qid Q0 docid rank score tag``; scores made strictly decreasing (see above)."""
    with open(path, "w", encoding="utf-8") as fh:
        for q, hits in run.items():
            strict = strict_scores([d for d, _ in hits], [s for _, s in hits])
            for rank, (doc, score) in enumerate(strict.items(), start=1):
                fh.write(f"{q} Q0 {doc} {rank} {score:.12f} {tag}\n")


def read_run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in open(path, encoding="utf-8"):
        q, _, doc, _, score, _ = line.split()
        run.setdefault(q, {})[doc] = float(score)
    return run


def ndcg_at(ranked: Sequence, relevant: Mapping, k: int = 10) -> float:
    """nDCG@k of one ranking (keys best first) against graded judgements {key: grade}, as trec_eval's
    ``ndcg_cut`` computes it (gain = grade, discount log2(rank + 1), ideal from the judged grades): a pure
    function for loops that score thousands of rankings (fusion fitting), where a pytrec_eval call per
    ranking would dominate.

    >>> round(ndcg_at(["b", "a"], {"a": 1}), 4), ndcg_at(["a"], {"a": 2, "c": 0}), ndcg_at(["x"], {})
    (0.6309, 1.0, 0.0)
    """
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    dcg = sum(relevant.get(key, 0) / np.log2(i + 2) for i, key in enumerate(list(ranked)[:k]) if relevant.get(key, 0) > 0)
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return float(dcg / idcg)
