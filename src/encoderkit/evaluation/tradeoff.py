"""Quality vs cost of every model variant a user could serve: the chart to read before choosing one.

A variant is a model and a runtime: ``MODEL`` (with each of ``backends``) or ``MODEL@BACKEND``, the
backend one of torch | torch-bf16 (bf16 autocast, CPUs with bf16 instructions) | onnx (fp32 ONNX
Runtime) | onnx-int8 (per-channel dynamic int8); teachers,
distilled students (``encoderkit compress``) and fine-tuned models alike. For each variant:

- quality: nDCG@10 of a retrieval pipeline on a BEIR set through the evaluation harness
  (:func:`encoderkit.evaluation.retrieval.prepare_index` + ``run_pipeline``), with an index whose
  documents were encoded by that variant (an int8 variant is measured as it would be served: int8
  documents and int8 queries); optionally STS Spearman;
- encode throughput: passages per second over a fixed sample of corpus documents (truncated at the
  model's limit, batches of ``batch_size``), every variant in the same process with the same threads,
  the runs interleaved over ``repeats`` rounds and the median kept;
- query latency: p50/p95 of encoding one query at a time, and the pipeline's end-to-end p50.

For classifiers (``task="classify"``), accuracy vs texts per second and single-text latency.

>>> parse_variant("runs/small@onnx-int8"), parse_variant("default")
(('runs/small', 'onnx-int8'), ('default', None))
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import EncoderkitError

BACKENDS = ("torch", "torch-bf16", "onnx", "onnx-int8")


def parse_variant(spec: str) -> tuple[str, str | None]:
    """``MODEL@BACKEND`` -> (model, backend); no ``@BACKEND`` -> (model, None)."""
    model, sep, backend = str(spec).rpartition("@")
    if not sep or backend not in BACKENDS:
        return str(spec), None
    return model, backend


def expand_variants(models: Sequence[str], backends: Sequence[str]) -> list[tuple[str, str]]:
    """Every (model, backend) to measure, in the given order, without repeats.

    >>> expand_variants(["default", "small@onnx"], ["torch", "onnx-int8"])
    [('default', 'torch'), ('default', 'onnx-int8'), ('small', 'onnx')]
    """
    for b in backends:
        if b not in BACKENDS:
            raise EncoderkitError(f"unknown backend '{b}'", hint=f"use one of: {', '.join(BACKENDS)}")
    out: list[tuple[str, str]] = []
    for m in models:
        model, backend = parse_variant(m)
        for b in [backend] if backend else backends:
            if (model, b) not in out:
                out.append((model, b))
    return out


def slug(text: str) -> str:
    """A folder-safe name.

    >>> slug("runs/small model@onnx")
    'runs_small_model_onnx'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_")[-80:]


def time_encode(encode: Callable[[list[str]], object], texts: list[str]) -> float:
    """Seconds to encode ``texts`` once (after the caller's warm-up)."""
    t = time.perf_counter()
    encode(texts)
    return time.perf_counter() - t


