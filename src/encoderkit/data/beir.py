"""Read BEIR-format data (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) with errors
that name the file and line.

>>> data = load_beir("../shared/data/scifact", split="test")     # doctest: +SKIP
>>> len(data.queries), len(data.qrels), data.skipped_queries      # doctest: +SKIP
(300, 300, 809)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, EncoderkitError


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


def _read_jsonl(path: Path, required: tuple[str, ...]):
    if not path.is_file():
        raise DataError(path, "file not found", hint="a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"invalid JSON ({exc.msg})", line=n, hint="fix or remove that line") from None
            if not isinstance(rec, dict) or any(k not in rec for k in required):
                raise DataError(
                    path,
                    f"record lacks {'/'.join(required)}",
                    line=n,
                    hint=f"each line must be a JSON object with {', '.join(required)}",
                )
            yield n, rec


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id corpus-id score`` TSV (header optional) -> {query: {doc: grade}}."""
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass --split with a split that has qrels/<split>.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if n == 1 and parts[0].lower() in ("query-id", "query_id", "qid"):
                continue
            if len(parts) == 4:  # TREC style: qid 0 docid grade
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise DataError(path, f"expected 3 tab-separated fields, got {len(parts)}", line=n)
            try:
                grade = int(float(parts[2]))
            except ValueError:
                raise DataError(path, f"score {parts[2]!r} is not a number", line=n) from None
            qrels.setdefault(parts[0], {})[parts[1]] = grade
    if not qrels:
        raise DataError(path, "no judgements found")
    return qrels


def load_beir(root: str | Path, split: str = "test") -> BeirData:
    """Load and cross-check a BEIR folder. Qrels naming unknown queries or documents are errors."""
    root = Path(root)
    if not root.is_dir():
        raise EncoderkitError(
            f"BEIR folder '{root}' does not exist", hint="pass a folder with corpus.jsonl, queries.jsonl, qrels/"
        )
    corpus_path = root / "corpus.jsonl"
    doc_ids = {str(rec["_id"]) for _, rec in _read_jsonl(corpus_path, ("_id", "text"))}
    all_queries = {str(rec["_id"]): str(rec["text"]) for _, rec in _read_jsonl(root / "queries.jsonl", ("_id", "text"))}
    qrels_path = root / "qrels" / f"{split}.tsv"
    qrels = read_qrels(qrels_path)
    with open(qrels_path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for n, line in enumerate(lines, start=1):
        parts = line.split("\t")
        if len(parts) < 3 or (n == 1 and parts[0].lower() in ("query-id", "query_id", "qid")):
            continue
        q, d = parts[0], parts[-2]
        if q not in all_queries:
            raise DataError(qrels_path, f"query id {q!r} is not in queries.jsonl", line=n)
        if d not in doc_ids:
            raise DataError(qrels_path, f"document id {d!r} is not in corpus.jsonl", line=n)
    queries = {q: all_queries[q] for q in sorted(qrels)}
    return BeirData(root, split, corpus_path, queries, qrels, doc_ids, skipped_queries=len(all_queries) - len(queries))
