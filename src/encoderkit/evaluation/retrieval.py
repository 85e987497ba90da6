"""Evaluate retrieval pipelines stage by stage on a BEIR data set, with the main index engine.

For every pipeline: quality (nDCG@10, MRR@10, Recall@10/100, MAP@100 via trec_eval), the candidate
recall of each first stage at the depth that feeds fusion (the ceiling it sets), per-query latency
(one query at a time, model loaded, query encoding included), plus index build cost and memory.
Documents score as their best chunk (max-passage); the chunking used is recorded with the results.

>>> res = evaluate_retrieval("../shared/data/scifact", ["bm25", "dense", "hybrid"], out_dir="out/scifact")  # doctest: +SKIP
>>> res["pipelines"]["hybrid"]["metrics"]["ndcg@10"]                                                       # doctest: +SKIP
0.70...
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.corpora.beir import BeirData, load_beir
from ..errors import EncoderkitError
from ..retrieval.fusion import DEFAULT_FUSION
from ..retrieval.metrics import CURVE_KS, candidate_recall, evaluate, recall_curve, write_run
from ..retrieval.options import SearchOptions
from .machine import machine_info, peak_rss_mb

RERANK_STAGES = ("rerank", "rerank-rrf")


def parse_pipeline(spec: str) -> tuple[str, str | None]:
    """A pipeline spec -> (search mode, rerank stage or None). The mode is "hybrid", one retriever name,
    or several joined by "+"; a final "+rerank" re-scores with the cross-encoder, "+rerank-rrf" fuses
    its order with the first stage's (RRF) instead of replacing it.

    >>> parse_pipeline("hybrid+rerank"), parse_pipeline("bm25+dense"), parse_pipeline("dense")
    (('hybrid', 'rerank'), ('bm25+dense', None), ('dense', None))
    """
    parts = [p.strip() for p in spec.split("+")]
    rerank = parts.pop() if parts and parts[-1] in RERANK_STAGES else None
    from ..retrieval.registry import names

    known = names()
    if not parts or any(p not in known and p != "hybrid" for p in parts) or ("hybrid" in parts and len(parts) > 1):
        raise EncoderkitError(
            f"unknown pipeline '{spec}'",
            hint=f"use hybrid or retrievers ({', '.join(known)}) joined by '+', optionally followed by +rerank or +rerank-rrf",
        )
    return "+".join(parts), rerank


def pipeline_retrievers(modes: Sequence[str]) -> list[str]:
    """Retrievers the pipelines need besides the defaults ("hybrid" needs none in particular)."""
    out: list[str] = []
    for mode in modes:
        for name in mode.split("+"):
            if name != "hybrid" and name not in out:
                out.append(name)
    return out


def prepare_index(
    data: BeirData,
    index_dir: Path,
    *,
    model: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    rebuild: bool = False,
    retrievers: Sequence[str] = (),
    retriever_settings: dict[str, dict] | None = None,
    show_progress: bool | None = None,
    titles: str | None = None,
    corpus_path: Path | None = None,
    n_documents: int | None = None,
):
    """Open (or build) the index of ``data``'s corpus holding at least ``retrievers`` (with
    ``retriever_settings``, e.g. the ColBERT model); incremental, so an up-to-date index costs a hash
    check. ``corpus_path``: the corpus file to index (default: the data set's own; a sample for a quick
    look). Returns (index, build info)."""
    from ..index.configure import open_for_update
    from ..index.index import DEFAULT_RETRIEVERS
    from ..index.storage.manifest import MANIFEST, read_manifest, retriever_names

    t0 = time.perf_counter()
    have = retriever_names(read_manifest(index_dir)) if (index_dir / MANIFEST).exists() else list(DEFAULT_RETRIEVERS)
    wanted = have + [r for r in retrievers if r not in have]
    index = open_for_update(
        index_dir,
        model=model,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        retrievers=wanted,
        retriever_settings=retriever_settings,
        rebuild=rebuild,
        titles=titles,
    )
    from ..index.build import is_new
    from ..index.calibrate import maybe_calibrate

    new = is_new(index)
    report = index.sync([corpus_path or data.corpus_path], rebuild=rebuild, show_progress=show_progress)
    maybe_calibrate(index, new=new)  # as `encoderkit index` does: the default hybrid is the index's own rule
    if report.skipped:
        raise EncoderkitError(
            f"{corpus_path or data.corpus_path}: {len(report.skipped)} records could not be indexed (first: {report.skipped[0]})",
            hint="fix the corpus file",
        )
    expected = len(data.doc_ids) if n_documents is None else n_documents
    if len(index) != expected:
        raise EncoderkitError(
            f"index '{index_dir}' holds {len(index)} documents but the corpus has {expected}",
            hint="use a dedicated --index folder for evaluation",
        )
    m = index.manifest
    info = {
        "path": str(index_dir),
        "reused": report.chunks_encoded == 0 and not report.resumed,
        "update_seconds": round(time.perf_counter() - t0, 2),
        "build_seconds": (m.get("build") or {}).get("first_build_seconds"),
        "documents": m["counts"]["documents"],
        "chunks": m["counts"]["chunks"],
        "size_mb": round(sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20, 1),
        "model": m["model"],
        "chunking": m["chunking"],
        "retrievers": m["retrievers"],
        "retriever_stats": (m.get("build") or {}).get("retriever_stats"),
    }
    return index, info


def write_corpus_sample(data: BeirData, n_random: int, folder: Path, *, seed: int = 0) -> tuple[Path, dict]:
    """Write ``folder/corpus.jsonl``: every document judged for ``data``'s queries plus ``n_random`` others
    drawn with ``seed`` (records copied verbatim, in corpus order). Returns (path, what it holds)."""
    from ..data.jsonl import lines, read_text

    judged = data.judged_documents()
    others = sorted(data.doc_ids - judged)
    drawn = set(random.Random(seed).sample(others, min(n_random, len(others))))
    keep = judged | drawn
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    kept = []
    for _, line in lines(read_text(data.corpus_path)):
        rec = json.loads(line)
        if str(rec["_id"]) in keep:
            kept.append(line + "\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    if not path.exists() or path.read_bytes() != tmp.read_bytes():
        tmp.replace(path)  # unchanged content keeps its mtime: the sample's index is reused
    else:
        tmp.unlink()
    info = {
        "documents": len(keep),
        "judged": len(judged),
        "random": len(drawn),
        "seed": seed,
        "of": len(data.doc_ids),
        "note": f"quick look: {len(judged)} judged documents + {len(drawn)} random others of {len(data.doc_ids)}; "
        "scores are higher than on the full corpus and not comparable with published figures",
    }
    return path, info


def run_pipeline(
    index,
    data: BeirData,
    options: SearchOptions,
    *,
    doc_ids: dict[int, str],
    show_progress: bool | None = None,
) -> dict:
    """Rank every query one at a time (timed); return the run, per-stage candidates and latencies."""
    from ..runtime import progress_enabled

    run, stages_run, latencies, stage_ms = {}, {}, [], {}
    items = list(data.queries.items())
    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc=f"eval {options.mode}{'+rerank' if options.reranker else ''}", unit="query")
    depth = options.depth
    for qid, text in items:
        t = time.perf_counter()
        qr = index.rank_many([text], options)[0]
        ranked = [(doc_ids[key], score) for key, score in zip(qr.final.keys[:depth], qr.final.scores[:depth])]
        latencies.append((time.perf_counter() - t) * 1000)
        run[qid] = ranked
        for name, r in qr.stages.items():
            stages_run.setdefault(name, {})[qid] = [doc_ids[key] for key in r.keys]
        for name, ms in qr.timings_ms.items():
            stage_ms.setdefault(name, []).append(ms)
        if options.reranker is not None:  # what the reranker could see: the first stage's top rerank_depth
            fused = qr.stages["rerank"].keys
            stages_run.setdefault(f"{options.mode} top {options.rerank_depth} (rerank input)", {})[qid] = [
                doc_ids[k] for k in fused
            ]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {"run": run, "stages": stages_run, "latencies_ms": latencies, "stage_ms": stage_ms}


def latency_summary(ms: Sequence[float]) -> dict:
    import numpy as np

    a = np.asarray(ms, dtype=float)
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
        "p99": round(float(np.percentile(a, 99)), 2),
        "mean": round(float(a.mean()), 2),
    }


def _index_rule(index, fusion: str | None, weights) -> dict:
    """The index's own fusion rule when the evaluation uses it (no fusion or weights given): {"index_rule": ...}."""
    if fusion not in (None, "auto") or weights:
        return {}
    rule = (index.manifest or {}).get("fusion")
    return {"index_rule": rule} if rule else {}


