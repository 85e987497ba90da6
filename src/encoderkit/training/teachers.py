"""Teacher scores for distillation: how strongly a better (or different) scorer rates each
(query, passage) pair a student trains on.

``spec`` names the teacher:

- ``cross-encoder:DIR`` — a cross-encoder's logits (``encoderkit train rerank``, or any published one);
- ``model:DIR`` — another retrieval model: a ColBERT folder (MaxSim) or a bi-encoder (cosine);
- ``fused`` — the project's own first stage: BM25 and the bundled dense model, each min-max normalised
  over the query's top 100 (clipped to [0, 1]), combined with equal weights (what ``--fusion weighted``
  computes at search time);
- ``fused:DIR`` — the same with the dense model in DIR.

>>> parse_teacher("fused"), parse_teacher("cross-encoder:runs/ce"), parse_teacher("none")
(('fused', 'default'), ('cross-encoder', 'runs/ce'), ('none', ''))
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import EncoderkitError

TEACHERS = ("none", "fused", "cross-encoder", "model")


def parse_teacher(spec: str | None) -> tuple[str, str]:
    """(kind, argument) of a teacher spec."""
    spec = (spec or "none").strip()
    kind, _, arg = spec.partition(":")
    if kind not in TEACHERS or (kind in ("cross-encoder", "model") and not arg):
        raise EncoderkitError(
            f"unknown teacher '{spec}'", hint="use none, fused, fused:DENSE_MODEL, cross-encoder:DIR or model:DIR"
        )
    if kind == "fused":
        arg = arg or "default"
    return kind, arg


def _minmax_top(scores: np.ndarray, depth: int = 100) -> np.ndarray:
    """Scores mapped so the query's best document is 1 and its ``depth``-th best is 0 (clipped)."""
    top = np.partition(scores, -min(depth, len(scores)))[-min(depth, len(scores)) :]
    lo, hi = float(top.min()), float(top.max())
    if hi <= lo:
        return np.ones_like(scores, dtype=np.float32)
    return np.clip((scores - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def fused_scores(
    groups: Mapping[str, Sequence[str]],
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    dense_model: str,
    *,
    cache_dir: Path | None = None,
    show_progress: bool | None = None,
) -> dict[str, list[float]]:
    """Teacher scores of the project's fused first stage for each query's documents ``groups[qid]``."""
    from ..models.heads.encoder import Encoder
    from ..retrieval.bm25s_index import BM25Index
    from .mining import corpus_vectors

    ids = list(corpus)
    pos = {d: i for i, d in enumerate(ids)}
    bm25 = BM25Index.build([corpus[d] for d in ids])
    enc = Encoder.load(dense_model)
    dvecs = corpus_vectors(enc, ids, [corpus[d] for d in ids], cache_dir, show_progress)
    qids = list(groups)
    qvecs = enc.encode([queries[q] for q in qids], batch_size=64)
    tokens = bm25.analyze([queries[q] for q in qids])
    out = {}
    for qid, qv, toks in zip(qids, qvecs, tokens):
        lexical = _minmax_top(np.asarray(bm25.retriever.get_scores(toks), np.float32))
        dense = _minmax_top(dvecs @ qv)
        idx = [pos[d] for d in groups[qid]]
        out[qid] = ((lexical[idx] + dense[idx]) / 2).tolist()
    return out


def teacher_scores(
    spec: str,
    groups: Mapping[str, Sequence[str]],
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    *,
    cache: Path | None = None,
    cache_dir: Path | None = None,
    show_progress: bool | None = None,
) -> dict[str, list[float]]:
    """query id -> one teacher score per document of ``groups[qid]`` (in that order). Cached in ``cache``
    (JSON) by a hash of the teacher and the pairs."""
    kind, arg = parse_teacher(spec)
    if kind == "none":
        return {}
    key_src = spec + "".join(q + "\x00" + "\x01".join(groups[q]) for q in sorted(groups))
    if kind in ("cross-encoder", "model", "fused") and arg and Path(arg).exists():
        from ..models.ref import weights_fingerprint

        key_src += weights_fingerprint(Path(arg))
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["scores"]
    if kind == "fused":
        scores = fused_scores(groups, queries, corpus, arg, cache_dir=cache_dir, show_progress=show_progress)
    else:
        scores = _model_scores(kind, arg, groups, queries, corpus, show_progress)
    if cache is not None:
        cache.write_text(json.dumps({"key": key, "teacher": spec, "scores": scores}))
    return scores


def triple_scores(teacher, triples: list[tuple[str, str, str]], cache: Path, show_progress: bool | None) -> np.ndarray:
    """[n, 2] raw scores of a loaded cross-encoder ``teacher`` for (q, p) and (q, n) of each triple (the
    margins of Margin-MSE distillation); cached in ``cache`` by a hash of the teacher and the triples."""
    key = hashlib.sha256((teacher.fingerprint + "".join("\x00".join(t) for t in triples)).encode()).hexdigest()[:16]
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return np.asarray(saved["scores"], dtype=np.float32)
    pairs = list(dict.fromkeys([(q, p) for q, p, _ in triples] + [(q, n) for q, _, n in triples]))
    scored = dict(
        zip(pairs, pair_scores(lambda chunk: teacher.score_pairs(chunk, batch_size=32, raw=True), pairs, show_progress))
    )
    out = np.array([[scored[(q, p)], scored[(q, n)]] for q, p, n in triples], dtype=np.float32)
    cache.write_text(json.dumps({"key": key, "scores": out.tolist()}))
    return out


def pair_scores(score, pairs: Sequence[tuple[str, str]], show_progress: bool | None, *, step: int = 256) -> list[float]:
    """``score(chunk of (query, passage) pairs) -> scores`` over every pair, ``step`` pairs at a time,
    with a progress bar (unless quieted)."""
    from ..runtime import progress_enabled

    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pairs), desc="teacher scoring", unit="pair")
    out: list[float] = []
    for i in range(0, len(pairs), step):
        chunk = list(pairs[i : i + step])
        out += [float(s) for s in score(chunk)]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return out


def _model_scores(kind, arg, groups, queries, corpus, show_progress) -> dict[str, list[float]]:
    from ..models.heads.colbert import is_colbert_folder
    from ..models.ref import resolve_model
    from ..runtime import progress_enabled

    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(groups), desc="teacher scoring", unit="query")
    out = {}
    if kind == "cross-encoder":
        from ..models.heads.cross_encoder import Reranker

        teacher = Reranker.load(arg)
        score = lambda q, docs: teacher.score_pairs([(q, d) for d in docs], batch_size=32, raw=True)
    elif is_colbert_folder(resolve_model(arg).path):
        from ..models.heads.colbert import ColBERT

        teacher = ColBERT.load(arg)
        score = lambda q, docs: teacher.score(q, docs)
    else:
        from ..models.heads.encoder import Encoder

        teacher = Encoder.load(arg)
        score = lambda q, docs: teacher.encode(list(docs)) @ teacher.encode([q])[0]
    for qid, docs in groups.items():
        out[qid] = [float(s) for s in score(queries[qid], [corpus[d] for d in docs])]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out