def single_latencies(encode_one: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    """Milliseconds per call, one text at a time."""
    out = []
    for t in texts:
        s = time.perf_counter()
        encode_one(t)
        out.append((time.perf_counter() - s) * 1000)
    return out


def _time_variants(encoders, sample, queries, batch_size: int, repeats: int):
    """Per encoder: seconds to encode ``sample`` in each round, and single-query milliseconds."""
    for enc in encoders:
        enc.encode(sample[:batch_size], batch_size=batch_size)  # warm-up
    seconds: list[list[float]] = [[] for _ in encoders]
    lat: list[list[float]] = [[] for _ in encoders]
    share = queries[: max(1, len(queries) // max(1, repeats))]
    for _ in range(max(1, repeats)):
        for k, enc in enumerate(encoders):
            seconds[k].append(time_encode(lambda t, e=enc: e.encode(t, batch_size=batch_size), sample))
            lat[k].extend(single_latencies(lambda q, e=enc: e.encode([q]), share))
    return seconds, lat


def _pcts(ms: Sequence[float]) -> dict:
    a = np.asarray(ms, dtype=float)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2)}


def evaluate_tradeoff(
    data_dir: str | Path,
    models: Sequence[str],
    *,
    out_dir: str | Path,
    backends: Sequence[str] = ("torch",),
    pipeline: str = "dense",
    split: str = "test",
    n_queries: int | None = None,
    sts: str | Path | None = None,
    index_root: str | Path | None = None,
    throughput_texts: int = 256,
    batch_size: int = 32,
    repeats: int = 3,
    latency_queries: int = 200,
    show_progress: bool | None = None,
    before_timing: Callable[[], object] | None = None,
    after_timing: Callable[[], object] | None = None,
) -> dict:
    """Measure every variant on a BEIR set; writes results.json, results.md and tradeoff.png.
    ``before_timing`` / ``after_timing``: called around the timing rounds (e.g. to quiet the machine)."""
    from ..data.corpora.beir import load_beir
    from ..data.files.sources import SourceDoc, read_file
    from ..index.index import DEFAULT_RETRIEVERS, Index
    from ..index.storage.manifest import MANIFEST
    from ..models.export import ensure_export
    from ..models.heads.encoder import Encoder
    from ..retrieval.metrics import evaluate
    from ..retrieval.options import SearchOptions
    from ..runtime import n_threads
    from .machine import machine_info
    from .retrieval import parse_pipeline, pipeline_retrievers, prepare_index, run_pipeline

    variants = expand_variants(models, backends)
    if not variants:
        raise EncoderkitError("no model given", hint="pass --model M (repeat; M@onnx-int8 picks a backend)")
    first, rerank = parse_pipeline(pipeline)
    if rerank:
        raise EncoderkitError("the trade-off compares encoders", hint="use a first-stage pipeline: dense, hybrid, ...")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    roots = Path(index_root) if index_root else out / "indexes"
    data = load_beir(data_dir, split).subset(n_queries)
    docs = [d for d in read_file(data.corpus_path) if isinstance(d, SourceDoc)]
    sample = [f"{d.title}\n{d.text}" if d.title else d.text for d in docs[:throughput_texts]]
    queries = list(data.queries.values())[:latency_queries]
    sts_pairs = None
    if sts is not None:
        from ..data.corpora.sts import read_sts

        sts_pairs = read_sts(sts, "test")
    rows: list = [None] * len(variants)
    encoders: list = [None] * len(variants)
    # torch variants first, so an fp32 ONNX variant can share its model's torch index; rows keep the given order
    for k in sorted(range(len(variants)), key=lambda i: variants[i][1] == "onnx"):
        model, backend = variants[k]
        ensure_export(model, "encoder", backend)
        enc = Encoder.load(model, backend=backend)
        folder = roots / slug(f"{model}@{backend}")
        shared = roots / slug(f"{model}@torch")
        if backend == "onnx" and (shared / MANIFEST).exists():
            folder = shared  # fp32 ONNX reproduces torch (cosine >= 0.9999, checked at export): same documents
        if not (folder / MANIFEST).exists():  # documents encoded by this variant, as it would serve them
            names = list(dict.fromkeys([*DEFAULT_RETRIEVERS, *pipeline_retrievers([first])]))
            ix = Index.create(folder, encoder=enc, retrievers=names)
            ix.sync([data.corpus_path], show_progress=show_progress)
            ix.close()
        index, info = prepare_index(data, folder, retrievers=pipeline_retrievers([first]), show_progress=show_progress)
        index.set_query_backend(backend)
        index.rank_many([queries[0]], mode=first)  # warm-up
        r = run_pipeline(index, data, SearchOptions(mode=first), doc_ids=index.doc_ids(), show_progress=show_progress)
        scored = evaluate(
            data.qrels, {q: [d for d, _ in hits] for q, hits in r["run"].items()}, metrics=("ndcg@10", "recall@100")
        )
        index.close()
        row = {
            "variant": f"{enc.name} @ {backend}",
            "model": model,
            "backend": backend,
            "dim": enc.dim,
            "layers": (enc.backbone.config or {}).get("num_hidden_layers"),
            "ndcg@10": round(scored["mean"]["ndcg@10"], 4),
            "recall@100": round(scored["mean"]["recall@100"], 4),
            "pipeline": pipeline,
            "pipeline_p50_ms": _pcts(r["latencies_ms"])["p50"],
            "index_documents": info["documents"],
            "index": str(folder),
        }
        if sts_pairs is not None:
            from .sts import sts_correlation

            row["sts_spearman"] = round(sts_correlation(enc, sts_pairs)["spearman"], 4)
        rows[k], encoders[k] = row, enc
    # timing: every variant in this process and with these threads, interleaved rounds, median kept
    if before_timing is not None:
        before_timing()
    try:
        seconds, lat = _time_variants(encoders, sample, queries, batch_size, repeats)
    finally:
        if after_timing is not None:
            after_timing()
    tokens = int(np.mean(encoders[0].count_tokens(sample))) if sample else 0
    for row, secs, ms in zip(rows, seconds, lat):
        row["passages_per_s"] = round(len(sample) / float(np.median(secs)), 1)
        row["query_encode_ms"] = _pcts(ms)
    ref = rows[0]
    for row in rows:
        row["speedup"] = round(row["passages_per_s"] / ref["passages_per_s"], 2)
        row["quality_kept"] = round(row["ndcg@10"] / ref["ndcg@10"], 4) if ref["ndcg@10"] else None
        if "sts_spearman" in row:
            row["sts_kept"] = round(row["sts_spearman"] / ref["sts_spearman"], 4)
    results = {
        "task": "retrieval",
        "dataset": str(data_dir),
        "split": split,
        "n_queries": len(data.queries),
        "pipeline": pipeline,
        "threads": n_threads(),
        "throughput_sample": {"passages": len(sample), "mean_tokens": tokens, "batch_size": batch_size, "repeats": repeats},
        "reference": ref["variant"],
        "variants": rows,
        "machine": machine_info(),
    }
    _write(results, out)
    return results


def classify_tradeoff(
    classifiers: Mapping[str, Callable[[], object]],
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    out_dir: str | Path,
    dataset: str = "",
    throughput_texts: int = 256,
    repeats: int = 3,
    latency_texts: int = 100,
) -> dict:
    """Accuracy vs texts/s and single-text latency; ``classifiers``: name -> loader of an object with
    ``predict(texts)`` (``encoderkit.tasks.classify.Classifier``)."""
    from ..runtime import n_threads
    from .machine import machine_info

    if len(texts) != len(labels) or not texts:
        raise EncoderkitError("classify trade-off needs as many labels as texts (and at least one)")
    loaded = {name: load() for name, load in classifiers.items()}
    rows = []
    for name, clf in loaded.items():
        preds = clf.predict(list(texts))
        top = [str(max(p, key=lambda x: x["score"])["label"]) if p else "" for p in preds]
        rows.append({"variant": name, "accuracy": round(float(np.mean([t == str(y) for t, y in zip(top, labels)])), 4)})
    sample = list(texts[:throughput_texts])
    seconds = {n: [] for n in loaded}
    lat = {n: [] for n in loaded}
    for clf in loaded.values():
        clf.predict(sample[:8])
    for _ in range(max(1, repeats)):
        for n, clf in loaded.items():
            seconds[n].append(time_encode(clf.predict, sample))
            lat[n].extend(single_latencies(lambda t, c=clf: c.predict([t]), sample[: max(1, latency_texts // max(1, repeats))]))
    for row in rows:
        row["texts_per_s"] = round(len(sample) / float(np.median(seconds[row["variant"]])), 1)
        row["latency_ms"] = _pcts(lat[row["variant"]])
        row["speedup"] = round(row["texts_per_s"] / rows[0]["texts_per_s"], 2)
        row["quality_kept"] = round(row["accuracy"] / rows[0]["accuracy"], 4) if rows[0]["accuracy"] else None
    results = {
        "task": "classify",
        "dataset": dataset,
        "n_texts": len(texts),
        "threads": n_threads(),
        "throughput_sample": {"texts": len(sample), "repeats": repeats},
        "reference": rows[0]["variant"],
        "variants": rows,
        "machine": machine_info(),
    }
    _write(results, Path(out_dir))
    return results


def _write(results: dict, out: Path) -> None:
    from .tradeoff_report import plot_tradeoff, tradeoff_markdown

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(tradeoff_markdown(results))
    plot_tradeoff(results, out / "tradeoff.png")
