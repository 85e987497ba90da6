"""Line readers for labelled text files, one per format; every bad row is a DataError naming file:line.

Formats:

- ``csv`` / ``tsv``: a header row, then one example per row; the text column(s) and the label column
  are named by the caller or found among common names (text, sentence, ...; label, class, ...).
  Several text columns (``title,description``) are joined with a space.
- ``jsonl``: one JSON object per line (split on "\\n" only: a U+2028 inside a text is not a line break);
  the label is a string, or a list of strings for multi-label data.
- ``sst2``: ``label sentence`` per line (label first, one space), as in SST-2's ``stsa.binary.*``.
- ``trec``: ``COARSE:fine question`` per line (TREC question classification).
- ``agnews``: headerless CSV ``class,title,description`` with 1-based class indices naming the lines
  of a ``classes.txt`` beside the file.

>>> split_labels("sports | politics", "|")
('sports', 'politics')
>>> trec_label("LOC:city", "coarse"), trec_label("LOC:city", "fine")
('LOC', 'LOC:city')
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ...errors import DataError

TEXT_COLUMNS = ("text", "sentence", "content", "document", "review", "question", "utterance", "body")
LABEL_COLUMNS = ("label", "labels", "class", "category", "intent", "target", "tags")


@dataclass(frozen=True)
class Row:
    """One labelled example as read: ``labels`` has one entry (single-label) or several."""

    text: str
    labels: tuple[str, ...]
    line: int


def split_labels(value: str, sep: str | None) -> tuple[str, ...]:
    """A label field as a tuple of labels (split on ``sep`` when given; blanks dropped)."""
    parts = value.split(sep) if sep else [value]
    return tuple(p.strip() for p in parts if p.strip())


def trec_label(label: str, level: str) -> str:
    """The coarse (``LOC``) or fine (``LOC:city``) TREC label."""
    return label.split(":", 1)[0] if level == "coarse" else label


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 (byte {exc.start})", hint="convert the file to UTF-8") from None
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror})") from None


def _need_text(path: Path, line: int, text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DataError(path, "empty text", line=line, hint="every example needs a non-empty text")
    return text.strip()


def _need_labels(path: Path, line: int, labels: tuple[str, ...]) -> tuple[str, ...]:
    if not labels:
        raise DataError(path, "no label", line=line, hint="every example needs a label")
    return labels


def read_label_first(path: Path, label_sep: str | None = None) -> Iterator[Row]:
    """``label text`` lines (SST-2)."""
    for n, line in enumerate(read_text(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        yield Row(_need_text(path, n, text), _need_labels(path, n, split_labels(label, label_sep)), n)


TREC_LINE = re.compile(r"^([A-Z]+:\S+)\s+(.*)$")


def read_trec(path: Path, level: str = "coarse") -> Iterator[Row]:
    """``COARSE:fine question`` lines (TREC); ``level`` coarse (6 labels) or fine (50)."""
    if level not in ("coarse", "fine"):
        raise DataError(path, f"unknown TREC label level '{level}'", hint="use coarse or fine")
    for n, line in enumerate(read_bytes_lines(path), start=1):
        if not line.strip():
            continue
        m = TREC_LINE.match(line.strip())
        if not m:
            raise DataError(path, "expected 'COARSE:fine question'", line=n)
        yield Row(_need_text(path, n, m.group(2)), (trec_label(m.group(1), level),), n)


def read_bytes_lines(path: Path) -> list[str]:
    """Lines of a file that may hold a few non-UTF-8 bytes (TREC's files have Latin-1 characters)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [ln.rstrip("\r") for ln in text.split("\n")]


def read_jsonl(path: Path, text_col: str | None, label_col: str | None, label_sep: str | None) -> Iterator[Row]:
    """One JSON object per line; ``label`` a string or a list (multi-label)."""
    for n, line in enumerate(read_text(path).split("\n"), start=1):  # "\n" only, never str.splitlines
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
        if not isinstance(rec, dict):
            raise DataError(path, "expected a JSON object", line=n)
        tcols = _pick(path, n, text_col, TEXT_COLUMNS, list(rec), "text")
        lcol = _pick(path, n, label_col, LABEL_COLUMNS, list(rec), "label")[0]
        parts = [rec.get(c) for c in tcols]
        if any(p is not None and not isinstance(p, str) for p in parts):
            raise DataError(path, f"text field {'/'.join(tcols)} is not a string", line=n)
        text = " ".join(p.strip() for p in parts if p and p.strip())
        value = rec.get(lcol)
        if isinstance(value, list):
            labels = tuple(str(v).strip() for v in value if str(v).strip())
            if not labels:  # an empty list is a valid multi-label example with no label
                yield Row(_need_text(path, n, text), (), n)
                continue
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            labels = split_labels(str(value), label_sep)
        else:
            raise DataError(path, f"field '{lcol}' is missing or not a string / list", line=n)
        yield Row(_need_text(path, n, text), _need_labels(path, n, labels), n)


def _pick(path: Path, line: int, wanted: str | None, candidates: tuple[str, ...], have: list[str], what: str) -> list[str]:
    """The column(s) to read: ``wanted`` (comma-separated names) or the first common name present."""
    if wanted:
        cols = [c.strip() for c in wanted.split(",") if c.strip()]
        missing = [c for c in cols if c not in have]
        if missing:
            raise DataError(
                path, f"no {what} column '{missing[0]}' (columns: {', '.join(have)})", line=line, hint=f"pass --{what}-col"
            )
        return cols
    lower = {c.lower(): c for c in have}
    for c in candidates:
        if c in lower:
            return [lower[c]]
    raise DataError(path, f"no {what} column among {', '.join(have)}", line=line, hint=f"name it with --{what}-col")


def read_delimited(
    path: Path, delimiter: str, text_col: str | None, label_col: str | None, label_sep: str | None
) -> Iterator[Row]:
    """CSV / TSV with a header row."""
    content = read_text(path)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(path, "empty file") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    tcols = _pick(path, 1, text_col, TEXT_COLUMNS, header, "text")
    lcol = _pick(path, 1, label_col, LABEL_COLUMNS, header, "label")[0]
    ti, li = [header.index(c) for c in tcols], header.index(lcol)
    start = reader.line_num
    try:
        for row in reader:
            n = start + 1
            start = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(path, f"expected {len(header)} fields, got {len(row)}", line=n)
            text = " ".join(row[i].strip() for i in ti if row[i].strip())
            yield Row(_need_text(path, n, text), _need_labels(path, n, split_labels(row[li], label_sep)), n)
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})", line=reader.line_num) from None