def evaluate_retrieval(
    data_dir: str | Path,
    pipelines: Sequence[str],
    *,
    out_dir: str | Path,
    split: str = "test",
    index_dir: str | Path | None = None,
    model: str | None = None,
    n_queries: int | None = None,
    depth: int = 100,
    rrf_k: int = 60,
    fusion: str | None = None,
    weights: dict[str, float] | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    rebuild: bool = False,
    colbert_model: str | None = None,
    retriever_settings: dict[str, dict] | None = None,
    rerank_model: str | None = None,
    rerank_depth: int = 50,
    rerank_max_length: int | None = None,
    backend: str = "auto",
    rerank_backend: str = "torch",
    show_progress: bool | None = None,
    titles: str | None = None,
    corpus_sample: int | None = None,
    sample_seed: int = 0,
    drop_unknown: bool = False,
) -> dict:
    """Run the evaluation and write results.json, results.md, runs/*.trec and PNG plots to ``out_dir``.

    All inputs are validated first (corpus, queries, qrels and their id overlap, see
    :func:`encoderkit.data.corpora.beir.load_beir`): bad data stops the run in seconds, before any model is
    loaded or anything encoded. ``corpus_sample=N`` (a quick look, with ``n_queries``) indexes only the
    documents judged for the evaluated queries plus ``N`` others drawn at random (``sample_seed``);
    the report says so, and its figures are not comparable with full-corpus ones.
    ``colbert_model``: the model of the index's colbert retriever (``-p colbert``); ``rerank_model``: a
    cross-encoder or a ColBERT model for ``+rerank`` pipelines; ``fusion``/``weights``: how pipelines
    with several retrievers fuse them."""
    from ..data.files.sources import DEFAULT_MAX_BYTES

    t_start = time.perf_counter()
    parsed = [parse_pipeline(p) for p in pipelines]
    if depth < 100:
        raise EncoderkitError(f"--depth {depth} is below 100", hint="Recall@100 needs at least 100 candidates")
    if corpus_sample is not None and corpus_sample < 0:
        raise EncoderkitError(f"--corpus-sample {corpus_sample} is negative", hint="pass a number of documents >= 0")
    data = load_beir(data_dir, split, drop_unknown=drop_unknown, max_bytes=DEFAULT_MAX_BYTES).subset(n_queries)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample_info, sample_path = None, None
    if corpus_sample is not None:
        sample_path, sample_info = write_corpus_sample(data, corpus_sample, out / "corpus-sample", seed=sample_seed)
    reranker = None
    if any(rerank for _, rerank in parsed):
        if not rerank_model:
            raise EncoderkitError(
                "a '+rerank' pipeline needs a cross-encoder or a ColBERT model",
                hint="pass --rerank-model DIR (from `encoderkit train rerank` or `encoderkit train colbert`)",
            )
        from ..models.rerankers import ensure_reranker_export, load_reranker

        ensure_reranker_export(rerank_model, rerank_backend)
        reranker = load_reranker(rerank_model, max_length=rerank_max_length, backend=rerank_backend)
    default_index = out / ("index" if sample_path is None else f"index-sample-{corpus_sample}-seed{sample_seed}")
    index, index_info = prepare_index(
        data,
        Path(index_dir) if index_dir else default_index,
        model=model,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        rebuild=rebuild,
        retrievers=pipeline_retrievers([first for first, _ in parsed]),
        retriever_settings=_settings_with_colbert(retriever_settings, colbert_model),
        show_progress=show_progress,
        titles=titles,
        corpus_path=sample_path,
        n_documents=sample_info["documents"] if sample_info else None,
    )
    if backend != "auto":  # encode queries as asked (building the index may have loaded the torch encoder)
        from ..index.storage.model import model_spec
        from ..models.export import ensure_export

        ensure_export(model_spec(index.manifest["model"]), "encoder", backend)
        index.set_query_backend(backend)
    doc_ids = index.doc_ids()
    for first, rerank in set(parsed):  # warm-up: load the models and the artifacts before timing
        index.rank_many(
            [next(iter(data.queries.values()))],
            mode=first,
            depth=depth,
            reranker=reranker if rerank else None,
            rerank_depth=rerank_depth,
        )
    results = {
        "dataset": str(Path(data_dir)),
        "split": split,
        "n_queries": len(data.queries),
        "query_backend": index.encoder.backend,
        "skipped_queries_without_judgements": data.skipped_queries,
        "corpus_documents": len(data.doc_ids),
        "corpus_sample": sample_info,
        "data_notes": data.notes,
        "depth": depth,
        "rrf_k": rrf_k,
        "fusion": {
            "method": fusion or DEFAULT_FUSION,
            "weights": weights or "each retriever's default",
            **_index_rule(index, fusion, weights),
        },
        "scoring": "document = its best chunk (max-passage)",
        "reranker": ({**reranker.describe(), "depth": rerank_depth} if reranker else None),
        "index": index_info,
        "machine": machine_info(),
        "pipelines": {},
    }
    (out / "runs").mkdir(exist_ok=True)
    memo = _MemoReranker(reranker) if reranker is not None else None
    timed_rerank: set = set()
    for spec, (first, rerank) in zip(pipelines, parsed):
        # The first pipeline over a given first stage pays for (and times) the cross-encoder; a second one
        # over the same candidates (+rerank and +rerank-rrf) reuses its scores: same numbers, no re-scoring.
        reuse = bool(rerank) and first in timed_rerank
        if rerank:
            timed_rerank.add(first)
            memo.reuse = reuse
        options = SearchOptions(
            mode=first,
            depth=depth,
            rrf_k=rrf_k,
            fusion=fusion,
            weights=weights,
            reranker=memo if rerank else None,
            rerank_depth=rerank_depth,
            rerank_fusion="rrf" if rerank == "rerank-rrf" else "none",
        )
        r = run_pipeline(index, data, options, doc_ids=doc_ids, show_progress=show_progress)
        scored = evaluate(data.qrels, {q: [d for d, _ in hits] for q, hits in r["run"].items()})
        first_stages = {n: c for n, c in r["stages"].items() if n in index.retrievers}
        stage_recall = {f"{name}@{depth}": round(candidate_recall(data.qrels, cands), 4) for name, cands in first_stages.items()}
        if len(first_stages) > 1:
            union = {q: list(dict.fromkeys(d for cands in first_stages.values() for d in cands.get(q, []))) for q in data.qrels}
            stage_recall["fusion input (union)"] = round(candidate_recall(data.qrels, union), 4)
        for name, cands in r["stages"].items():
            if name.endswith("(rerank input)"):
                stage_recall[name] = round(candidate_recall(data.qrels, cands), 4)
        write_run(out / "runs" / f"{spec}.trec", r["run"], tag=f"encoderkit-{spec}")
        results["pipelines"][spec] = {
            "metrics": {k: round(v, 4) for k, v in scored["mean"].items()},
            "recall_curve": {
                str(k): round(v, 4)
                for k, v in recall_curve(data.qrels, {q: [d for d, _ in hits] for q, hits in r["run"].items()}, CURVE_KS).items()
            },
            "stage_recall": stage_recall,
            "latency_ms": latency_summary(r["latencies_ms"]),
            "stage_latency_ms_p50": {k: round(float(np.median(v)), 2) for k, v in r["stage_ms"].items()},
            "per_query_ndcg@10": {q: round(v["ndcg@10"], 4) for q, v in scored["per_query"].items()},
        }
        if reuse:
            results["pipelines"][spec]["rerank_scores_reused"] = True  # its latency excludes the cross-encoder
    results["peak_rss_mb"] = peak_rss_mb()
    results["eval_seconds"] = round(time.perf_counter() - t_start, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from .report import plot_quality_latency, plot_recall_curves, retrieval_markdown

    (out / "results.md").write_text(retrieval_markdown(results))
    plot_recall_curves(results, out / "recall_at_k.png")
    plot_quality_latency(results, out / "quality_vs_latency.png")
    index.close()
    return results


def _settings_with_colbert(settings: dict[str, dict] | None, colbert_model: str | None) -> dict[str, dict] | None:
    if colbert_model is None:
        return settings
    from ..retrieval.colbert.retriever import record_model

    out = {k: dict(v) for k, v in (settings or {}).items()}
    out.setdefault("colbert", {})["model"] = record_model(colbert_model)
    return out


class _MemoReranker:
    """Wraps a Reranker: remembers (query, passage) scores; serves them only when ``reuse`` is set."""

    def __init__(self, reranker):
        self.reranker, self.reuse, self._cache = reranker, False, {}

    def score(self, query: str, passages, **kw):
        if self.reuse and all((query, p) in self._cache for p in passages):
            return np.array([self._cache[(query, p)] for p in passages], dtype=np.float32)
        scores = self.reranker.score(query, passages, **kw)
        self._cache.update({(query, p): float(x) for p, x in zip(passages, scores)})
        return scores

    def __getattr__(self, name):
        return getattr(self.reranker, name)
