"""The quality gate of a faster chunk encoder (bf16 or int8), measured before an index uses it.

A candidate encoder passes when

- its chunk vectors stay close to fp32's: mean cosine to the fp32 vector of the same text >= 0.99 over
  the probe passages, and
- retrieval does not get worse: nDCG@10 of fp32 query vectors against the candidate's passage vectors
  is at most 0.005 below nDCG@10 against fp32's passage vectors, on a dev set. That dev set is a
  labelled BEIR folder when one is given (use a dev split, never the test split you report), else a
  self-supervised one made from the documents being indexed: the inverse cloze task (Lee, Chang &
  Toutanova, ACL 2019) — a document's first sentence is the query, the rest of the document its one
  relevant passage, every other document's rest a distractor.

Throughput of both encoders on the dev passages is recorded too, so ``auto`` can pick the fastest
candidate that passes (:func:`choose_precision`). The thresholds live with the index
(:func:`encoderkit.index.storage.model.gate_problem`), which refuses a failing candidate.

>>> dev = ict_dev_set(["Cats purr. They nap all day long in the sun.", "Rivers flow. Their water reaches the sea at last."])
>>> sorted(dev.queries.values()), dev.qrels["q0"]
(['Cats purr.', 'Rivers flow.'], {'p0': 1})
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError
from ..retrieval.metrics import evaluate
from ..runtime import cpu_has_bf16
from .storage.model import GATE_MAX_NDCG_DROP, GATE_MIN_MEAN_COSINE, PRECISION_BACKENDS, gate_problem

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
HEAD_WORDS = 12  # the query of a text without sentences: its first words
DEFAULT_GATE_QUERIES = 64  # the gate a new index runs by default: a few seconds on 2 cores
MIN_GATE_QUERIES = 8  # fewer dev queries than this measure nothing: the default keeps fp32
# a new corpus smaller than this (characters, ~150k tokens) encodes at fp32 in about the time the default's
# gate and export take on 2 cores (~12 s): the default keeps fp32 there instead of measuring. Chosen from
# build timings only (a 150-document slice of the SciFact corpus and the demo corpus, no queries or
# relevance judgements), as the break-even of gate cost against int8's saving (BENCHMARKS section 16)
SMALL_CORPUS_CHARS = 600_000


@dataclass
class DevSet:
    """Queries, graded judgements and the passages they are judged against."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    passages: dict[str, str]
    source: str


def ict_dev_set(texts: Sequence[str], *, max_queries: int = 200, min_rest_words: int = 5, seed: int = 0) -> DevSet:
    """Inverse-cloze dev set from documents: first sentence -> the rest of the same document (a text
    with no sentence end, such as code, gives its first :data:`HEAD_WORDS` words as the query)."""
    rng = np.random.default_rng(seed)
    usable = []
    for t in texts:
        words = str(t).split()
        parts = SENTENCE_END.split(" ".join(words), maxsplit=1)
        if len(parts) == 1 and len(words) >= HEAD_WORDS + min_rest_words:
            parts = [" ".join(words[:HEAD_WORDS]), " ".join(words[HEAD_WORDS:])]
        if len(parts) == 2 and len(parts[0].split()) >= 2 and len(parts[1].split()) >= min_rest_words:
            usable.append(parts)
    if len(usable) > max_queries:
        usable = [usable[i] for i in sorted(rng.choice(len(usable), max_queries, replace=False))]
    queries = {f"q{i}": q for i, (q, _) in enumerate(usable)}
    passages = {f"p{i}": rest for i, (_, rest) in enumerate(usable)}
    qrels = {f"q{i}": {f"p{i}": 1} for i in range(len(usable))}
    return DevSet(queries, qrels, passages, "inverse cloze task on the indexed documents")


