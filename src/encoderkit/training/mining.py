"""Hard-negative mining: passages that a retriever ranks high for a query but that are not relevant.

DPR (Karpukhin et al., 2020) showed that adding BM25 hard negatives to in-batch negatives is what
makes a dense retriever strong; ANCE/RocketQA mine with the dense model itself. Both are here, alone
or together. Mined negatives exclude every judged positive of the query and near-duplicates of them
(same normalised text, term-set Jaccard >= 0.9, or dense cosine >= 0.98), and are taken from a rank
window that skips the very top, where unjudged relevant passages are most likely.

>>> negs = mine_hard_negatives({"q": "vitamin d bones"}, {"q": {"d1"}}, corpus, MiningConfig("bm25"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import EncoderkitError

METHODS = ("bm25", "dense", "both", "none")


@dataclass(frozen=True)
class MiningConfig:
    """``method``: bm25 | dense | both | none. Negatives come from ranks [rank_min, rank_max) of the
    candidate list after positives and their near-duplicates are removed (0-based)."""

    method: str = "bm25"
    rank_min: int = 2
    rank_max: int = 30
    n_negatives: int = 4
    sampling: str = "random"  # random | top
    dup_cosine: float = 0.98
    dup_jaccard: float = 0.9
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


def cache_dir() -> Path:
    """Where mined-corpus vectors are cached: $ENCODERKIT_CACHE or ~/.cache/encoderkit/mining."""
    import os

    root = os.environ.get("ENCODERKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "encoderkit")
    return Path(root) / "mining"


def corpus_vectors(
    encoder, ids: list[str], texts: list[str], cache_dir: Path | None = None, show_progress: bool | None = None
) -> np.ndarray:
    """Encode the corpus once per (model, corpus); cached as .npy under ``cache_dir`` if given."""
    key = hashlib.sha256((encoder.fingerprint + str(encoder.max_length) + "\x00".join(ids)).encode()).hexdigest()[:16]
    if cache_dir is not None:
        f = Path(cache_dir) / f"corpus-{key}.npy"
        if f.is_file():
            return np.load(f, allow_pickle=False)
    vecs = encoder.encode(texts, batch_size=32, show_progress=show_progress)
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        np.save(Path(cache_dir) / f"corpus-{key}.npy", vecs, allow_pickle=False)
    return vecs


def rank_candidates(
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    cfg: MiningConfig,
    *,
    encoder=None,
    depth: int,
    cache_dir: Path | None = None,
    show_progress: bool | None = None,
) -> tuple[dict[str, list[str]], dict[str, np.ndarray] | None]:
    """Candidate ranking per query (best first) from BM25, the dense encoder, or both interleaved.
    Also returns doc id -> vector when dense vectors were computed (for near-duplicate checks)."""
    from ..retrieval.bm25s_index import BM25Index

    ids = list(corpus)
    texts = [corpus[i] for i in ids]
    qids = list(queries)
    qtexts = [queries[q] for q in qids]
    rankings: list[dict[str, list[str]]] = []
    vectors = None
    if cfg.method in ("bm25", "both"):
        bm25 = BM25Index.build(texts)
        rankings.append({q: [ids[p] for p in pos] for q, (pos, _) in zip(qids, bm25.search_many(qtexts, depth))})
    if cfg.method in ("dense", "both"):
        if encoder is None:
            raise EncoderkitError("dense hard-negative mining needs an encoder")
        dvecs = corpus_vectors(encoder, ids, texts, cache_dir, show_progress)
        qvecs = encoder.encode(qtexts, batch_size=64)
        sims = qvecs @ dvecs.T
        top = np.argsort(-sims, axis=1)[:, :depth]
        rankings.append({q: [ids[p] for p in row] for q, row in zip(qids, top)})
        vectors = {i: v for i, v in zip(ids, dvecs)}
    out = {}
    for q in qids:
        lists = [r[q] for r in rankings]
        merged = []  # interleave: best of each ranking first
        for rank in range(max((len(x) for x in lists), default=0)):
            for x in lists:
                if rank < len(x) and x[rank] not in merged:
                    merged.append(x[rank])
        out[q] = merged
    return out, vectors


def mine_hard_negatives(
    queries: Mapping[str, str],
    positives: Mapping[str, set[str]],
    corpus: Mapping[str, str],
    cfg: MiningConfig,
    *,
    encoder=None,
    cache_dir: Path | None = None,
    show_progress: bool | None = None,
) -> dict[str, list[str]]:
    """Hard negatives (corpus ids) per query id; never a positive or a near-duplicate of one."""
    if cfg.method not in METHODS:
        raise EncoderkitError(f"unknown mining method '{cfg.method}'", hint=f"use one of: {', '.join(METHODS)}")
    if cfg.method == "none" or cfg.n_negatives == 0:
        return {q: [] for q in queries}
    if not 0 <= cfg.rank_min < cfg.rank_max:
        raise EncoderkitError(f"bad rank window [{cfg.rank_min}, {cfg.rank_max})", hint="use 0 <= min < max")
    from ..retrieval.snippets import terms

    max_pos = max((len(p) for p in positives.values()), default=1)
    candidates, vectors = rank_candidates(
        queries,
        corpus,
        cfg,
        encoder=encoder,
        depth=min(len(corpus), cfg.rank_max + 2 * max_pos + 10),
        cache_dir=cache_dir,
        show_progress=show_progress,
    )
    term_cache: dict[str, set] = {}

    def tset(doc: str) -> set:
        if doc not in term_cache:
            term_cache[doc] = terms(corpus[doc])
        return term_cache[doc]

    rng = random.Random(cfg.seed)
    out = {}
    for q, ranked in candidates.items():
        pos = positives.get(q, set())
        pos_norm = {_normalise(corpus[p]) for p in pos if p in corpus}
        clean = []
        for d in ranked:
            if d in pos or _normalise(corpus[d]) in pos_norm:
                continue
            if any(jaccard(tset(d), tset(p)) >= cfg.dup_jaccard for p in pos if p in corpus):
                continue
            if vectors is not None and any(float(vectors[d] @ vectors[p]) >= cfg.dup_cosine for p in pos if p in vectors):
                continue
            clean.append(d)
        window = clean[cfg.rank_min : cfg.rank_max]
        if cfg.sampling == "top":
            out[q] = window[: cfg.n_negatives]
        else:
            out[q] = rng.sample(window, min(cfg.n_negatives, len(window)))
    return out


def save_negatives(path: Path, negatives: Mapping[str, list[str]], cfg: MiningConfig) -> None:
    """Keep what was mined (JSON), so a run can be inspected and reproduced."""
    Path(path).write_text(json.dumps({"config": cfg.to_dict(), "negatives": negatives}, indent=1))
