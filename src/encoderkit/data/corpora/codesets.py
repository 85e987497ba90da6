"""Code sets (controlled vocabularies) for entity linking: concepts with an id, a preferred name,
synonyms, optional other ids, parents and a type. Read from:

- MEDIC / CTD lines ``ids||name|synonym|...`` (the ids before ``||`` ``|``-separated: MeSH ``D…``/``C…``
  and bare OMIM numbers, written here ``OMIM:NNN`` as the NCBI disease corpus writes them; names may hold
  HTML entities such as ``&apos;``, unescaped);
- CSV / TSV with a header naming ``id`` and ``name`` (and optionally ``synonyms``, ``parents``, ``type``,
  ``alt_ids``; lists ``|``-separated);
- JSONL records ``{"id", "name", "synonyms": [...], "parents": [...], "type", "alt_ids": [...]}``.

Every bad line is collected and reported with its line number before stopping: duplicate ids, empty ids or
names, parents that name no concept of the set, unreadable records.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "medic.txt"
>>> _ = p.write_text("D006527|277900||Hepatolenticular Degeneration|Wilson Disease|Wilson&apos;s disease\\n")
>>> codes = read_codes(p)
>>> c = codes["D006527"]
>>> c.name, c.synonyms, c.ids
('Hepatolenticular Degeneration', ('Wilson Disease', "Wilson's disease"), ('D006527', 'OMIM:277900'))
>>> codes.concept_of("OMIM:277900").id
'D006527'
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ...errors import DataError
from ..problems import Problems

CODESET_FORMATS = ("medic", "csv", "tsv", "jsonl")


@dataclass(frozen=True)
class Concept:
    """One entry of a code set. ``ids``: the primary id first, then any other ids the source gives it."""

    id: str
    name: str
    synonyms: tuple[str, ...] = ()
    alt_ids: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    type: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.alt_ids)

    def names(self) -> list[str]:
        """The preferred name and the synonyms, each once (first spelling kept, case-insensitive)."""
        seen, out = set(), []
        for n in (self.name, *self.synonyms):
            key = n.casefold()
            if n and key not in seen:
                seen.add(key)
                out.append(n)
        return out


@dataclass
class CodeSet:
    """Concepts by primary id, with every other id mapped to its concept."""

    concepts: dict[str, Concept]
    source: str = ""
    format: str = ""
    _alias: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for c in self.concepts.values():
            for other in c.alt_ids:
                self._alias.setdefault(other, c.id)

    def __len__(self) -> int:
        return len(self.concepts)

    def __contains__(self, cid: str) -> bool:
        return cid in self.concepts or cid in self._alias

    def __getitem__(self, cid: str) -> Concept:
        return self.concepts[cid]

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())

    def concept_of(self, cid: str) -> Concept | None:
        """The concept an id (primary or other) names, or None."""
        if cid in self.concepts:
            return self.concepts[cid]
        primary = self._alias.get(cid)
        return self.concepts.get(primary) if primary else None

    def n_names(self) -> int:
        return sum(len(c.names()) for c in self)

    def ancestors(self, cid: str) -> set[str]:
        """Every concept above ``cid`` through ``parents`` (cycles tolerated)."""
        out: set[str] = set()
        todo = list(self.concepts[cid].parents) if cid in self.concepts else []
        while todo:
            p = todo.pop()
            if p in out or p not in self.concepts:
                continue
            out.add(p)
            todo.extend(self.concepts[p].parents)
        return out


def _omim(i: str) -> str:
    """MEDIC writes OMIM ids as bare numbers; the NCBI disease corpus as ``OMIM:NNN``."""
    return f"OMIM:{i}" if i.isdigit() else i


def _medic(path: Path, problems: Problems) -> Iterable[tuple[int, dict]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            ids, sep, names = line.partition("||")
            if not sep:
                problems.add("lines without '||'", path, n, "expected ids||name|synonym|...")
                continue
            ids_list = [_omim(i.strip()) for i in ids.split("|") if i.strip()]
            parts = [html.unescape(x).strip() for x in names.split("|")]
            yield n, {"id": ids_list[0] if ids_list else "", "alt_ids": ids_list[1:], "name": parts[0] if parts else "",
                      "synonyms": [x for x in parts[1:] if x]}  # fmt: skip


def _split(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split("|") if v.strip()]


def _table(path: Path, problems: Problems, delimiter: str) -> Iterable[tuple[int, dict]]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        missing = {"id", "name"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(path, f"the header names no {' and no '.join(sorted(missing))} column (needs id, name)")
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def _jsonl(path: Path, problems: Problems) -> Iterable[tuple[int, dict]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.add("invalid JSON", path, n, f"invalid JSON ({exc.msg})")
                continue
            if not isinstance(rec, dict):
                problems.add("records that are not objects", path, n, "expected a JSON object")
                continue
            yield n, rec


def codeset_format(path: Path) -> str:
    """medic | csv | tsv | jsonl, from the name (``.jsonl``, ``.csv``, ``.tsv``) or a MEDIC-looking first line."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".csv", ".tsv"):
        return suffix[1:]
    with open(path, encoding="utf-8", errors="replace") as f:
        first = next((line for line in f if line.strip() and not line.startswith("#")), "")
    if "||" in first:
        return "medic"
    raise DataError(path, "not a code set: use .csv, .tsv or .jsonl with id and name, or MEDIC ids||name|synonym lines")


def read_codes(path: str | Path, fmt: str | None = None) -> CodeSet:
    """Read and check a code set (see the module docstring); every problem named with its line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file (pass a code set: MEDIC, .csv, .tsv or .jsonl)")
    fmt = fmt or codeset_format(path)
    problems = Problems(f"code set {path}")
    rows = {
        "medic": lambda: _medic(path, problems),
        "csv": lambda: _table(path, problems, ","),
        "tsv": lambda: _table(path, problems, "\t"),
        "jsonl": lambda: _jsonl(path, problems),
    }[fmt]()
    concepts: dict[str, Concept] = {}
    lines: dict[str, int] = {}
    for n, rec in rows:
        cid, name = str(rec.get("id") or "").strip(), str(rec.get("name") or "").strip()
        if not cid:
            problems.add("empty ids", path, n, "the id is empty")
            continue
        if not name:
            problems.add("empty names", path, n, f"concept {cid} has an empty name")
            continue
        if cid in concepts:
            problems.add("duplicate ids", path, n, f"id {cid} is already defined on line {lines[cid]}")
            continue
        concepts[cid] = Concept(
            cid,
            name,
            tuple(_split(rec.get("synonyms"))),
            tuple(_split(rec.get("alt_ids"))),
            tuple(_split(rec.get("parents"))),
            str(rec.get("type") or "").strip(),
        )
        lines[cid] = n
    for cid, c in concepts.items():
        for p in c.parents:
            if p not in concepts:
                problems.add("unknown parents", path, lines[cid], f"concept {cid} names parent {p}, which is not in the set")
    problems.raise_if_any(hint="fix those lines of the code set")
    if not concepts:
        raise DataError(path, "no concepts in this code set")
    return CodeSet(concepts, str(path), fmt)
