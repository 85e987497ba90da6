"""Writing the results of a batch of queries: a TREC run (``qid Q0 doc rank score tag``, the format
trec_eval and every IR toolkit read; equal scores made strictly decreasing in the order trec_eval
breaks ties, so the file ranks as the search did) or JSON lines (one object per query).

>>> run_format("out.trec"), run_format("out.jsonl"), run_format("out.csv")
('trec', 'jsonl', None)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from ..errors import EncoderkitError
from .metrics import strict_scores

TREC_SUFFIXES = (".trec", ".run", ".txt")


def run_format(path: str | Path) -> str | None:
    """ "trec" or "jsonl" from a run file's name, None for anything else."""
    suffix = Path(path).suffix.lower()
    return "jsonl" if suffix == ".jsonl" else "trec" if suffix in TREC_SUFFIXES else None


def trec_lines(qid: str, hits: Sequence, *, by: str = "document", tag: str = "encoderkit") -> list[str]:
    """The TREC run lines of one query's hits (documents, or chunks with ``by="chunk"``)."""
    key = "chunk_id" if by == "chunk" else "doc_id"
    strict = strict_scores([str(getattr(h, key)) for h in hits], [h.score for h in hits])
    return [f"{qid} Q0 {doc} {rank} {score:.12f} {tag}\n" for rank, (doc, score) in enumerate(strict.items(), start=1)]


class RunWriter:
    """Writes each query's hits to ``path`` as TREC lines or as JSON lines (``json_row(qid, text, hits)``
    gives the object of one query). Use as a context manager."""

    def __init__(self, path: str | Path, *, by: str, tag: str, json_row: Callable[[str, str, Sequence], dict]):
        self.path = Path(path)
        self.format = run_format(self.path)
        if self.format is None:
            raise EncoderkitError(f"--run {path}: unknown format", hint="name it .trec, .run, .txt (TREC) or .jsonl")
        self.by, self.tag, self.json_row = by, tag, json_row
        self.queries = 0
        self._fh = None

    def __enter__(self) -> RunWriter:
        self._fh = open(self.path, "w", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def write(self, qid: str, text: str, hits: Sequence) -> None:
        if self.format == "trec":
            self._fh.writelines(trec_lines(qid, hits, by=self.by, tag=self.tag))
        else:
            self._fh.write(json.dumps(self.json_row(qid, text, hits), ensure_ascii=False) + "\n")
        self.queries += 1
