"""How much controlled damage to the input costs: the same queries (or texts, for classifiers) under
perturbations of growing strength (:mod:`.perturbations`), the metric at every level, per pipeline.

Retrieval (:func:`evaluate_robustness`) runs through the evaluation harness
(:func:`encoderkit.evaluation.retrieval.prepare_index` and ``run_pipeline``: same index, same
pipelines, same metric code as ``encoderkit eval retrieval``); only the query texts change. Besides
the query perturbations it reports two slices of the unperturbed run and one corpus-side condition:

- ``rare``: queries whose rarest content word occurs in at most ``rare_df`` corpus documents (the
  "rare terminology" failure of dense retrievers, Thakur et al. 2021, BEIR) vs the other queries;
- ``truncation``: documents embedded whole and truncated at the model's token limit (the BEIR/MTEB
  protocol) vs chunked (the default index), overall and on queries whose relevant documents exceed
  the limit; it builds a second index beside the first (``INDEX-whole``).

Classifiers (:func:`classify_robustness`): any object with ``predict(texts) -> [[{"label", "score"},
...], ...]`` (``encoderkit.tasks.classify.Classifier``), accuracy and macro-F1 per level.

Every random choice comes from :func:`~.perturbations.rng_for` (seed, family, level, item id): the
seeds are recorded, a level is averaged over them (mean and standard deviation), and level 0 is the
unperturbed input, so it reproduces the plain evaluation exactly.

>>> res = evaluate_robustness("../shared/data/scifact", ["bm25", "dense", "hybrid"], out_dir="out/robust")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import EncoderkitError
from .perturbations import mine_abbreviations, parse_perturbations, perturb, read_swap_table, rng_for, term_pattern

DEFAULT_RETRIEVAL = ("typo", "drop", "case", "shuffle", "synonym", "rare")
DEFAULT_CLASSIFY = ("typo", "drop", "case", "shuffle")
SPECIAL = ("rare", "truncation")
DETERMINISTIC = {("case", "lower"), ("case", "upper"), ("case", "title")}
_WORD = re.compile(r"[a-z0-9][a-z0-9\-]+")
STOP = frozenset(
    "the a an and or of in on to for with by at from as is are was were be been being that this these those it its "
    "not no than then there their which who whom whose what when where why how can could may might will would should "
    "does do did has have had into over under between among after before during about more most less least very".split()
)


def split_specs(specs: Sequence[str]) -> tuple[list[tuple[str, list]], set[str]]:
    """(text perturbation families with levels, special conditions among "rare" / "truncation").

    >>> split_specs(["typo:1", "rare"])
    ([('typo', [1])], {'rare'})
    """
    special = {s.strip() for s in specs if s.strip() in SPECIAL}
    return parse_perturbations([s for s in specs if s.strip() not in SPECIAL]), special


def content_words(text: str) -> set[str]:
    """Lower-cased words of 2+ characters that are not stop words.

    >>> sorted(content_words("The role of TNF-alpha in mice"))
    ['mice', 'role', 'tnf-alpha']
    """
    return {w for w in _WORD.findall(text.lower()) if w not in STOP}


def rare_queries(queries: Mapping[str, str], doc_texts: Sequence[str], max_df: int) -> dict[str, int]:
    """query id -> document frequency of its rarest content word that occurs in the corpus, for the
    queries where that is at most ``max_df``.

    >>> rare_queries({"q1": "zebrafish fins", "q2": "cells"}, ["zebrafish fins", "cells fins", "cells"], 1)
    {'q1': 1}
    """
    df: dict[str, int] = {}
    for t in doc_texts:
        for w in content_words(t):
            df[w] = df.get(w, 0) + 1
    out = {}
    for q, text in queries.items():
        seen = [df[w] for w in content_words(text) if w in df]
        if seen and min(seen) <= max_df:
            out[q] = min(seen)
    return out


def run_conditions(
    items: Mapping[str, str],
    families: Sequence[tuple[str, list]],
    seeds: Sequence[int],
    scorer: Callable[[dict[str, str]], dict[str, dict]],
    *,
    table: Mapping[str, Sequence[str]] | None = None,
    show_progress: bool | None = None,
) -> list[dict]:
    """Score every (family, level, seed). ``scorer(texts by id)`` returns {pipeline: {"per_item": {id:
    value}, **extra numbers}}. A condition records how many items changed, the mean over all items and
    over the changed ones (with the unperturbed mean of those same items), per pipeline."""
    from ..runtime import progress_enabled

    base = scorer(dict(items))
    pattern = term_pattern(table) if table else None
    plan = [
        (f, lvl, s) for f, levels in families for lvl in levels for s in seeds if (f, lvl) not in DETERMINISTIC or s == seeds[0]
    ]
    bar = None
    if progress_enabled(show_progress) and plan:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="perturbations", unit="condition")
    out = []
    for family, level, seed in plan:
        texts = {
            i: perturb(t, family, level, rng_for(seed, family, level, i), table=table, pattern=pattern) for i, t in items.items()
        }
        changed = [i for i in items if texts[i] != items[i]]
        scores = base if not changed else scorer(texts)
        row = {"family": family, "level": level, "seed": seed, "changed": len(changed), "n": len(items), "pipelines": {}}
        for name, sc in scores.items():
            per, base_per = sc["per_item"], base[name]["per_item"]
            row["pipelines"][name] = {
                "mean": float(np.mean([per[i] for i in items])),
                "changed_mean": float(np.mean([per[i] for i in changed])) if changed else None,
                "changed_baseline": float(np.mean([base_per[i] for i in changed])) if changed else None,
                **{k: v for k, v in sc.items() if k != "per_item"},
            }
        out.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    unperturbed = {
        name: {"mean": float(np.mean([sc["per_item"][i] for i in items])), **sc} for name, sc in base.items()
    }  # keeps the per-item scores: slices of the unperturbed run are read from them
    return [{"family": "none", "level": 0, "seed": None, "changed": 0, "n": len(items), "pipelines": unperturbed}] + out


def summarize(conditions: list[dict]) -> dict:
    """{family: {level: {pipeline: {mean, std, relative, changed_mean, changed_baseline, seeds}}}} averaged
    over seeds; ``relative`` = mean / unperturbed mean."""
    base = {p: v["mean"] for p, v in conditions[0]["pipelines"].items()}
    groups: dict = {}
    for c in conditions[1:]:
        groups.setdefault(c["family"], {}).setdefault(str(c["level"]), []).append(c)
    out: dict = {}
    for fam, levels in groups.items():
        for lvl, rows in levels.items():
            for p in base:
                vals = [r["pipelines"][p]["mean"] for r in rows]
                ch = [r["pipelines"][p]["changed_mean"] for r in rows if r["pipelines"][p]["changed_mean"] is not None]
                cb = [r["pipelines"][p]["changed_baseline"] for r in rows if r["pipelines"][p]["changed_baseline"] is not None]
                out.setdefault(fam, {}).setdefault(lvl, {})[p] = {
                    "mean": round(float(np.mean(vals)), 4),
                    "std": round(float(np.std(vals)), 4),
                    "relative": round(float(np.mean(vals)) / base[p], 4) if base[p] else None,
                    "changed_fraction": round(float(np.mean([r["changed"] / r["n"] for r in rows])), 4),
                    "changed_mean": round(float(np.mean(ch)), 4) if ch else None,
                    "changed_baseline": round(float(np.mean(cb)), 4) if cb else None,
                    "seeds": [r["seed"] for r in rows],
                }
    return out


def _swap_table(swap_list, texts_for_mining: Callable[[], Sequence[str]]) -> tuple[dict, str]:
    if swap_list:
        return read_swap_table(swap_list), str(swap_list)
    return mine_abbreviations(texts_for_mining()), "abbreviations mined from the corpus (Schwartz & Hearst 2003)"


# ---------------------------------------------------------------------------- retrieval
def evaluate_robustness(
    data_dir: str | Path,
    pipelines: Sequence[str],
    *,
    out_dir: str | Path,
    perturbations: Sequence[str] = DEFAULT_RETRIEVAL,
    seeds: Sequence[int] = (0,),
    split: str = "test",
    index_dir: str | Path | None = None,
    model: str | None = None,
    n_queries: int | None = None,
    metric: str = "ndcg@10",
    depth: int = 100,
    rrf_k: int = 60,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    rebuild: bool = False,
    swap_list: str | Path | None = None,
    rare_df: int = 3,
    rerank_model: str | None = None,
    rerank_depth: int = 50,
    show_progress: bool | None = None,
) -> dict:
    """Run the robustness evaluation; writes results.json, results.md and PNG plots to ``out_dir``."""
    from ..data.corpora.beir import load_beir
    from ..data.files.sources import SourceDoc, read_file
    from ..retrieval.metrics import METRICS, evaluate
    from ..retrieval.options import SearchOptions
    from .machine import machine_info
    from .retrieval import parse_pipeline, pipeline_retrievers, prepare_index, run_pipeline

    t0 = time.perf_counter()
    if metric not in METRICS:
        raise EncoderkitError(f"unknown metric '{metric}'", hint=f"use one of: {', '.join(METRICS)}")
    if not seeds:
        raise EncoderkitError("no seeds given", hint="pass --seed N (repeat for several)")
    families, special = split_specs(perturbations)
    parsed = [parse_pipeline(p) for p in pipelines]
    reranker = None
    if any(r for _, r in parsed):
        if not rerank_model:
            raise EncoderkitError("a '+rerank' pipeline needs a cross-encoder", hint="pass --rerank-model DIR")
        from ..models.heads.cross_encoder import Reranker

        reranker = Reranker.load(rerank_model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_beir(data_dir, split).subset(n_queries)
    needed = pipeline_retrievers([m for m, _ in parsed])
    index, info = prepare_index(
        data,
        Path(index_dir) if index_dir else out / "index",
        model=model,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        rebuild=rebuild,
        retrievers=needed,
        show_progress=show_progress,
    )
    corpus: dict[str, str] = {}

    def corpus_texts() -> list[str]:
        if not corpus:
            for d in read_file(data.corpus_path):
                if isinstance(d, SourceDoc):
                    corpus[d.doc_id] = f"{d.title}\n{d.text}" if d.title else d.text
        return list(corpus.values())

    def scorer_for(idx, doc_ids):
        def score(texts: dict[str, str]) -> dict:
            sub = dataclasses.replace(data, queries={q: texts[q] for q in data.queries})
            res = {}
            for spec, (first, rerank) in zip(pipelines, parsed):
                options = SearchOptions(
                    mode=first, depth=depth, rrf_k=rrf_k, reranker=reranker if rerank else None, rerank_depth=rerank_depth
                )
                r = run_pipeline(idx, sub, options, doc_ids=doc_ids, show_progress=False)
                scored = evaluate(data.qrels, {q: [d for d, _ in hits] for q, hits in r["run"].items()}, metrics=(metric,))
                res[spec] = {"per_item": {q: v[metric] for q, v in scored["per_query"].items()}}
            return res

        return score

    table, table_source = ({}, None)
    if any(f == "synonym" for f, _ in families):
        table, table_source = _swap_table(swap_list, corpus_texts)
    conditions = run_conditions(
        data.queries, families, list(seeds), scorer_for(index, index.doc_ids()), table=table, show_progress=show_progress
    )
    base = conditions[0]["pipelines"]
    results = {
        "task": "retrieval",
        "dataset": str(data_dir),
        "split": split,
        "n_queries": len(data.queries),
        "metric": metric,
        "seeds": list(seeds),
        "pipelines": list(pipelines),
        "perturbations": [{"family": f, "levels": lv} for f, lv in families] + [{"family": s} for s in sorted(special)],
        "index": {k: info[k] for k in ("path", "documents", "chunks", "model", "chunking")},
        "baseline": {p: round(v["mean"], 4) for p, v in base.items()},
        "summary": summarize(conditions),
        "conditions": conditions,
        "swap_table": {"source": table_source, "terms": len(table)} if table_source else None,
        "slices": {},
        "machine": machine_info(),
    }
    if "rare" in special:
        rare = rare_queries(data.queries, corpus_texts(), rare_df)
        base_scores = {p: v["per_item"] for p, v in base.items()}
        results["slices"]["rare"] = _slice_scores(base_scores, set(rare))
        results["slices"]["rare"].update(max_df=rare_df, examples={q: data.queries[q] for q in list(rare)[:5]})
    if "truncation" in special:
        chunked = {p: v["per_item"] for p, v in base.items()}
        results["truncation"] = _truncation(data, index, info, chunked, scorer_for, show_progress)
    index.close()
    results["eval_seconds"] = round(time.perf_counter() - t0, 1)
    _write(results, out)
    return results


def _per_item(scorer_for, index, data) -> dict:
    return {p: v["per_item"] for p, v in scorer_for(index, index.doc_ids())(dict(data.queries)).items()}


def _slice_scores(base_scores: dict, members: set) -> dict:
    """Unperturbed metric of a slice of queries vs the rest, per pipeline."""
    out = {"n": len(members), "pipelines": {}}
    for p, per in base_scores.items():
        inside = [v for q, v in per.items() if q in members]
        rest = [v for q, v in per.items() if q not in members]
        out["pipelines"][p] = {
            "slice": round(float(np.mean(inside)), 4) if inside else None,
            "rest": round(float(np.mean(rest)), 4) if rest else None,
            "all": round(float(np.mean(list(per.values()))), 4),
        }
    return out


def _truncation(data, index, info, chunked, scorer_for, show_progress) -> dict:
    """Whole documents truncated at the model's limit vs the chunked index, overall and on queries whose
    relevant documents are longer than the limit."""
    from ..index.storage.model import model_spec
    from .retrieval import prepare_index

    limit = int(info["model"]["max_length"])
    chunked_dir = Path(info["path"])  # the second index goes beside the first, never into the results folder
    whole, whole_info = prepare_index(
        data,
        chunked_dir.with_name(chunked_dir.name + "-whole"),
        model=model_spec(info["model"]),
        chunk_size=0,
        retrievers=[r["name"] for r in info["retrievers"]],
        show_progress=show_progress,
    )
    from ..data.files.sources import SourceDoc, read_file

    texts = {
        d.doc_id: (f"{d.title}\n{d.text}" if d.title else d.text) for d in read_file(data.corpus_path) if isinstance(d, SourceDoc)
    }
    judged = sorted({d for q in data.qrels.values() for d, g in q.items() if g > 0})
    counts = dict(zip(judged, index.encoder.count_tokens([texts[d] for d in judged])))
    long_q = {q for q, rel in data.qrels.items() if any(counts.get(d, 0) > limit - 2 for d, g in rel.items() if g > 0)}
    truncated = _per_item(scorer_for, whole, data)
    whole.close()
    res = {"token_limit": limit, "queries_with_long_relevant_docs": len(long_q), "pipelines": {}}
    for p in chunked:
        res["pipelines"][p] = {
            "chunked": round(float(np.mean(list(chunked[p].values()))), 4),
            "truncated": round(float(np.mean(list(truncated[p].values()))), 4),
            "chunked_long": round(float(np.mean([chunked[p][q] for q in long_q])), 4) if long_q else None,
            "truncated_long": round(float(np.mean([truncated[p][q] for q in long_q])), 4) if long_q else None,
        }
    res["whole_index"] = {k: whole_info[k] for k in ("path", "documents", "chunks")}
    return res


# ---------------------------------------------------------------------------- classification
def classify_robustness(
    classifiers: Mapping[str, object],
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    out_dir: str | Path,
    perturbations: Sequence[str] = DEFAULT_CLASSIFY,
    seeds: Sequence[int] = (0,),
    swap_list: str | Path | None = None,
    dataset: str = "",
    show_progress: bool | None = None,
) -> dict:
    """Accuracy (per item) and macro-F1 of each classifier under the perturbations of ``texts``."""
    from sklearn.metrics import f1_score

    from .machine import machine_info

    if len(texts) != len(labels) or not texts:
        raise EncoderkitError("classify robustness needs as many labels as texts (and at least one)")
    if not seeds:
        raise EncoderkitError("no seeds given", hint="pass --seed N (repeat for several)")
    families, special = split_specs(perturbations)
    if special:
        raise EncoderkitError(f"{', '.join(sorted(special))} apply to retrieval only", hint="leave them out with --task classify")
    items = {str(i): t for i, t in enumerate(texts)}
    gold = {str(i): str(y) for i, y in enumerate(labels)}

    def score(batch: dict[str, str]) -> dict:
        ids = list(items)
        res = {}
        for name, clf in classifiers.items():
            preds = clf.predict([batch[i] for i in ids])
            top = [str(max(p, key=lambda x: x["score"])["label"]) if p else "" for p in preds]
            res[name] = {
                "per_item": {i: float(t == gold[i]) for i, t in zip(ids, top)},
                "macro_f1": round(float(f1_score([gold[i] for i in ids], top, average="macro")), 4),
            }
        return res

    table, table_source = ({}, None)
    if any(f == "synonym" for f, _ in families):
        table, table_source = _swap_table(swap_list, lambda: list(texts))
    t0 = time.perf_counter()
    conditions = run_conditions(items, families, list(seeds), score, table=table, show_progress=show_progress)
    results = {
        "task": "classify",
        "dataset": dataset,
        "n_texts": len(texts),
        "metric": "accuracy",
        "seeds": list(seeds),
        "pipelines": list(classifiers),
        "perturbations": [{"family": f, "levels": lv} for f, lv in families],
        "baseline": {p: round(v["mean"], 4) for p, v in conditions[0]["pipelines"].items()},
        "summary": summarize(conditions),
        "conditions": conditions,
        "swap_table": {"source": table_source, "terms": len(table)} if table_source else None,
        "slices": {},
        "machine": machine_info(),
        "eval_seconds": round(time.perf_counter() - t0, 1),
    }
    _write(results, Path(out_dir))
    return results


def _write(results: dict, out: Path) -> None:
    from .robustness_report import plot_robustness, robustness_markdown

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(robustness_markdown(results))
    plot_robustness(results, out)
