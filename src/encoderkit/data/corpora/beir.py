"""Read and validate BEIR-format data (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

Everything is checked before anything expensive starts, and every problem is collected before
stopping: invalid JSON, records without ``_id``/``text``, duplicate or empty ids and texts, qrels
lines that are not ``query-id corpus-id score``, and judgements naming queries or documents that do
not exist (reported with counts). One error then lists the counts per kind and the first offending
lines. The corpus rules are those of the index (:mod:`encoderkit.data.files.sources`): a corpus that
validates here is indexed whole. JSON Lines are split on ``"\\n"`` only (:mod:`encoderkit.data.jsonl`).

>>> data = load_beir("../shared/data/scifact", split="test")     # doctest: +SKIP
>>> len(data.queries), len(data.qrels), data.skipped_queries      # doctest: +SKIP
(300, 300, 809)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError, EncoderkitError
from ..jsonl import BadRecord, read_text, records, split_fields
from ..problems import Problems, plural

QRELS_HEADER = ("query-id", "query_id", "qid")


@dataclass
class BeirData:
    """Queries that have judgements (``queries``), graded qrels and the corpus' document ids."""

    root: Path
    split: str
    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    doc_ids: set[str]
    skipped_queries: int = 0  # in queries.jsonl but without judgements in this split
    notes: list[str] = field(default_factory=list)

    def subset(self, n: int | None, seed: int = 0) -> BeirData:
        """A deterministic subset of ``n`` queries (sorted sample with a fixed seed)."""
        if not n or n >= len(self.queries):
            return self
        keep = sorted(random.Random(seed).sample(sorted(self.queries), n))
        return BeirData(
            self.root,
            self.split,
            self.corpus_path,
            {q: self.queries[q] for q in keep},
            {q: self.qrels[q] for q in keep},
            self.doc_ids,
            self.skipped_queries,
            list(self.notes),
        )

    def judged_documents(self) -> set[str]:
        """Documents with a judgement (any grade) for one of the queries."""
        return {d for docs in self.qrels.values() for d in docs}


def _require(path: Path, hint: str) -> None:
    if not path.is_file():
        raise DataError(path, "file not found", hint=hint)


def read_corpus_ids(path: Path, problems: Problems, max_bytes: int | None = None) -> set[str]:
    """The document ids of a BEIR ``corpus.jsonl``; bad records go to ``problems`` (the index's rules:
    a JSON object with ``_id`` and ``text``, ids unique, title + text not empty)."""
    ids: set[str] = set()
    for item in records(path, read_text(path)):
        if isinstance(item, BadRecord):
            problems.add_bad("invalid JSON", item)
            continue
        n, rec = item
        if not isinstance(rec, dict) or "_id" not in rec or "text" not in rec:
            problems.add("records without _id/text", path, n, "not a BEIR corpus record (needs _id and text)")
            continue
        doc_id = str(rec["_id"])
        if not doc_id.strip():
            problems.add("empty ids", path, n, "empty _id")
        elif doc_id in ids:
            problems.add("duplicate ids", path, n, f"duplicate _id {doc_id!r}")
        elif not (str(rec.get("title") or "") + str(rec.get("text") or "")).strip():
            problems.add("empty documents", path, n, f"empty document {doc_id!r} (no title, no text)")
        elif max_bytes is not None and len(str(rec.get("text") or "").encode()) > max_bytes:
            problems.add("documents too large", path, n, f"document {doc_id!r} is larger than {max_bytes} bytes")
        ids.add(doc_id)
    return ids


def read_queries(path: Path, problems: Problems) -> dict[str, str]:
    """``queries.jsonl`` -> {query id: text}; bad records go to ``problems``."""
    queries: dict[str, str] = {}
    for item in records(path, read_text(path)):
        if isinstance(item, BadRecord):
            problems.add_bad("invalid JSON", item)
            continue
        n, rec = item
        if not isinstance(rec, dict) or "_id" not in rec or "text" not in rec:
            problems.add("records without _id/text", path, n, "record lacks _id/text")
            continue
        qid, text = str(rec["_id"]), rec["text"]
        if qid in queries:
            problems.add("duplicate ids", path, n, f"duplicate query _id {qid!r}")
        elif not isinstance(text, str) or not text.strip():
            problems.add("empty queries", path, n, f"query {qid!r} has no text")
        else:
            queries[qid] = text
    return queries