ENTITY = re.compile(r" ?#(\d{2,5});")


def clean_agnews(text: str) -> str:
    r"""AG News escapes: ``\`` stands for a line break, `` #36;`` for ``&#36;`` ($), `` #39;`` for ``'``.

    >>> clean_agnews(r"the  #36;10 million\prize that doesn #39;t exist")
    "the $10 million prize that doesn't exist"
    """
    text = ENTITY.sub(lambda m: chr(int(m.group(1))), text)
    return re.sub(r"\s+", " ", text.replace("\\", " ")).strip()


def read_classes(path: Path) -> list[str]:
    """Class names, one per line (AG News' classes.txt)."""
    names = [ln.strip() for ln in read_text(path).split("\n") if ln.strip()]
    if not names:
        raise DataError(path, "no class names")
    return names


def read_agnews(path: Path, classes: list[str] | None) -> Iterator[Row]:
    """Headerless ``class,title,description`` CSV; class = 1-based index into ``classes``."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    start = 0
    try:
        for row in reader:
            n = start + 1
            start = reader.line_num
            if not row:
                continue
            if len(row) != 3:
                raise DataError(path, f"expected 3 fields (class,title,description), got {len(row)}", line=n)
            raw = row[0].strip()
            if classes is not None:
                if not raw.isdigit() or not 1 <= int(raw) <= len(classes):
                    raise DataError(path, f"class '{raw}' is not a line of classes.txt (1..{len(classes)})", line=n)
                label = classes[int(raw) - 1]
            else:
                label = raw
            text = clean_agnews(f"{row[1].strip()}. {row[2].strip()}" if row[1].strip() else row[2])
            yield Row(_need_text(path, n, text), _need_labels(path, n, (label,) if label else ()), n)
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})", line=reader.line_num) from None
