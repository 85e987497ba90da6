"""Annotated documents for schema-driven extraction (JSONL), usable as produced by an LLM or by hand.

One document per line (lines are split on "\\n" only, so U+2028 and friends inside a text are text)::

    {"id": "doc-1",
     "text": "Dr. Ana Ruiz joined Acme Corp in 2019 as chief engineer.",
     "entities": [{"id": "T1", "type": "PER", "start": 4, "end": 12},
                  {"id": "T2", "type": "ORG", "text": "Acme Corp"}],
     "relations": [{"type": "works_for", "head": "T1", "tail": "T2"}],
     "frames": [{"type": "job", "fields": {"person": "T1", "status": "current",
                                           "title": {"text": "chief engineer"}}}]}

* Spans: ``start``/``end`` character offsets (``end`` exclusive), or only ``text`` (the first occurrence,
  or the ``occurrence``-th; whitespace differences are tolerated), or both (they must agree). LLMs
  rarely count characters right, so giving only the text is the recommended form for them.
* Entities: ``type`` and a span; ``id`` optional (relations may also refer to entities by their
  0-based position). Relations: ``type``, ``head``, ``tail`` (entity ids).
* Frames: ``type`` and ``fields``: an entity id (or ``{"entity": id}``), an enum value (or
  ``{"value": v}``), or a text span (``{"text": ..., "start"?, "end"?}``; a bare string that is not an
  entity id is read as an enum value or a span text, whichever the schema's field is).
* ``"complete_entities": false`` marks a document whose entities are not exhaustively annotated: it
  then trains the relation and frame heads but not the entity tagger (whose negatives would be wrong).

Checks here are structural (JSON, offsets, references); :mod:`encoderkit.tasks.extract.resolve`
checks the types and values against a schema. Every error names ``file:line``.

>>> locate("a  b c a b", "a b", occurrence=2)
(7, 10)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError


@dataclass
class AnnEntity:
    id: str
    type: str
    start: int
    end: int


@dataclass
class AnnRelation:
    type: str
    head: str
    tail: str


@dataclass
class AnnValue:
    """A frame field value as written: an entity id, a literal (enum value or span text) or a span."""

    entity: str | None = None
    literal: str | None = None
    span: tuple[int, int] | None = None


@dataclass
class AnnFrame:
    type: str
    fields: dict[str, AnnValue]


@dataclass
class AnnotatedDoc:
    id: str
    text: str
    entities: list[AnnEntity] = field(default_factory=list)
    relations: list[AnnRelation] = field(default_factory=list)
    frames: list[AnnFrame] = field(default_factory=list)
    complete_entities: bool = True
    path: str = ""
    line: int = 0

    def entity(self, ref: str) -> AnnEntity:
        return next(e for e in self.entities if e.id == ref)


def locate(text: str, needle: str, *, occurrence: int = 1) -> tuple[int, int] | None:
    """(start, end) of the ``occurrence``-th match of ``needle`` in ``text`` (runs of whitespace match any
    whitespace), or None."""
    needle = needle.strip()
    if not needle:
        return None
    pattern = r"\s+".join(re.escape(p) for p in needle.split())
    for i, m in enumerate(re.finditer(pattern, text), start=1):
        if i == occurrence:
            return m.span()
    return None


def _span(obj: dict, text: str, fail) -> tuple[int, int]:
    s, e, t = obj.get("start"), obj.get("end"), obj.get("text")
    if s is not None or e is not None:
        if not (isinstance(s, int) and isinstance(e, int)) or isinstance(s, bool) or isinstance(e, bool):
            fail(f"start/end must be integers (got {s!r}, {e!r})")
        if not 0 <= s < e <= len(text):
            fail(f"span [{s}, {e}) is outside the text (length {len(text)}) or empty")
        if t is not None and text[s:e] != t:
            found = locate(text, t)
            fail(
                f"span [{s}, {e}) is {text[s:e]!r}, not {t!r}"
                + (f" (that text is at [{found[0]}, {found[1]}); or give only 'text')" if found else "")
            )
        return s, e
    if not isinstance(t, str) or not t.strip():
        fail("a span needs start/end offsets or a non-empty 'text'")
    occ = obj.get("occurrence", 1)
    if not isinstance(occ, int) or occ < 1:
        fail("'occurrence' must be a positive integer")
    found = locate(text, t, occurrence=occ)
    if found is None:
        fail(f"{t!r} does not occur in the text" + (f" {occ} times" if occ > 1 else ""))
    return found


def parse_annotation(rec, path: str, n: int) -> AnnotatedDoc:
    """One annotated document from a decoded JSON line (errors name ``path:n``)."""

    def fail(msg: str):
        raise DataError(path, msg, line=n)

    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
        fail("expected an object with a 'text' string")
    text = rec["text"]
    unknown = set(rec) - {"id", "text", "entities", "relations", "frames", "complete_entities", "meta"}
    if unknown:
        fail(f"unknown key(s) {sorted(unknown)}; use id, text, entities, relations, frames, complete_entities, meta")
    doc = AnnotatedDoc(str(rec.get("id", n)), text, complete_entities=bool(rec.get("complete_entities", True)), path=path, line=n)
    ents = rec.get("entities") or []
    if not isinstance(ents, list):
        fail("'entities' must be a list")
    for i, e in enumerate(ents):
        if not isinstance(e, dict) or not isinstance(e.get("type"), str) or not e["type"]:
            fail(f"entity {i} needs a 'type'")
        s, t = _span(e, text, lambda m, i=i: fail(f"entity {i}: {m}"))
        eid = str(e.get("id", i))
        if any(x.id == eid for x in doc.entities):
            fail(f"entity id {eid!r} is used twice")
        doc.entities.append(AnnEntity(eid, e["type"], s, t))
    ids = {e.id for e in doc.entities}
    by_pos = {str(i): e.id for i, e in enumerate(doc.entities)}

    def ref(x, what: str) -> str:
        x = str(x) if isinstance(x, (str, int)) and not isinstance(x, bool) else None
        if x in ids:
            return x
        if x in by_pos:
            return by_pos[x]
        fail(f"{what} {x!r} is not an entity id of this document")

    rels = rec.get("relations") or []
    if not isinstance(rels, list):
        fail("'relations' must be a list")
    for i, r in enumerate(rels):
        if not isinstance(r, dict) or not isinstance(r.get("type"), str) or not r["type"]:
            fail(f"relation {i} needs a 'type'")
        head, tail = ref(r.get("head"), f"relation {i} head"), ref(r.get("tail"), f"relation {i} tail")
        if head == tail:
            fail(f"relation {i} links an entity to itself")
        doc.relations.append(AnnRelation(r["type"], head, tail))
    frames = rec.get("frames") or []
    if not isinstance(frames, list):
        fail("'frames' must be a list")
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("type"), str) or not isinstance(fr.get("fields"), dict):
            fail(f"frame {i} needs a 'type' and a 'fields' object")
        values = {}
        for name, v in fr["fields"].items():
            where = f"frame {i} field '{name}'"
            if v is None:
                continue
            if isinstance(v, bool) or isinstance(v, (int, float)):
                values[name] = AnnValue(literal=str(v).lower() if isinstance(v, bool) else str(v))
            elif isinstance(v, str):
                values[name] = AnnValue(entity=v) if v in ids else AnnValue(literal=v)
            elif isinstance(v, dict) and "entity" in v:
                values[name] = AnnValue(entity=ref(v["entity"], where))
            elif isinstance(v, dict) and "value" in v:
                values[name] = AnnValue(literal=str(v["value"]))
            elif isinstance(v, dict):
                values[name] = AnnValue(span=_span(v, text, lambda m, w=where: fail(f"{w}: {m}")))
            else:
                fail(f"{where} must be an entity id, a value or a span object")
        doc.frames.append(AnnFrame(fr["type"], values))
    return doc


def read_annotations(path: str | Path) -> list[AnnotatedDoc]:
    """Every annotated document of a JSONL file."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc.__class__.__name__})") from None
    docs = []
    for n, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
        docs.append(parse_annotation(rec, str(path), n))
    if not docs:
        raise DataError(path, "no annotated documents")
    return docs


def read_text_spans(path: str | Path) -> list[tuple[str, str, list[dict] | None]]:
    """(id, text, entities or None) of each line of a JSONL file of ``{"id", "text", "entities": [{start,
    end[, type]}]}`` objects (what ``encoderkit extract relations --file`` reads); entities left out: None
    (the tagger finds them). Errors name file:line."""
    import json

    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise DataError(path, "expected an object with a 'text' string", line=n)
        ents = rec.get("entities")
        if ents is not None and not (isinstance(ents, list) and all(isinstance(e, dict) for e in ents)):
            raise DataError(path, "'entities' must be a list of {start, end[, type]} objects", line=n)
        out.append((str(rec.get("id", f"{path}:{n}")), rec["text"], ents))
    return out
