"""``encoderkit tune fusion``: fit an index's fusion rule on a user's labelled queries, say what it gains
over the rule the index has and how sure that is, and store it.

The stage rankings of every query are computed once (``depth`` deep); every candidate rule
(:func:`~encoderkit.retrieval.fusion_rule.candidate_rules`) is then scored on them without searching
again. The figure reported is cross-validated (:func:`~encoderkit.retrieval.fusion_fit.cross_validate`:
each query scored by a rule chosen without it), with a paired bootstrap interval of the gain per query
(:func:`~encoderkit.retrieval.fusion_fit.bootstrap_ci`); the rule stored is the one chosen on all queries.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import EncoderkitError
from ..retrieval.fusion_fit import Sample, bootstrap_ci, choose_rule, cross_validate, rule_scores, single_scores
from ..retrieval.fusion_rule import FusionRule, candidate_rules
from ..retrieval.options import SearchOptions
from .calibrate import stored_rule

MIN_TUNING_QUERIES = 10


def labelled_samples(
    index,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    depth: int = 100,
    stages: Sequence[str] | None = None,
) -> tuple[list[str], list[Sample]]:
    """Each judged query's stage rankings (document row ids) with its judgements as row ids; the query
    ids in the same order. Queries without a judged document in the index are left out."""
    stages = list(stages or index.retrievers)
    row_of = {doc_id: row for row, doc_id in index.doc_ids().items()}
    qids = [q for q in queries if any(row_of.get(d) is not None and g > 0 for d, g in (qrels.get(q) or {}).items())]
    if not qids:
        raise EncoderkitError(
            "no labelled query judges a document of this index", hint="check that the qrels name this index's document ids"
        )
    rankings = index.rank_many([queries[q] for q in qids], SearchOptions(mode="+".join(stages), depth=depth))
    samples = [
        Sample(dict(r.stages), {row_of[d]: int(g) for d, g in qrels[q].items() if d in row_of}) for q, r in zip(qids, rankings)
    ]
    return qids, samples


def tune_fusion(
    index, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], *, folds: int = 5, seed: int = 0
) -> tuple[FusionRule, dict]:
    """The rule fitted on all the labelled queries (``source`` "tuned"), and a report: per-query-mean nDCG@10
    of each single stage, of the index's current rule and of the tuned one cross-validated, the gain over
    the current rule with a 95% bootstrap interval, and the rule each fold chose."""
    stages = list(index.retrievers)
    if len(stages) < 2:
        raise EncoderkitError(
            f"this index has one retriever ({stages[0]}): there is nothing to fuse", hint="add one: --retrievers bm25,dense"
        )
    qids, samples = labelled_samples(index, queries, qrels)
    if len(samples) < MIN_TUNING_QUERIES:
        raise EncoderkitError(
            f"{len(samples)} labelled queries are too few to tune on",
            hint=f"give at least {MIN_TUNING_QUERIES} (50 or more to trust the gain)",
        )
    from ..retrieval.pipeline import fusion_rule_for

    current = stored_rule(index.manifest) or fusion_rule_for(SearchOptions(), stages)
    rules = candidate_rules(stages)
    cv = cross_validate(samples, rules, folds=folds, seed=seed)
    now = rule_scores(current, samples)
    gain = cv["per_query"] - now
    lo, hi = bootstrap_ci(gain, seed=seed)
    rule, _ = choose_rule(samples, rules)
    report = {
        "queries": len(samples),
        "folds": min(folds, len(samples)),
        "ndcg@10": {
            **{name: round(float(single_scores(name, samples).mean()), 4) for name in stages},
            f"current ({current.source}: {current.describe()})": round(float(now.mean()), 4),
            "tuned (cross-validated)": round(cv["mean"], 4),
        },
        "gain": round(float(gain.mean()), 4),
        "gain_ci95": [round(lo, 4), round(hi, 4)],
        "folds_chose": cv["chosen"],
        "rule": rule.describe(),
        "seed": seed,
    }
    figures = {"queries": len(samples), "cv_ndcg@10": report["ndcg@10"]["tuned (cross-validated)"], "gain": report["gain"],
               "gain_ci95": report["gain_ci95"], "chunks": int(index.snapshot().n_chunks)}  # fmt: skip
    return rule.with_(source="tuned", figures=figures), report


def per_query_table(samples: Sequence[Sample], rules: Mapping[str, FusionRule]) -> dict[str, np.ndarray]:
    """nDCG@10 per query for each named rule and each single stage (benchmarks and ablations)."""
    out = {name: single_scores(name, samples) for name in samples[0].rankings} if samples else {}
    out.update({label: rule_scores(rule, samples) for label, rule in rules.items()})
    return out
