r"""Files of queries, as ``encoderkit search --queries`` and the evaluation harness read them: ``.tsv`` (id TAB
text, an optional header), ``.jsonl`` (``_id``/``id``/``qid`` + ``text``/``query``, e.g. BEIR's
``queries.jsonl``) or ``.txt`` (one query per line, numbered from 1). Every bad line is reported with
file:line, all at once.

>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "q.tsv"
>>> _ = f.write_text("q1\tcats purr\nq2\tdogs bark\n")
>>> read_queries(f)
[('q1', 'cats purr'), ('q2', 'dogs bark')]
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError, EncoderkitError
from ..jsonl import read_jsonl, read_text, split_fields
from ..problems import Problems


def read_queries(path: str | Path) -> list[tuple[str, str]]:
    """(id, text) of every query in a .tsv / .jsonl / .txt file; problems name file:line."""
    path = Path(path)
    problems = Problems(f"queries file {path}")
    out: list[tuple[str, str]] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for n, rec in read_jsonl(path):
            qid = rec.get("_id", rec.get("id", rec.get("qid"))) if isinstance(rec, dict) else None
            text = rec.get("text", rec.get("query")) if isinstance(rec, dict) else None
            if qid is None or not isinstance(text, str) or not text.strip():
                problems.add("records without id/text", path, n, "needs _id (or id) and a non-empty text (or query)")
            else:
                out.append((str(qid), text))
    elif suffix in (".tsv", ".txt"):
        for n, line in split_fields(read_text(path)):
            if suffix == ".txt":
                out.append((str(n), line.strip()))
                continue
            parts = line.split("\t")
            if n == 1 and parts[0].strip().lower() in ("query-id", "query_id", "qid", "id", "_id"):
                continue
            if len(parts) < 2 or not parts[1].strip():
                problems.add("malformed lines", path, n, "expected: id TAB query text")
            else:
                out.append((parts[0].strip(), "\t".join(parts[1:]).strip()))
    else:
        raise EncoderkitError(f"--queries {path}: unknown format", hint="use .tsv (id TAB text), .jsonl or .txt")
    seen: set[str] = set()
    for qid, _ in out:
        if qid in seen:
            problems.add("duplicate ids", path, None, f"query id {qid!r} appears twice")
        seen.add(qid)
    problems.raise_if_any(hint="fix the queries file")
    if not out:
        raise DataError(path, "no queries found")
    return out
