"""Extraction schemas: which entity types, relation types and frames a model extracts.

A schema is a YAML or JSON file in encoderkit's form (``version: 1``, ``entities``, ``relations``,
``frames``; see docs/extraction.md), or a JSON Schema describing the output objects (each top-level
property that is an array of objects is a frame; ``"enum"`` strings are enum fields, strings with
``"x-entity": TYPE`` entity references, other strings text spans; ``"x-anchor"`` names the anchor field,
``"x-entities"`` / ``"x-relations"`` declare the rest). Every error names ``file:line``.

Frames are anchored on one field (an entity or a text span); the other fields are entity references
(found by a link classifier trained from annotations, or read from a declared relation with ``via``),
text spans (tagged like entities) or enums (a classifier over the anchor in context). What the models
must learn follows from the schema (:meth:`Schema.tagger_types`, :meth:`Schema.link_labels`,
:meth:`Schema.attribute_heads`), and so does the JSON Schema every output record is validated against
(:meth:`Schema.output_json_schema`).

>>> s = Schema.from_dict({"version": 1, "entities": {"PER": "a person", "ORG": "an organisation"},
...     "relations": {"works_for": {"head": ["PER"], "tail": ["ORG"]}},
...     "frames": {"job": {"anchor": "person", "fields": {"person": {"type": "entity", "entity_types": ["PER"]},
...         "status": {"type": "enum", "values": ["current", "former"]}, "title": {"type": "span"}}}}})
>>> s.tagger_types(), s.attribute_heads()
(['ORG', 'PER', 'job.title'], {'job.__present__': ['no', 'yes'], 'job.status': ['current', 'former']})
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError

FIELD_KINDS = ("entity", "span", "enum")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
TOP_KEYS = {"version", "name", "description", "entities", "relations", "frames"}
PRESENT = "__present__"


@dataclass
class FieldSpec:
    name: str
    kind: str
    description: str = ""
    entity_types: list[str] = field(default_factory=list)  # entity: allowed types ([] = any)
    values: dict[str, str] = field(default_factory=dict)  # enum: value -> description
    via: str | None = None  # entity: filled from this relation type
    role: str = "tail"  # with via: the field is the relation's tail (anchor = head) or its head
    required: bool = False


@dataclass
class FrameSpec:
    name: str
    anchor: str
    fields: dict[str, FieldSpec]
    description: str = ""

    @property
    def anchor_field(self) -> FieldSpec:
        return self.fields[self.anchor]


@dataclass
class RelationSpec:
    name: str
    description: str = ""
    head: list[str] = field(default_factory=list)  # allowed head types ([] = any)
    tail: list[str] = field(default_factory=list)


@dataclass
class Schema:
    entities: dict[str, str]
    relations: dict[str, RelationSpec]
    frames: dict[str, FrameSpec]
    name: str = "schema"
    description: str = ""
    source: str = ""

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Read and validate a schema file (YAML, JSON or JSON Schema); errors name file:line."""
        data, lines = load_with_lines(path)
        if isinstance(data, dict) and ("$schema" in data or ("properties" in data and "version" not in data)):
            data, lines = from_json_schema(data, lines, path)
        return cls.from_dict(data, lines=lines, path=str(path))

    @classmethod
    def from_dict(cls, data, *, lines: dict | None = None, path: str = "<schema>") -> Schema:
        return _parse(data, lines or {}, path)

    # ------------------------------------------------------------------ what the models learn
    def span_types(self) -> list[str]:
        """``frame.field`` tags of text-span fields (tagged like entities)."""
        return [f"{fr.name}.{f.name}" for fr in self.frames.values() for f in fr.fields.values() if f.kind == "span"]

    def tagger_types(self) -> list[str]:
        return sorted(self.entities) + sorted(self.span_types())

    def link_fields(self) -> list[tuple[FrameSpec, FieldSpec]]:
        """Non-anchor entity/span fields a link classifier fills (entity fields with ``via`` excluded)."""
        return [
            (fr, f)
            for fr in self.frames.values()
            for f in fr.fields.values()
            if f.name != fr.anchor and f.kind in ("entity", "span") and not f.via
        ]

    def link_labels(self) -> list[str]:
        """Undirected labels of the relation head: relation types, then ``frame.field`` links."""
        return sorted(self.relations) + [f"{fr.name}.{f.name}" for fr, f in self.link_fields()]

    @staticmethod
    def derived(frame: FrameSpec) -> bool:
        """A frame on an entity anchor whose other fields all come from relations (``via``): it exists
        wherever one of them is filled, so no presence classifier is trained for it."""
        others = [f for f in frame.fields.values() if f.name != frame.anchor]
        return frame.anchor_field.kind == "entity" and bool(others) and all(f.via for f in others)

    def attribute_heads(self) -> dict[str, list[str]]:
        """Heads of the attribute classifier: frame presence (entity anchors) and enum fields."""
        heads: dict[str, list[str]] = {}
        for fr in self.frames.values():
            if fr.anchor_field.kind == "entity" and not self.derived(fr):
                heads[f"{fr.name}.{PRESENT}"] = ["no", "yes"]
            for f in fr.fields.values():
                if f.kind == "enum":
                    heads[f"{fr.name}.{f.name}"] = list(f.values)
        return heads

    def anchor_types(self, frame: FrameSpec) -> list[str] | None:
        """Tagger types that can anchor ``frame`` (None: any entity type)."""
        a = frame.anchor_field
        if a.kind == "span":
            return [f"{frame.name}.{a.name}"]
        return list(a.entity_types) or None

    def to_dict(self) -> dict:
        """The schema in encoderkit's form (what a trained model folder stores as schema.json)."""
        return {
            "version": 1,
            "name": self.name,
            "description": self.description,
            "entities": {k: {"description": v} for k, v in self.entities.items()},
            "relations": {
                r.name: {"description": r.description, "head": r.head, "tail": r.tail} for r in self.relations.values()
            },
            "frames": {
                fr.name: {
                    "description": fr.description,
                    "anchor": fr.anchor,
                    "fields": {f.name: _field_dict(f) for f in fr.fields.values()},
                }
                for fr in self.frames.values()
            },
        }

    def output_json_schema(self) -> dict:
        """JSON Schema (2020-12) of one output record of :meth:`Extractor.extract` under this schema."""
        from .output_schema import record_schema

        return record_schema(self)


