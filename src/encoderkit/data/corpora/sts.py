"""Read and validate scored sentence pairs: STS Benchmark, SICK, or any CSV/TSV/JSONL with named columns.

Formats (``fmt="auto"`` picks from the file name and header):

- ``sts-b``: the STS Benchmark's ``sts-<split>.csv`` — tab-separated, no header, no quoting; genre,
  file, year, id, score (0-5), sentence 1, sentence 2 (some lines carry extra fields, ignored);
- ``sick``: SICK's own files (``SICK.txt``, ``SICK_train.txt``, ...) — tab-separated with a header
  naming ``sentence_A``, ``sentence_B`` and ``relatedness_score`` (1-5); in the full ``SICK.txt`` the
  ``SemEval_set`` column (TRAIN/TRIAL/TEST) selects the split;
- ``columns``: a ``.csv`` / ``.tsv`` with a header row, or a ``.jsonl``, read by column names
  (``columns=("sentence1", "sentence2", "score")``; those names, then text1/text2 and
  sentence_A/sentence_B, are tried when none are given).

Every row is checked and every problem collected before stopping: the score must be a finite number
inside the declared range, sentences non-empty text that is not a number, and a sentence column whose
values look like labels (few distinct values, e.g. SICK's ``A_neutral_B`` read through the STS-B layout
of a header-less file) is refused. Records are split by each format's own rule: ``"\\n"`` only for
TSV and JSONL, RFC 4180 (quoted newlines allowed) for CSV.

>>> pairs = read_sts("../shared/data/stsbenchmark", split="test")   # doctest: +SKIP
>>> len(pairs), pairs.info["format"], pairs.info["score_range"]      # doctest: +SKIP
(1379, 'sts-b', [0.0, 5.0])
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ...errors import DataError, EncoderkitError
from ..jsonl import BadRecord, read_text, records, split_fields
from ..problems import Problems

RANGES = {"sts-b": (0.0, 5.0), "sick": (1.0, 5.0)}
SICK_SPLITS = {"train": "TRAIN", "dev": "TRIAL", "trial": "TRIAL", "test": "TEST"}
DEFAULT_COLUMNS = (
    ("sentence1", "sentence2", "score"),
    ("text1", "text2", "score"),
    ("sentence_A", "sentence_B", "relatedness_score"),
)
_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class StsPair:
    a: str
    b: str
    score: float


class StsPairs(list):
    """The pairs (a list of :class:`StsPair`) plus ``info``: file, format, columns, score range, rows."""

    def __init__(self, pairs: Sequence[StsPair], info: dict):
        super().__init__(pairs)
        self.info = info


@dataclass
class _Table:
    path: Path
    fmt: str
    rows: list[tuple[int, dict]] = field(default_factory=list)  # (line, {column: value})
    columns: tuple[str, str, str] = ("", "", "")
    split: str | None = None  # the split its rows were selected for; None: the whole file, it has no split column


def read_sts(
    path: str | Path,
    split: str = "test",
    *,
    fmt: str = "auto",
    columns: Sequence[str] | None = None,
    score_range: tuple[float, float] | None = None,
) -> StsPairs:
    """Validated sentence pairs from a file or a folder (``sts-<split>.csv``, or SICK's files)."""
    given = Path(path)
    path = _locate(given, split)
    table = _read_table(path, split, fmt, tuple(columns) if columns else None)
    if table.split is None and given.is_dir() and split.lower() in path.stem.lower():
        table.split = split  # the folder's file for that split (sts-test.csv, test.tsv)
    lo, hi = score_range or RANGES.get(table.fmt, (-math.inf, math.inf))
    if lo >= hi:
        raise EncoderkitError(f"score range {lo}:{hi} is empty", hint="pass MIN:MAX with MIN < MAX, e.g. 0:5")
    problems = Problems(f"{path} ({table.fmt})")
    pairs = []
    ca, cb, cs = table.columns
    for n, row in table.rows:
        a, b, raw = row.get(ca), row.get(cb), row.get(cs)
        ok = True
        for name, value in ((ca, a), (cb, b)):
            if not isinstance(value, str) or not value.strip():
                problems.add("empty sentences", path, n, f"{name} is empty")
                ok = False
            elif _NUMBER.match(value):
                problems.add("numbers where sentences belong", path, n, f"{name} is a number ({value.strip()!r}), not text")
                ok = False
        try:
            score = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            problems.add("non-numeric scores", path, n, f"{cs} {raw!r} is not a number")
            continue
        if not math.isfinite(score) or not lo <= score <= hi:
            problems.add("scores out of range", path, n, f"{cs} {raw!r} is outside the range {lo:g}..{hi:g}")
            continue
        if ok:
            pairs.append(StsPair(a, b, score))
    if len(table.rows) >= 10:
        for name in (ca, cb):
            values = [r.get(name) for _, r in table.rows if isinstance(r.get(name), str)]
            distinct = set(values)
            few, single = len(distinct) <= max(5, len(values) // 50), sum(" " not in v.strip() for v in values)
            if few and single > 0.9 * len(values):  # labels such as SICK's A_neutral_B (word lists still pass)
                shown = ", ".join(repr(v) for v in sorted(distinct)[:4])
                problems.notes.append(
                    f"column {name!r} looks like labels, not sentences ({len(distinct)} distinct values in "
                    f"{len(values)} rows: {shown}{', ...' if len(distinct) > 4 else ''})"
                )
    hint = "check the file's format" + ("" if table.fmt == "columns" else " or name its columns with --columns s1,s2,score")
    problems.raise_if_any(hint=hint)
    if not pairs:
        raise DataError(path, "no sentence pairs found")
    info = {
        "file": str(path),
        "format": table.fmt,
        "columns": list(table.columns),
        "score_range": [lo, hi],
        "rows": len(table.rows),
        "pairs": len(pairs),
        "split": table.split,
    }
    if table.split is None:
        info["split_note"] = f"{path.name} has no split column: all {len(pairs)} pairs of the file were scored"
    return StsPairs(pairs, info)


def _locate(path: Path, split: str) -> Path:
    if path.is_dir():
        for name in (f"sts-{split}.csv", f"SICK_{split}.txt", "SICK.txt", f"{split}.tsv", f"{split}.csv", f"{split}.jsonl"):
            if (path / name).is_file():
                return path / name
        raise DataError(path, f"no sts-{split}.csv, SICK.txt or {split}.tsv/.csv/.jsonl here", hint="pass the data file itself")
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass an STS Benchmark folder, a SICK file, or a CSV/TSV/JSONL of pairs")
    return path


def _read_table(path: Path, split: str, fmt: str, columns: tuple | None) -> _Table:
    if fmt not in ("auto", "sts-b", "sick", "columns"):
        raise EncoderkitError(f"unknown STS format {fmt!r}", hint="use auto, sts-b, sick or columns")
    if columns is not None and len(columns) != 3:
        raise EncoderkitError(f"--columns needs 3 names, got {len(columns)}", hint="e.g. --columns sentence1,sentence2,score")
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_table(path, text, columns)
    delim = "," if suffix == ".csv" and not path.name.startswith("sts-") else "\t"
    first = next(iter(split_fields(text)), (1, ""))[1]
    header = [h.strip() for h in (next(csv.reader([first], delimiter=delim)) if first else [])]
    if fmt == "sts-b" or (fmt == "auto" and columns is None and path.name.startswith("sts-")):
        return _sts_b_table(path, text)
    if fmt == "sick" or (fmt == "auto" and columns is None and {"sentence_A", "sentence_B"} <= set(header)):
        cols = columns or ("sentence_A", "sentence_B", "relatedness_score")
        table = _header_table(path, text, delim, cols, "sick")
        if "SemEval_set" in header:
            want = SICK_SPLITS.get(split.lower(), split.upper())
            table.rows = [(n, r) for n, r in table.rows if r.get("SemEval_set", "").strip().upper() == want]
            table.split = split
        return table
    for cols in [columns] if columns else DEFAULT_COLUMNS:
        if set(cols) <= set(header):
            return _header_table(path, text, delim, cols, "columns")
    if columns:
        raise DataError(path, f"header has no column(s) {', '.join(c for c in columns if c not in header)}", line=1)
    raise DataError(
        path,
        f"cannot tell which columns hold the sentences and the score (header: {first[:120]!r})",
        line=1,
        hint="name them with --columns sentence1,sentence2,score, or pass an STS-B sts-*.csv or a SICK file",
    )


def _sts_b_table(path: Path, text: str) -> _Table:
    table = _Table(path, "sts-b", columns=("sentence1", "sentence2", "score"))
    problems = Problems(f"{path} (sts-b)")
    for n, line in split_fields(text):
        parts = line.split("\t")
        if len(parts) < 7:
            problems.add("short lines", path, n, f"expected at least 7 tab-separated fields, got {len(parts)}")
            continue
        table.rows.append((n, {"score": parts[4], "sentence1": parts[5], "sentence2": parts[6]}))
    problems.raise_if_any(hint="STS-B lines are: genre, file, year, id, score, sentence1, sentence2")
    return table


def _header_table(path: Path, text: str, delim: str, cols: tuple, fmt: str) -> _Table:
    table = _Table(path, fmt, columns=tuple(cols))
    if delim == "\t":  # TSV: one record per "\n"-line, no quoting (STS data is full of unbalanced quotes)
        numbered = list(split_fields(text))
        header = [h.strip() for h in numbered[0][1].split("\t")]
        body = [(n, line.split("\t")) for n, line in numbered[1:]]
    else:  # CSV: RFC 4180 (quoted fields may hold newlines)
        csv.field_size_limit(2**31 - 1)
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=",")
        try:
            rows = [(reader.line_num, r) for r in reader if any(x.strip() for x in r)]
        except csv.Error as exc:
            raise DataError(path, f"not valid CSV ({exc})", line=reader.line_num) from None
        header = [h.strip() for h in rows[0][1]]
        body = rows[1:]
    missing = [c for c in cols if c not in header]
    if missing:
        raise DataError(path, f"header has no column(s) {', '.join(missing)}", line=1)
    problems = Problems(f"{path} ({fmt})")
    for n, parts in body:
        if len(parts) < len(header):
            problems.add("short lines", path, n, f"expected {len(header)} fields, got {len(parts)}")
            continue
        table.rows.append((n, dict(zip(header, parts))))
    problems.raise_if_any()
    return table


def _jsonl_table(path: Path, text: str, columns: tuple | None) -> _Table:
    rows, problems = [], Problems(f"{path} (jsonl)")
    for item in records(path, text):
        if isinstance(item, BadRecord):
            problems.add_bad("invalid JSON", item)
        elif not isinstance(item[1], dict):
            problems.add("not objects", path, item[0], "expected a JSON object")
        else:
            rows.append((item[0], item[1]))
    problems.raise_if_any()
    keys = set().union(*(r.keys() for _, r in rows)) if rows else set()
    for cols in [columns] if columns else DEFAULT_COLUMNS:
        if set(cols) <= keys:
            return _Table(path, "columns", rows, tuple(cols))
    raise DataError(path, "records lack the sentence/score fields", hint="name them with --columns sentence1,sentence2,score")
