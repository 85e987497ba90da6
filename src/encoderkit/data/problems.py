"""Collect every bad record of an input before stopping, then report them in one go: a one-line
summary with counts per kind, and the first few offending lines (file:line: reason).

>>> p = Problems("BEIR folder 'x'")
>>> p.add("invalid JSON", "x/corpus.jsonl", 3, "invalid JSON (Expecting value at column 1)")
>>> p.add("invalid JSON", "x/corpus.jsonl", 9, "invalid JSON (Expecting value at column 1)")
>>> print(p.message())
BEIR folder 'x': 2 problems (2 invalid JSON); first:
  x/corpus.jsonl:3: invalid JSON (Expecting value at column 1)
  x/corpus.jsonl:9: invalid JSON (Expecting value at column 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DataError, EncoderkitError
from .jsonl import BadRecord

SHOW = 5


@dataclass
class Problems:
    """Bad records by kind (counts) plus the first ``SHOW`` of them to show."""

    what: str
    counts: dict[str, int] = field(default_factory=dict)
    first: list[BadRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # summaries that are not one line each (e.g. counts of ids)

    def add(self, kind: str, path, line: int | None, reason: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.first) < SHOW:
            self.first.append(BadRecord(str(path), line if line is not None else 0, reason))

    def add_bad(self, kind: str, bad: BadRecord) -> None:
        self.add(kind, bad.path, bad.line, bad.reason)

    def __bool__(self) -> bool:
        return bool(self.counts or self.notes)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def message(self, hint: str | None = None) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.counts.items())
        head = f"{self.what}: {len(self)} problem{'s' if len(self) != 1 else ''} ({kinds})" if self.counts else self.what
        if self.notes:
            head += ("; " if self.counts else ": ") + "; ".join(self.notes)
        if hint:
            head += f"; {hint}"
        lines = [f"  {b.path}:{b.line}: {b.reason}" if b.line else f"  {b.path}: {b.reason}" for b in self.first]
        return head + ("; first:\n" + "\n".join(lines) if lines else "")

    def raise_if_any(self, hint: str | None = None) -> None:
        if self:
            raise InvalidData(self, hint)


class InvalidData(DataError):
    """Input that does not validate; ``problems`` holds the counts and the first offending records."""

    def __init__(self, problems: Problems, hint: str | None = None):
        EncoderkitError.__init__(self, problems.message(hint))
        self.problems = problems
        self.path = problems.first[0].path if problems.first else problems.what
        self.line = problems.first[0].line if problems.first else None


def plural(n: int, word: str) -> str:
    """``plural(1, "query")`` -> "1 query"; ``plural(3, "document")`` -> "3 documents".

    >>> plural(2, "query"), plural(1, "judgement")
    ('2 queries', '1 judgement')
    """
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else f"{n} {word}s"


__all__ = ["Problems", "InvalidData", "BadRecord", "plural"]
