"""Fusion calibration: an index chooses how to fuse its first stages on pseudo-queries of its own
documents, with no labelled query from the user, and a user with labelled queries tunes it
(``encoderkit tune fusion``). The rule is stored in the manifest (:meth:`Index.set_fusion_rule`) and every
search that names no fusion uses it (:func:`encoderkit.retrieval.pipeline.fusion_rule_for`).

Pseudo-queries (:func:`pseudo_queries`), three kinds from a seeded sample of chunks, one per document each:

- ``sentence``: a sentence of the chunk (inverse cloze, Lee, Chang & Toutanova, ACL 2019), its target the
  chunk with the sentence cut out -- a natural-language query;
- ``paraphrase``: the same, with every word of the sentence also cut from the target -- a query in other
  words than the document's;
- ``keyword``: the chunk's rarest word (in the sample), its target the chunk as it is -- an entity or
  identifier lookup.

Cut-out scoring, so that no list finds the target by the query's own words: each first stage ranks the
whole index for the pseudo-query as usual, then the target document is scored again on its chunk *with the
query cut out* (and on any other of its chunks that contains it, cut out too) through the retriever's
:meth:`~encoderkit.retrieval.base.Retriever.score_texts` (BM25 with the collection's statistics, the
dense encoder on the remaining text, ColBERT MaxSim), and put back at the place that score earns. A
retriever that cannot score a text keeps its own ranking (noted in the figures).

From them :func:`~encoderkit.retrieval.fusion_fit.calibrated_rule` decides which lists work and each
list's typical score gap; the base weights are the retrievers' ``calibration_weight`` (chosen on dev
queries: pseudo-queries over-rate BM25, docs/fusion.md). Indexes with fewer than :data:`MIN_DOCUMENTS`
documents keep the fixed default (too few to measure on); an index whose live chunks grew or shrank by
:data:`RECALIBRATE_CHANGE` since it was calibrated is calibrated again by the update that did it.

>>> text = ("Aspirin lowers fever within hours. It also thins the blood of most adults who take it daily. "
...         "Doctors prescribe small doses after heart attacks. Stomach bleeding remains its main risk.")
>>> qs = pseudo_queries({1: (7, text), 2: (8, text.replace("Aspirin", "Ibuprofen"))}, n=6)
>>> sorted((q.kind, q.doc) for q in qs)
[('keyword', 7), ('keyword', 8), ('paraphrase', 7), ('paraphrase', 8), ('sentence', 7), ('sentence', 8)]
>>> q = [q for q in qs if q.kind == "sentence" and q.doc == 7][0]
>>> q.query in q.rest
False
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError
from ..retrieval.fusion_fit import Sample, calibrated_rule, rule_scores, single_scores
from ..retrieval.fusion_rule import FusionRule
from ..retrieval.options import SearchOptions
from ..retrieval.ranking import Ranked, best_first

# Set a priori (no queries of any evaluation set involved): under 50 documents there are too few
# pseudo-queries to tell the lists apart; 128 pseudo-queries cost 2-5 s on a 5,000-document index (BENCHMARKS 17);
# a corpus that changed by half is no longer the one the rule was measured on.
MIN_DOCUMENTS = 50  # fewer documents: the fixed default rule (RRF), see module docstring
CALIBRATION_QUERIES = 128  # pseudo-queries per calibration (a third of each kind)
RECALIBRATE_CHANGE = 0.5  # live chunks changed by this share since calibration: calibrate again
DEPTH = 100  # candidates per list, as a search fuses them
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{3,}")
KINDS = ("sentence", "keyword", "paraphrase")
_PUNCT = ".,;:!?()[]{}\"'"


@dataclass
class PseudoQuery:
    query: str
    chunk_id: int
    doc: int
    rest: str  # the chunk's text with the query cut out
    span: str  # what was cut out (also cut from the document's other chunks that contain it)
    kind: str  # sentence | keyword | paraphrase
    drop: tuple = ()  # words also cut from the target's text (paraphrase: the query's own words)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if 4 <= len(s.split()) <= 40]


def pseudo_queries(chunks: dict[int, tuple[int, str]], n: int = CALIBRATION_QUERIES, seed: int = 0) -> list[PseudoQuery]:
    """Up to ``n`` pseudo-queries (a third of each of :data:`KINDS`) from ``chunks`` {chunk id: (document
    row id, text)}, at most one of each kind per document, chunks taken in a seeded order."""
    rng = np.random.default_rng(seed)
    ids = sorted(chunks)
    order = [ids[i] for i in rng.permutation(len(ids))]
    df: dict[str, int] = {}
    for cid in ids:
        for w in {w.lower() for w in _WORD.findall(chunks[cid][1])}:
            df[w] = df.get(w, 0) + 1
    out: list[PseudoQuery] = []
    kinds = KINDS
    used: dict[str, set] = {k: set() for k in kinds}
    share = {k: n // len(kinds) + (1 if i < n % len(kinds) else 0) for i, k in enumerate(kinds)}
    for cid in order:
        doc, text = chunks[cid]
        sents = _sentences(text)
        for kind in ("sentence", "paraphrase"):
            if kind in kinds and len(used[kind]) < share[kind] and doc not in used[kind] and len(sents) >= 2:
                s = sents[int(rng.integers(len(sents)))]
                drop = tuple(sorted({w.lower() for w in _WORD.findall(s)})) if kind == "paraphrase" else ()
                out.append(PseudoQuery(s, cid, doc, _cut(text, s, drop), s, kind, drop))
                used[kind].add(doc)
        tokens = [t.strip(_PUNCT) for t in text.split()]
        words = [t for t in tokens if _WORD.fullmatch(t)]
        if "keyword" in kinds and len(used["keyword"]) < share["keyword"] and doc not in used["keyword"] and len(words) >= 8:
            word = min(words, key=lambda w: (df.get(w.lower(), 0), -len(w), w)).lower()
            out.append(PseudoQuery(word, cid, doc, text, "", "keyword"))
            used["keyword"].add(doc)
        if all(len(used[k]) >= share[k] for k in kinds):
            break
    return out


def _cut(text: str, span: str, drop: Sequence[str] = ()) -> str:
    """``text`` without any occurrence of ``span`` (if any), nor of the words ``drop`` (whole words, any case).

    >>> _cut("The cat sat on the Mat. A mat is flat.", "The cat sat on the Mat.", ("mat",))
    'A is flat.'
    """
    text = text.replace(span, " ") if span else text
    if drop:
        text = re.sub(r"\b(" + "|".join(re.escape(w) for w in drop) + r")\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _sample_chunks(index, snap, n: int, seed: int) -> dict[int, tuple[int, str]]:
    """A seeded sample of live chunks {chunk id: (document row id, indexed text)}: four per wanted query."""
    ids = np.asarray(snap.chunk_ids, dtype=np.int64)
    docs = np.asarray(snap.chunk_docs, dtype=np.int64)
    if snap.doc_rows is not None and len(snap.doc_rows):
        keep = np.isin(docs, snap.doc_rows)
        ids, docs = ids[keep], docs[keep]
    pick = np.random.default_rng(seed).permutation(len(ids))[: 4 * n]
    texts = index.store.chunk_texts([int(c) for c in ids[pick]])
    return {int(c): (int(d), texts[int(c)]) for c, d in zip(ids[pick], docs[pick]) if int(c) in texts}


def _rest_scores(retriever, queries: list[str], texts: list[str]) -> np.ndarray | None:
    """What ``retriever`` scores each text for its query, or None when it cannot say."""
    scorer = getattr(retriever, "score_texts", None)
    if not texts:
        return np.zeros(0, dtype=np.float32)
    if scorer is None:
        return None
    encoded = retriever.encode_queries(queries)
    stats = retriever.statistics(encoded) if getattr(retriever, "collection_statistics", False) else None
    try:
        return scorer(queries, encoded, texts, stats)
    except NotImplementedError:
        return None


def _replace_target(r: Ranked, target: int, score: float | None, chunk: int, tie: int, depth: int) -> Ranked:
    """``r`` with the target document's entry replaced by ``score`` (None or <= 0 for BM25-style lists
    that would not return it: left out) at the place that score earns, ``depth`` deep."""
    keep = [i for i, k in enumerate(r.keys) if k != target]
    keys = [r.keys[i] for i in keep]
    scores = [r.scores[i] for i in keep]
    chunks = [r.best_chunk[i] for i in keep]
    ties = [(r.ties or r.keys)[i] for i in keep]
    if score is not None and (len(keys) < depth or score > scores[-1]):
        keys, scores, chunks, ties = keys + [target], scores + [float(score)], chunks + [chunk], ties + [tie]
    order = best_first(scores, ties)[:depth] if keys else []
    return Ranked([keys[i] for i in order], [scores[i] for i in order], [chunks[i] for i in order], [ties[i] for i in order])


def cut_out_samples(
    index, queries: Sequence[PseudoQuery], stages: Sequence[str], depth: int = DEPTH
) -> tuple[list[Sample], list[str]]:
    """Each pseudo-query ranked by every stage, its target document re-scored with the query cut out
    (see module docstring); returns the samples and the stages that could not re-score (kept as ranked)."""
    texts = [q.query for q in queries]
    rankings = index.rank_many(texts, SearchOptions(mode="+".join(stages), depth=depth))
    snap = rankings[0].snapshot if rankings else None
    unscored = []
    samples = [Sample({}, {q.doc: 1}) for q in queries]
    for name in stages:
        # the target's chunks to re-score: its sampled chunk, and its other retrieved chunks holding the span
        jobs: list[tuple[int, int, str]] = []  # (query position, chunk id, text with the span cut out)
        for i, (q, ranking) in enumerate(zip(queries, rankings)):
            if not q.span:  # nothing cut out (a keyword query): the stage's own ranking is the sample
                continue
            jobs.append((i, q.chunk_id, q.rest))
            others = [c for c in (ranking.stages[name].chunk_scores or {}) if c != q.chunk_id]
            if others:
                mine = [c for c, d in zip(others, snap.docs_of(np.array(others, dtype=np.int64))) if int(d) == q.doc]
                for c, t in index.store.chunk_texts(mine).items():
                    if q.span in t:
                        jobs.append((i, c, _cut(t, q.span, q.drop)))
        scores = _rest_scores(snap.retrievers[name], [texts[i] for i, _, _ in jobs], [t for _, _, t in jobs])
        if scores is None and jobs:
            unscored.append(name)
        best: dict[int, tuple[float, int]] = {}
        for (i, chunk, _), s in zip(jobs, scores if scores is not None else []):
            if i not in best or s > best[i][0]:
                best[i] = (float(s), chunk)
        for i, (q, ranking) in enumerate(zip(queries, rankings)):
            r = ranking.stages[name]
            if scores is None or i not in best:
                samples[i].rankings[name] = r
                continue
            cut_chunks = {c for j, c, _ in jobs if j == i}
            for c in _chunks_of(snap, q.doc, r):  # the target's untouched chunks still count
                s = float(r.chunk_scores[c])
                if c not in cut_chunks and s > best[i][0]:
                    best[i] = (s, c)
            score, chunk = best[i]
            lexical = getattr(snap.retrievers[name], "collection_statistics", False)
            tie = int(snap.ties_of(np.array([q.doc]))[0])
            samples[i].rankings[name] = _replace_target(r, q.doc, None if lexical and score <= 0 else score, chunk, tie, depth)
    return samples, unscored


def _chunks_of(snap, doc: int, r: Ranked) -> list[int]:
    ids = [c for c in (r.chunk_scores or {})]
    if not ids:
        return []
    return [c for c, d in zip(ids, snap.docs_of(np.array(ids, dtype=np.int64))) if int(d) == doc]


def calibrate_fusion(index, *, n_queries: int = CALIBRATION_QUERIES, seed: int = 0) -> FusionRule | None:
    """Choose ``index``'s fusion rule on pseudo-queries of its documents (see module docstring); None when
    it has fewer than two retrievers or too few documents (the fixed default stays)."""
    stages = list(index.retrievers)
    snap = index.snapshot()
    if len(stages) < 2 or snap is None:
        return None
    n_docs = int(len(snap.doc_rows)) if snap.doc_rows is not None else int(snap.n_docs)
    if n_docs < MIN_DOCUMENTS:
        return None
    t0 = time.perf_counter()
    queries = pseudo_queries(_sample_chunks(index, snap, n_queries, seed), n_queries, seed)
    if len(queries) < 16:
        return None
    samples, unscored = cut_out_samples(index, queries, stages)
    from ..retrieval.registry import get

    rule = calibrated_rule(samples, {n: float(getattr(get(n), "calibration_weight", 0.5)) for n in stages})
    equal = FusionRule("rrf", {n: 1.0 for n in stages}).with_(reference=rule.reference)
    ndcg = {"chosen": rule_scores(rule, samples).mean(), "rrf (equal weights)": rule_scores(equal, samples).mean()}
    ndcg.update({n: single_scores(n, samples).mean() for n in stages})
    kinds = {k: sum(q.kind == k for q in queries) for k in KINDS}
    figures = {
        "queries": len(queries),
        "kinds": kinds,
        "seed": seed,
        "ndcg@10": {k: round(float(v), 4) for k, v in ndcg.items()},
        "seconds": round(time.perf_counter() - t0, 2),
        "chunks": int(snap.n_chunks),
        "documents": n_docs,
        "generation": int(snap.gen),
        "unscored": unscored,
    }
    return rule.with_(source="calibrated", figures=figures)


def needs_calibration(manifest: dict, live_chunks: int, *, new: bool) -> bool:
    """Whether an update just committed should (re)calibrate: a new index with two or more retrievers, or
    one calibrated    (or kept the fixed default because it was too small) on a corpus whose live chunk count has since
    changed by :data:`RECALIBRATE_CHANGE`. A tuned rule (the user's labels) and an index from before
    calibration existed are left as they are.

    >>> needs_calibration({"retrievers": [{"name": "bm25"}, {"name": "dense"}]}, 100, new=True)
    True
    >>> m = {"retrievers": [{"name": "bm25"}, {"name": "dense"}], "fusion": {"source": "calibrated", "figures": {"chunks": 100}}}
    >>> needs_calibration(m, 120, new=False), needs_calibration(m, 160, new=False)
    (False, True)
    """
    if len(manifest.get("retrievers") or []) < 2:
        return False
    rule = manifest.get("fusion")
    if rule is None:
        return new
    if rule.get("source") not in ("calibrated", "default"):  # tuned or set by hand: the user's choice stays
        return False
    before = int((rule.get("figures") or {}).get("chunks") or 0)
    return before <= 0 or abs(live_chunks - before) >= RECALIBRATE_CHANGE * before


def stored_rule(manifest: dict) -> FusionRule | None:
    """The fusion rule an index's manifest holds, or None (an index from before calibration, or one too
    small to calibrate: searches use the fixed default)."""
    d = manifest.get("fusion")
    if not d:
        return None
    try:
        return FusionRule.from_dict(d)
    except (KeyError, TypeError, ValueError, EncoderkitError):
        return None


def fixed_rule(stages: Sequence[str], live_chunks: int, reason: str) -> FusionRule:
    """The fixed default rule (what an index without a rule fuses with), recorded with why it was kept."""
    from ..retrieval.pipeline import fusion_rule_for

    return fusion_rule_for(SearchOptions(), stages).with_(figures={"chunks": int(live_chunks), "note": reason})


def maybe_calibrate(index, *, new: bool) -> FusionRule | None:
    """After an update: calibrate ``index`` when :func:`needs_calibration` says so, store the rule (or the
    fixed default with why, when there is too little to calibrate on) and return it; None when nothing
    was decided."""
    snap = index.snapshot()
    live = int(snap.n_chunks) if snap is not None else 0
    if not needs_calibration(index.manifest, live, new=new):
        return None
    rule = calibrate_fusion(index)
    if rule is None:
        if (index.manifest.get("fusion") or {}).get("source") == "default":
            return None  # still too small: the fixed default it has stays, nothing to write
        rule = fixed_rule(index.retrievers, live, f"fewer than {MIN_DOCUMENTS} documents to calibrate on: the fixed default")
    index.set_fusion_rule(rule)
    return rule
