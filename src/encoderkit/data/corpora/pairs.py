"""Training data for retrieval models, with errors that name the file and line.

Accepted inputs:

- a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): (query, relevant document)
  pairs from the qrels (grade >= 1), and the corpus for hard-negative mining;
- a ``.jsonl`` file of pairs/triplets ``{"query", "positive", "negatives": [...]}`` (also accepted:
  ``anchor``/``positive``/``negative``);
- a ``.jsonl`` file of scored pairs ``{"text1", "text2", "score"}`` (STS style, for CoSENT);
- an STS Benchmark folder or ``sts-*.csv`` file (scored pairs).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError, EncoderkitError
from ..jsonl import read_jsonl


@dataclass
class Pair:
    """A query with one relevant passage and optional negatives (texts, plus corpus ids if known)."""

    query: str
    positive: str
    negatives: list[str] = field(default_factory=list)
    query_id: str = ""
    positive_id: str = ""


@dataclass
class Scored:
    a: str
    b: str
    score: float


@dataclass
class TrainingData:
    """``kind`` is "pairs" or "scored". ``corpus`` (doc id -> text) and ``qrels`` come with BEIR input."""

    kind: str
    source: str
    pairs: list[Pair] = field(default_factory=list)
    scored: list[Scored] = field(default_factory=list)
    corpus: dict[str, str] | None = None
    qrels: dict[str, dict[str, int]] | None = None
    queries: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.pairs) if self.kind == "pairs" else len(self.scored)


def doc_text(title: str, text: str) -> str:
    """How a corpus document is shown to a model: title as a header line, then the text (the same
    join the index uses for chunks)."""
    return f"{title}\n{text}" if title else text


def load_training_data(path: str | Path, *, split: str = "train") -> TrainingData:
    """Load any accepted input (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise EncoderkitError(f"training data '{path}' does not exist", hint="pass a BEIR folder or a .jsonl file")
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return _load_beir(path, split)
    if path.is_dir() and (path / f"sts-{split}.csv").is_file() or path.suffix == ".csv":
        from .sts import read_sts

        pairs = read_sts(path, split)
        return TrainingData("scored", str(path), scored=[Scored(p.a, p.b, p.score) for p in pairs])
    if path.suffix == ".jsonl":
        return _load_jsonl(path)
    raise EncoderkitError(
        f"cannot read training data from '{path}'",
        hint="pass a BEIR folder, an STS folder/.csv, or a .jsonl of pairs or scored pairs",
    )


def _nonempty(value, path: Path, line: int, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, f"field '{name}' is missing or empty", line=line, hint="every example needs non-empty texts")
    return value


def _load_jsonl(path: Path) -> TrainingData:
    pairs, scored = [], []
    for n, rec in read_jsonl(path):  # records end at "\n" only (JSON Lines); bad JSON names file:line
        if not isinstance(rec, dict):
            raise DataError(path, "expected a JSON object", line=n)
        if "score" in rec or "text1" in rec:
            if pairs:
                raise DataError(path, "mixes scored pairs with query/positive pairs", line=n)
            try:
                score = float(rec.get("score"))
            except (TypeError, ValueError):
                score = math.nan
            if not math.isfinite(score):
                raise DataError(path, "field 'score' is missing or not a finite number", line=n)
            scored.append(
                Scored(_nonempty(rec.get("text1"), path, n, "text1"), _nonempty(rec.get("text2"), path, n, "text2"), score)
            )
            continue
        if scored:
            raise DataError(path, "mixes query/positive pairs with scored pairs", line=n)
        query = rec.get("query", rec.get("anchor"))
        positive = rec.get("positive")
        negs = rec.get("negatives", rec.get("negative", []))
        negs = [negs] if isinstance(negs, str) else negs
        if not isinstance(negs, list):
            raise DataError(path, "field 'negatives' must be a list of strings", line=n)
        pairs.append(
            Pair(
                _nonempty(query, path, n, "query"),
                _nonempty(positive, path, n, "positive"),
                [_nonempty(x, path, n, "negatives[]") for x in negs],
            )
        )
    if not pairs and not scored:
        raise DataError(path, "no training examples found")
    return TrainingData("scored" if scored else "pairs", str(path), pairs=pairs, scored=scored)


def _load_beir(root: Path, split: str) -> TrainingData:
    from .beir import load_beir

    data = load_beir(root, split)  # raises DataError naming file:line for unknown ids or bad JSON
    corpus: dict[str, str] = {}
    for _, rec in read_jsonl(root / "corpus.jsonl"):  # validated by load_beir above
        corpus[str(rec["_id"])] = doc_text(str(rec.get("title") or ""), str(rec.get("text") or ""))
    pairs = []
    for qid, docs in data.qrels.items():
        query = data.queries[qid]
        if not query.strip():
            raise DataError(root / "queries.jsonl", f"query {qid!r} is empty")
        for did, grade in docs.items():
            if grade >= 1:
                pairs.append(Pair(query, corpus[did], query_id=qid, positive_id=did))
    if not pairs:
        raise DataError(root / "qrels" / f"{split}.tsv", "no relevant (grade >= 1) judgements")
    return TrainingData("pairs", str(root), pairs=pairs, corpus=corpus, qrels=data.qrels, queries=data.queries)


def split_validation(data: TrainingData, fraction: float, seed: int = 0) -> tuple[TrainingData, TrainingData | None]:
    """Hold out a deterministic ``fraction`` for validation: whole queries for pairs (all pairs of a
    held-out query go to validation), examples for scored pairs."""
    if fraction <= 0:
        return data, None
    rng = random.Random(seed)
    if data.kind == "scored":
        idx = list(range(len(data.scored)))
        rng.shuffle(idx)
        cut = max(1, int(len(idx) * fraction))
        val = {i for i in idx[:cut]}
        return (
            TrainingData("scored", data.source, scored=[s for i, s in enumerate(data.scored) if i not in val]),
            TrainingData("scored", data.source, scored=[s for i, s in enumerate(data.scored) if i in val]),
        )
    keys = sorted({p.query_id or p.query for p in data.pairs})
    rng.shuffle(keys)
    held = set(keys[: max(1, int(len(keys) * fraction))])
    train = [p for p in data.pairs if (p.query_id or p.query) not in held]
    val = [p for p in data.pairs if (p.query_id or p.query) in held]
    common = dict(corpus=data.corpus, queries=data.queries)
    qrels_train = {q: r for q, r in (data.qrels or {}).items() if q not in held} or None
    qrels_val = {q: r for q, r in (data.qrels or {}).items() if q in held} or None
    return (
        TrainingData("pairs", data.source, pairs=train, qrels=qrels_train, **common),
        TrainingData("pairs", data.source, pairs=val, qrels=qrels_val, **common),
    )