def _field_dict(f: FieldSpec) -> dict:
    d: dict = {"type": f.kind, "description": f.description}
    if f.kind == "entity":
        d["entity_types"] = f.entity_types
        if f.via:
            d["via"], d["role"] = f.via, f.role
    if f.kind == "enum":
        d["values"] = f.values
    if f.required:
        d["required"] = True
    return d


# ---------------------------------------------------------------------------- reading with line numbers
def load_with_lines(path: str | Path) -> tuple[object, dict[tuple, int]]:
    """(data, {key path: 1-based line}) of a YAML or JSON file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc.__class__.__name__})") from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(
            path, f"invalid YAML ({getattr(exc, 'problem', None) or exc})", line=mark.line + 1 if mark else None
        ) from None
    lines: dict[tuple, int] = {}

    def walk(n, key: tuple):
        lines[key] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                if k.value in seen:
                    raise DataError(path, f"duplicate key '{k.value}'", line=k.start_mark.line + 1)
                seen.add(k.value)
                lines[(*key, k.value)] = k.start_mark.line + 1
                walk(v, (*key, k.value))
                lines[(*key, k.value)] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*key, i))

    if node is not None:
        walk(node, ())
    return data, lines


class _Ctx:
    def __init__(self, path: str, lines: dict):
        self.path, self.lines = path, lines

    def fail(self, key: tuple, msg: str, hint: str | None = None):
        line = None
        for k in range(len(key), -1, -1):
            if key[:k] in self.lines:
                line = self.lines[key[:k]]
                break
        raise DataError(self.path, msg, line=line, hint=hint)


def _desc(ctx: _Ctx, key: tuple, obj) -> str:
    if obj is None:
        return ""
    if not isinstance(obj, str):
        ctx.fail(key, "description must be a string")
    return obj


def _names(ctx: _Ctx, key: tuple, obj, what: str) -> list[str]:
    if obj is None:
        return []
    if isinstance(obj, str):
        obj = [obj]
    if not isinstance(obj, list) or not all(isinstance(x, str) for x in obj):
        ctx.fail(key, f"{what} must be a list of names")
    return list(obj)


def _parse(data, lines: dict, path: str) -> Schema:
    ctx = _Ctx(path, lines)
    if not isinstance(data, dict):
        ctx.fail((), "a schema is a mapping with entities, relations and/or frames")
    for k in data:
        if k not in TOP_KEYS:
            ctx.fail((k,), f"unknown key '{k}'", hint=f"use {', '.join(sorted(TOP_KEYS))}")
    if data.get("version", 1) != 1:
        ctx.fail(("version",), f"unsupported schema version {data.get('version')!r}", hint="this encoderkit reads version 1")
    entities: dict[str, str] = {}
    ents = data.get("entities") or {}
    if isinstance(ents, list):
        ents = {e: "" for e in ents}
    if not isinstance(ents, dict):
        ctx.fail(("entities",), "entities must map type names to descriptions")
    for name, spec in ents.items():
        key = ("entities", name)
        if not isinstance(name, str) or not NAME.match(name) or name == "O":
            ctx.fail(key, f"entity type '{name}' is not a valid name", hint="letters, digits, _ and -, starting with a letter")
        entities[name] = _desc(ctx, key, spec.get("description") if isinstance(spec, dict) else spec)
        if isinstance(spec, dict) and set(spec) - {"description"}:
            ctx.fail(key, f"unknown key(s) {sorted(set(spec) - {'description'})} in entity type '{name}'")

    def check_types(key, types):
        for t in types:
            if t not in entities:
                ctx.fail(key, f"entity type '{t}' is not declared under entities")

    relations: dict[str, RelationSpec] = {}
    rels = data.get("relations") or {}
    if isinstance(rels, list):
        rels = {r: {} for r in rels}
    if not isinstance(rels, dict):
        ctx.fail(("relations",), "relations must map relation names to their settings")
    for name, spec in rels.items():
        key = ("relations", name)
        if not isinstance(name, str) or not NAME.match(name):
            ctx.fail(key, f"relation '{name}' is not a valid name", hint="letters, digits, _ and -, starting with a letter")
        if isinstance(spec, str) or spec is None:
            spec = {"description": spec}
        if not isinstance(spec, dict):
            ctx.fail(key, f"relation '{name}' must be a description or a mapping")
        extra = set(spec) - {"description", "head", "tail"}
        if extra:
            ctx.fail(key, f"unknown key(s) {sorted(extra)} in relation '{name}'", hint="use description, head, tail")
        head = _names(ctx, (*key, "head"), spec.get("head"), "head")
        tail = _names(ctx, (*key, "tail"), spec.get("tail"), "tail")
        check_types((*key, "head"), head)
        check_types((*key, "tail"), tail)
        relations[name] = RelationSpec(name, _desc(ctx, key, spec.get("description")), head, tail)

    frames: dict[str, FrameSpec] = {}
    frs = data.get("frames") or {}
    if not isinstance(frs, dict):
        ctx.fail(("frames",), "frames must map frame names to their settings")
    for name, spec in frs.items():
        key = ("frames", name)
        if not isinstance(name, str) or not NAME.match(name):
            ctx.fail(key, f"frame '{name}' is not a valid name")
        if not isinstance(spec, dict):
            ctx.fail(key, f"frame '{name}' must be a mapping with anchor and fields")
        extra = set(spec) - {"description", "anchor", "fields"}
        if extra:
            ctx.fail(key, f"unknown key(s) {sorted(extra)} in frame '{name}'", hint="use description, anchor, fields")
        fields_spec = spec.get("fields")
        if not isinstance(fields_spec, dict) or not fields_spec:
            ctx.fail((*key, "fields"), f"frame '{name}' needs a mapping of fields")
        fields = {
            fname: _parse_field(ctx, (*key, "fields", fname), fname, fspec, check_types, relations)
            for fname, fspec in fields_spec.items()
        }
        anchor = spec.get("anchor")
        if anchor is None:
            anchor = next((f for f, s in fields.items() if s.kind in ("entity", "span") and not s.via), None)
        if anchor not in fields:
            ctx.fail((*key, "anchor"), f"anchor '{anchor}' of frame '{name}' is not one of its fields")
        if fields[anchor].kind not in ("entity", "span") or fields[anchor].via:
            ctx.fail((*key, "anchor"), f"anchor '{anchor}' must be an entity or span field without 'via'")
        frames[name] = FrameSpec(name, anchor, fields, _desc(ctx, key, spec.get("description")))
    if not entities and not relations and not frames:
        ctx.fail((), "the schema declares no entities, relations or frames")
    if relations and not entities:
        ctx.fail(("relations",), "relations need entity types to hold between", hint="declare entities")
    name = data.get("name") or Path(path).stem
    return Schema(
        entities,
        relations,
        frames,
        name=str(name),
        description=_desc(ctx, ("description",), data.get("description")),
        source=path,
    )


def _parse_field(ctx: _Ctx, key: tuple, name, spec, check_types, relations) -> FieldSpec:
    if not isinstance(name, str) or not NAME.match(name) or name == PRESENT:
        ctx.fail(key, f"field '{name}' is not a valid name")
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        ctx.fail(key, f"field '{name}' must be a mapping with a type")
    extra = set(spec) - {"type", "description", "entity_types", "values", "via", "role", "required"}
    if extra:
        ctx.fail(key, f"unknown key(s) {sorted(extra)} in field '{name}'")
    kind = spec.get("type")
    if kind not in FIELD_KINDS:
        ctx.fail((*key, "type"), f"field '{name}' has type {kind!r}", hint=f"use one of: {', '.join(FIELD_KINDS)}")
    f = FieldSpec(name, kind, _desc(ctx, key, spec.get("description")), required=bool(spec.get("required", False)))
    if kind == "entity":
        f.entity_types = _names(ctx, (*key, "entity_types"), spec.get("entity_types"), "entity_types")
        check_types((*key, "entity_types"), f.entity_types)
        if spec.get("via") is not None:
            if spec["via"] not in relations:
                ctx.fail((*key, "via"), f"relation '{spec['via']}' is not declared under relations")
            f.via = spec["via"]
            f.role = spec.get("role", "tail")
            if f.role not in ("head", "tail"):
                ctx.fail((*key, "role"), "role must be head or tail")
    elif spec.get("entity_types") or spec.get("via"):
        ctx.fail(key, f"entity_types/via apply to entity fields, not to {kind} field '{name}'")
    if kind == "enum":
        values = spec.get("values")
        if isinstance(values, list) and values and all(isinstance(v, (str, int, bool)) for v in values):
            f.values = {str(v): "" for v in values}
        elif isinstance(values, dict) and values:
            f.values = {str(v): _desc(ctx, (*key, "values", v), d) for v, d in values.items()}
        else:
            ctx.fail((*key, "values"), f"enum field '{name}' needs a non-empty list (or mapping) of values")
        if len(f.values) < 2:
            ctx.fail((*key, "values"), f"enum field '{name}' needs at least two values")
    elif spec.get("values") is not None:
        ctx.fail((*key, "values"), f"values apply to enum fields, not to {kind} field '{name}'")
    return f


# ---------------------------------------------------------------------------- JSON Schema input
def from_json_schema(doc: dict, lines: dict, path) -> tuple[dict, dict]:
    """encoderkit's schema form from a JSON Schema of the output (see the module docstring)."""
    ctx = _Ctx(str(path), lines)
    out: dict = {"version": 1, "name": doc.get("title") or Path(str(path)).stem, "description": doc.get("description", "")}
    new_lines: dict = {}
    ents = dict(doc.get("x-entities") or {})
    rels = doc.get("x-relations") or {}
    frames = {}
    props = doc.get("properties")
    if not isinstance(props, dict):
        ctx.fail(("properties",), "a JSON Schema here needs 'properties' (one array of objects per frame)")
    for fname, fspec in props.items():
        key = ("properties", fname)
        items = fspec.get("items") if isinstance(fspec, dict) else None
        if not (
            isinstance(fspec, dict)
            and fspec.get("type") == "array"
            and isinstance(items, dict)
            and isinstance(items.get("properties"), dict)
        ):
            ctx.fail(key, f"property '{fname}' is not an array of objects (a frame)")
        fields = {}
        for name, p in items["properties"].items():
            pkey = (*key, "items", "properties", name)
            if not isinstance(p, dict):
                ctx.fail(pkey, f"field '{name}' must be an object")
            if "enum" in p:
                fields[name] = {"type": "enum", "values": p["enum"], "description": p.get("description", "")}
            elif p.get("x-entity"):
                types = p["x-entity"] if isinstance(p["x-entity"], list) else [p["x-entity"]]
                for t in types:
                    ents.setdefault(t, "")
                fields[name] = {"type": "entity", "entity_types": types, "description": p.get("description", "")}
                if p.get("x-via"):
                    fields[name]["via"] = p["x-via"]
            elif p.get("type", "string") == "string":
                fields[name] = {"type": "span", "description": p.get("description", "")}
            else:
                ctx.fail(pkey, f"field '{name}' must be a string: an enum, an entity (x-entity) or a text span")
            fields[name]["required"] = name in (items.get("required") or [])
            new_lines[("frames", fname, "fields", name)] = lines.get(pkey)
        frames[fname] = {"description": fspec.get("description", ""), "anchor": items.get("x-anchor"), "fields": fields}
        new_lines[("frames", fname)] = lines.get(key)
    out["entities"], out["relations"], out["frames"] = ents, rels, frames
    return out, {k: v for k, v in new_lines.items() if v is not None}
