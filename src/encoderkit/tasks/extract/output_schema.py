"""The JSON Schema (draft 2020-12) of one extraction record, derived from an extraction schema, and the
check every record passes before it is emitted (jsonschema).

A record: ``{"id", "entities": [...], "relations": [...], "frames": [...]}``. Every value carries its
evidence: character offsets into the document, the sentence that contains it, and a confidence in [0, 1].
"""

from __future__ import annotations

from ...errors import EncoderkitError

SENTENCE = {
    "type": "object",
    "required": ["start", "end", "text"],
    "properties": {
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 0},
        "text": {"type": "string"},
    },
}
CONF = {"type": "number", "minimum": 0, "maximum": 1}


def _span(types: list[str] | None = None) -> dict:
    props = {
        "text": {"type": "string"},
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 0},
        "confidence": CONF,
        "sentence": SENTENCE,
    }
    if types is not None:
        props["type"] = {"enum": types} if types else {"type": "string"}
    return {"type": "object", "required": [*props], "properties": props}


def record_schema(schema) -> dict:
    """JSON Schema of a record under ``schema`` (an :class:`~.schema.Schema`)."""
    entity_types = sorted(schema.entities)
    frames = []
    for fr in schema.frames.values():
        props = {}
        for f in fr.fields.values():
            if f.kind == "enum":
                props[f.name] = {
                    "type": "object",
                    "required": ["value", "confidence", "evidence"],
                    "properties": {"value": {"enum": list(f.values)}, "confidence": CONF, "evidence": _span()},
                    "description": f.description,
                }
            else:
                types = (f.entity_types or entity_types) if f.kind == "entity" else None
                props[f.name] = {**_span(types), "description": f.description}
        required = sorted({fr.anchor} | {f.name for f in fr.fields.values() if f.required})
        frames.append(
            {
                "type": "object",
                "required": ["type", "confidence", "fields"],
                "properties": {
                    "type": {"const": fr.name},
                    "confidence": CONF,
                    "fields": {"type": "object", "required": required, "properties": props, "additionalProperties": False},
                },
            }
        )
    relation = {
        "type": "object",
        "required": ["type", "head", "tail", "confidence", "evidence"],
        "properties": {
            "type": {"enum": sorted(schema.relations)} if schema.relations else {"type": "string"},
            "label": {"type": "string"},
            "head": _span(entity_types),
            "tail": _span(entity_types),
            "confidence": CONF,
            "evidence": SENTENCE,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"encoderkit extraction record ({schema.name})",
        "type": "object",
        "required": ["entities", "relations", "frames"],
        "properties": {
            "id": {"type": "string"},
            "entities": {"type": "array", "items": _span(entity_types)},
            "relations": {"type": "array", "items": relation},
            "frames": {"type": "array", "items": {"oneOf": frames} if frames else False},
        },
    }


def validate_record(record: dict, json_schema: dict) -> None:
    """Raise :class:`EncoderkitError` if ``record`` does not match ``json_schema`` (a bug, not user input)."""
    import jsonschema

    try:
        jsonschema.validate(record, json_schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise EncoderkitError(f"extraction record does not match the schema at '{where}': {exc.message}") from None