def parse_qrels(path: Path, problems: Problems) -> list[tuple[int, str, str, int]]:
    """(line, query id, document id, grade) per judgement of a ``query-id corpus-id score`` TSV (header
    optional; TREC's ``qid 0 docid grade`` accepted); bad lines go to ``problems``."""
    out, seen = [], {}
    for n, line in split_fields(read_text(path)):
        parts = line.split("\t")
        if n == 1 and parts[0].strip().lower() in QRELS_HEADER:
            continue
        if len(parts) == 4:  # TREC style: qid 0 docid grade
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            problems.add("malformed lines", path, n, f"expected 3 tab-separated fields, got {len(parts)}")
            continue
        q, d, score = (p.strip() for p in parts)
        try:
            grade = float(score)
        except ValueError:
            problems.add("malformed lines", path, n, f"score {score!r} is not a number")
            continue
        if grade != int(grade):
            problems.add("malformed lines", path, n, f"score {score!r} is not a whole number (a relevance grade)")
            continue
        if (q, d) in seen and seen[(q, d)] != int(grade):
            problems.add("conflicting judgements", path, n, f"({q}, {d}) judged again with another grade")
            continue
        seen[(q, d)] = int(grade)
        out.append((n, q, d, int(grade)))
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id corpus-id score`` TSV (header optional) -> {query: {doc: grade}}."""
    _require(path, "pass --split with a split that has qrels/<split>.tsv")
    problems = Problems(str(path))
    qrels: dict[str, dict[str, int]] = {}
    for _, q, d, grade in parse_qrels(path, problems):
        qrels.setdefault(q, {})[d] = grade
    problems.raise_if_any()
    if not qrels:
        raise DataError(path, "no judgements found")
    return qrels


def load_beir(root: str | Path, split: str = "test", *, drop_unknown: bool = False, max_bytes: int | None = None) -> BeirData:
    """Load and validate a BEIR folder; every problem is collected, then reported at once.

    Judgements naming queries or documents that do not exist are errors (counted per kind), unless
    ``drop_unknown``: they are then left out and said in ``notes``."""
    root = Path(root)
    if not root.is_dir():
        raise EncoderkitError(
            f"BEIR folder '{root}' does not exist", hint="pass a folder with corpus.jsonl, queries.jsonl, qrels/"
        )
    corpus_path, queries_path, qrels_path = root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    hint = "a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
    _require(corpus_path, hint)
    _require(queries_path, hint)
    _require(qrels_path, "pass --split with a split that has qrels/<split>.tsv")
    problems = Problems(f"BEIR folder '{root}' ({split})")
    doc_ids = read_corpus_ids(corpus_path, problems, max_bytes)
    all_queries = read_queries(queries_path, problems)
    judgements = parse_qrels(qrels_path, problems)
    qrels: dict[str, dict[str, int]] = {}
    unknown_q: dict[str, int] = {}
    unknown_d: dict[str, int] = {}
    for n, q, d, grade in judgements:
        bad_q, bad_d = q not in all_queries, d not in doc_ids
        if bad_q:
            unknown_q[q] = unknown_q.get(q, 0) + 1
        if bad_d:
            unknown_d[d] = unknown_d.get(d, 0) + 1
        if (bad_q or bad_d) and not drop_unknown:
            what = f"query id {q!r} is not in queries.jsonl" if bad_q else f"document id {d!r} is not in corpus.jsonl"
            problems.add("judgements naming unknown ids", qrels_path, n, what)
        if not (bad_q or bad_d):
            qrels.setdefault(q, {})[d] = grade
    notes = []
    counts = []
    if unknown_q:
        counts.append(
            f"{plural(sum(unknown_q.values()), 'judgement')} name {plural(len(unknown_q), 'query')} not in queries.jsonl"
        )
    if unknown_d:
        counts.append(
            f"{plural(sum(unknown_d.values()), 'judgement')} name {plural(len(unknown_d), 'document')} not in corpus.jsonl"
        )
    if counts and drop_unknown:
        notes.append("dropped: " + "; ".join(counts))
    elif counts:
        problems.notes.extend(counts)
    problems.raise_if_any(hint="fix the files" + ("" if drop_unknown or not counts else ", or pass --drop-unknown-ids"))
    if not qrels:
        raise DataError(qrels_path, "no judgements of known queries and documents")
    queries = {q: all_queries[q] for q in sorted(qrels)}
    return BeirData(root, split, corpus_path, queries, qrels, doc_ids, len(all_queries) - len(queries), notes)
