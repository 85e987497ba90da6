"""JSON Lines, split by the format's own rule: records end at ``"\\n"`` and nowhere else.

``str.splitlines()`` (and ``io`` in universal-newline mode) also break at ``"\\r"``, U+0085 (NEL),
U+2028, U+2029, form feeds and other separators. Those characters are legal inside JSON strings, so
splitting on them cuts valid records in two (one public 5,000-passage corpus has 4 passages with
U+0085). https://jsonlines.org: "the line separator is '\\n'"; a ``"\\r"`` before it is JSON whitespace
and is dropped, so CRLF files read the same. A UTF-8 byte-order mark at the start of the file is
skipped. Line numbers count ``"\\n"`` only, as ``sed -n Np`` and ``awk NR`` do.

>>> [(n, line) for n, line in lines('{"a": 1}\\r\\n\\n{"b": "x\\u2028y\\u0085z"}')]
[(1, '{"a": 1}'), (3, '{"b": "x\\u2028y\\x85z"}')]
>>> parse('{"_id": "d1"}')
{'_id': 'd1'}
>>> str(_error('{"text": "one"}\\r{"text": "two"}'))[:60]
'invalid JSON (Extra data at column 17); the line holds a car'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError

BOM = "\ufeff"


class RecordError(ValueError):
    """Why one line is not a valid record (the caller adds file and line)."""


def _error(line: str) -> RecordError | None:
    try:
        parse(line)
    except RecordError as exc:
        return exc
    return None


@dataclass(frozen=True)
class BadRecord:
    """A record that was refused: where it is and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) for every non-blank line of JSON Lines ``text``, split on ``"\\n"``
    only; a trailing ``"\\r"`` (CRLF) and a leading byte-order mark are removed."""
    if text.startswith(BOM):
        text = text[1:]
    for n, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip(" \t\r"):
            yield n, line


def parse(line: str) -> Any:
    """One line's JSON value; :class:`RecordError` with a reason a person can act on otherwise."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON ({exc.msg} at column {exc.colno})"
        if "\r" in line:
            reason += "; the line holds a carriage return (\\r): JSON Lines separates records with \\n only"
        elif line.startswith(BOM):
            reason += "; the line starts with a byte-order mark (files concatenated?)"
        raise RecordError(reason) from None


def read_text(path: str | Path) -> str:
    """A file's text as UTF-8 (a leading BOM dropped); invalid UTF-8 is a :class:`DataError` naming the
    line and byte where it occurs."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"unreadable ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            path, f"invalid UTF-8 at byte {exc.start}", line=line, hint="convert the file to UTF-8 (e.g. with iconv)"
        ) from None


def records(path: str | Path, text: str | None = None) -> Iterator[tuple[int, Any] | BadRecord]:
    """(line number, parsed value) per record of a JSON Lines file, or a :class:`BadRecord` for a line
    that is not valid JSON: the caller decides whether that stops the run or is skipped and counted."""
    text = read_text(path) if text is None else text
    for n, line in lines(text):
        try:
            yield n, parse(line)
        except RecordError as exc:
            yield BadRecord(str(path), n, str(exc))


def read_jsonl(path: str | Path, text: str | None = None) -> Iterator[tuple[int, Any]]:
    """Like :func:`records`, but the first bad line raises a :class:`DataError` naming file:line."""
    for item in records(path, text):
        if isinstance(item, BadRecord):
            raise DataError(item.path, item.reason, line=item.line, hint="fix or remove that line")
        yield item


def split_fields(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a delimited text file (TSV/CSV without quoted newlines), split on ``"\\n"``
    only, CRLF handled, BOM removed, blank lines skipped: the same rule as :func:`lines`.

    >>> list(split_fields("a\\tb\\r\\nc\\u2028d\\te\\n"))
    [(1, 'a\\tb'), (2, 'c\\u2028d\\te')]
    """
    yield from lines(text)