def beir_dev_set(folder: str | Path, split: str = "dev", *, max_passages: int = 5000) -> DevSet:
    """A labelled dev set from a BEIR folder: its judged passages plus distractors up to ``max_passages``."""
    from ..data.corpora.beir import load_beir

    data = load_beir(folder, split)
    judged = {d for rel in data.qrels.values() for d in rel}
    passages: dict[str, str] = {}
    with open(data.corpus_path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            did = str(row.get("_id"))
            if did in judged or len(passages) < max_passages:
                passages[did] = f"{row.get('title') or ''} {row.get('text') or ''}".strip()
    return DevSet(dict(data.queries), {q: dict(r) for q, r in data.qrels.items()}, passages, f"{folder} ({split})")


def top10(query_vecs: np.ndarray, passage_vecs: np.ndarray) -> np.ndarray:
    """Row indices of each query's 10 best passages by inner product."""
    return np.argsort(-(query_vecs @ passage_vecs.T), axis=1, kind="stable")[:, :10]


def ndcg_at_10(query_vecs: np.ndarray, passage_vecs: np.ndarray, dev: DevSet) -> float:
    """Mean nDCG@10 of exact inner-product search of the queries over the passages."""
    qids, pids = list(dev.queries), list(dev.passages)
    run = {q: [pids[j] for j in row] for q, row in zip(qids, top10(query_vecs, passage_vecs))}
    return float(evaluate(dev.qrels, run, metrics=("ndcg@10",))["mean"]["ndcg@10"])


def top10_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of the 10 passages two rankings have in common (self-retrieval agreement).

    >>> top10_agreement(np.array([range(10)]), np.array([[*range(5), *range(20, 25)]]))
    0.5
    """
    return float(np.mean([len(set(x) & set(y)) / max(1, len(x)) for x, y in zip(a.tolist(), b.tolist())]))


def _timed(encoder, texts: list[str]) -> tuple[np.ndarray, float]:
    t = time.perf_counter()
    vecs = encoder.encode(texts, batch_size=32, token_budget=8192)
    return vecs, len(texts) / max(1e-9, time.perf_counter() - t)


def measure_precision(fp32, candidate, precision: str, dev: DevSet, *, reference: dict | None = None) -> dict:
    """Gate figures of ``candidate`` (an encoder at ``precision``) against ``fp32`` on ``dev``.
    ``reference``: fp32 results already measured on the same dev set (vectors, nDCG, speed)."""
    if not dev.queries:
        raise EncoderkitError(
            "no dev queries for the quality gate", hint="index documents of more than one sentence, or pass --gate-data DIR"
        )
    ref = reference if reference is not None else fp32_reference(fp32, dev)
    got, speed = _timed(candidate, list(dev.passages.values()))
    cos = np.sum(got * ref["passages"], axis=1) / np.clip(
        np.linalg.norm(got, axis=1) * np.linalg.norm(ref["passages"], axis=1), 1e-12, None
    )
    ndcg = ndcg_at_10(ref["queries"], got, dev)
    agreement = top10_agreement(top10(ref["queries"], ref["passages"]), top10(ref["queries"], got))
    gate = {
        "precision": precision,
        "mean_cosine": round(float(np.mean(cos)), 5),
        "min_cosine": round(float(np.min(cos)), 5),
        "ndcg@10_fp32": round(ref["ndcg"], 5),
        f"ndcg@10_{precision}": round(ndcg, 5),
        "ndcg_drop": round(ref["ndcg"] - ndcg, 5),
        "top10_agreement": round(agreement, 4),
        "dev_set": dev.source,
        "dev_queries": len(dev.queries),
        "probe_passages": len(dev.passages),
        "passages_per_second_fp32": round(ref["speed"], 1),
        f"passages_per_second_{precision}": round(speed, 1),
        "speedup": round(speed / max(1e-9, ref["speed"]), 2),
        "thresholds": {"min_mean_cosine": GATE_MIN_MEAN_COSINE, "max_ndcg_drop": GATE_MAX_NDCG_DROP},
    }
    gate["passed"] = gate_problem(gate) is None
    return gate


def fp32_reference(fp32, dev: DevSet) -> dict:
    """fp32 passage and query vectors, nDCG@10 and passage throughput on ``dev``."""
    passages, speed = _timed(fp32, list(dev.passages.values()))
    queries = fp32.encode(list(dev.queries.values()), batch_size=64)
    return {"passages": passages, "queries": queries, "ndcg": ndcg_at_10(queries, passages, dev), "speed": speed}


def candidates(requested: str, *, onnx: bool = True, gpu: bool = False) -> list[str]:
    """Precisions to try for ``requested`` (auto: int8, unless ONNX exports are off, then bf16 where the
    CPU computes it natively; on a GPU only bf16, which there is the card's reduced precision: int8 is
    ONNX Runtime on the CPU).

    >>> candidates("int8"), candidates("fp32"), "int8" in candidates("auto", onnx=False), candidates("auto", gpu=True)
    (['int8'], [], False, ['bf16'])
    """
    if requested == "auto":
        if gpu:
            return ["bf16"]
        return (["int8"] if onnx else []) + (["bf16"] if cpu_has_bf16() else [])
    if requested not in PRECISION_BACKENDS:
        raise EncoderkitError(f"unknown encode precision '{requested}'", hint="use auto, fp32, bf16 or int8")
    return [] if requested == "fp32" else [requested]


def choose_precision(model: dict, requested: str, dev: DevSet, *, onnx: bool = True) -> tuple[str, dict | None, list[dict]]:
    """Measure each candidate of ``requested`` for an index's ``model`` (its manifest entry) and pick:
    the fastest that passes and is faster than fp32, else fp32. Returns (precision, its gate figures or
    None for fp32, every measurement). An explicitly requested precision is returned with its figures
    even when they fail: :meth:`Index.set_encode_precision` refuses it with them."""
    from ..models.heads.encoder import Encoder
    from ..runtime.devices import is_cuda, runtime_device
    from .storage.model import load_document_encoder, model_spec

    todo = candidates(requested, onnx=onnx, gpu=is_cuda(runtime_device(False)))
    if not todo:
        return "fp32", None, []
    fp32 = Encoder.load(model_spec(model), pooling=model["pooling"], max_length=model["max_length"], backend="torch")
    ref = fp32_reference(fp32, dev)
    measured = []
    for precision in todo:
        candidate = load_document_encoder({"model": {**model, "encode_precision": precision}})
        measured.append(measure_precision(fp32, candidate, precision, dev, reference=ref))
    if requested != "auto":
        return requested, measured[0], measured
    passing = [g for g in measured if g["passed"] and g["speedup"] > 1.05]
    if not passing:
        return "fp32", None, measured
    best = max(passing, key=lambda g: g["speedup"])
    return best["precision"], best, measured
