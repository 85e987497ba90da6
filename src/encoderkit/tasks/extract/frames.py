"""Frames from the outputs of the heads: anchors, links, relations (``via``) and enum attributes.

For each frame type, every argument that can anchor it is a candidate: a text span tagged
``frame.anchor`` (span anchors: always a frame), or an entity of the anchor's types whose presence
probability (attribute head ``frame.__present__``) is at least 0.5. The frame's confidence is the
anchor's confidence times that probability. A frame whose other fields all come from relations
(``via``) needs no presence head: it exists where a relation fills one of them (confidence: the
lower of the anchor's and the best field's). Fields:

* entity/span fields with a link head: the candidate in the anchor's sentence with the highest
  probability of the link ``frame.field`` (anchor = head), if that link is the pair's best label;
* entity fields with ``via: RELATION``: the entity the anchor is related to by that relation (the
  tail, or the head with ``role: head``), highest confidence first;
* enum fields: the attribute head's best value; the evidence is the anchor in its sentence.

A value's confidence multiplies the link (or relation, or attribute) probability by its argument's
tagger confidence. Values under ``min_confidence`` are left out; a frame missing a required field is
left out.
"""

from __future__ import annotations

from .schema import PRESENT, Schema


def assemble(
    schema: Schema,
    args: list[dict],
    relations: list[dict],
    links: dict[tuple[int, int], tuple[str, float]],
    attributes: dict[int, dict[str, tuple[str, float]]],
    evidence,
    min_confidence: float,
) -> list[dict]:
    """Frames of one document. ``args``: entity and span dicts (type, text, start, end, confidence);
    ``links``: (anchor arg, other arg) -> (undirected link label, probability); ``attributes``: arg ->
    {head: (value, probability)}; ``evidence(span)``: the sentence dict of a span."""
    out = []
    for fr in schema.frames.values():
        a_field = fr.anchor_field
        for i, a in enumerate(args):
            if a_field.kind == "span":
                if a["type"] != f"{fr.name}.{a_field.name}":
                    continue
                present = 1.0
            else:
                if a["type"] not in schema.entities or (a_field.entity_types and a["type"] not in a_field.entity_types):
                    continue
                if schema.derived(fr):
                    present = 1.0  # decided below: a derived frame exists where a relation fills a field
                    p = None
                else:
                    p = attributes.get(i, {}).get(f"{fr.name}.{PRESENT}")
                if not schema.derived(fr):
                    present = (p[1] if p[0] == "yes" else 1 - p[1]) if p else 0.0
                if present < 0.5:
                    continue
            conf = a["confidence"] * present
            if conf < min_confidence:
                continue
            fields = {fr.anchor: _value(a, a["confidence"], evidence)}
            for f in fr.fields.values():
                if f.name == fr.anchor:
                    continue
                if f.kind == "enum":
                    v = attributes.get(i, {}).get(f"{fr.name}.{f.name}")
                    if v and v[1] >= min_confidence:
                        fields[f.name] = {
                            "value": v[0],
                            "confidence": round(v[1], 4),
                            "evidence": _value(a, a["confidence"], evidence),
                        }
                elif f.via:
                    best = None
                    for r in relations:
                        if r["type"] != f.via:
                            continue
                        mine, other = (r["head"], r["tail"]) if f.role == "tail" else (r["tail"], r["head"])
                        if not _fits(schema, fr.name, f, other["type"]):
                            continue
                        if (mine["start"], mine["end"]) == (a["start"], a["end"]) and (best is None or r["confidence"] > best[1]):
                            best = (other, r["confidence"])
                    if best and best[1] >= min_confidence:
                        fields[f.name] = _value(best[0], best[1], evidence)
                else:
                    label = f"{fr.name}.{f.name}"
                    best = None
                    for (x, y), (lab, p) in links.items():
                        if x == i and lab == label and _fits(schema, fr.name, f, args[y]["type"]):
                            c = p * args[y]["confidence"]
                            if best is None or c > best[1]:
                                best = (args[y], c)
                    if best and best[1] >= min_confidence:
                        fields[f.name] = _value(best[0], best[1], evidence)
            if any(f.required and f.name not in fields for f in fr.fields.values()):
                continue
            if schema.derived(fr):
                if len(fields) < 2:
                    continue
                conf = min(conf, max(v["confidence"] for k, v in fields.items() if k != fr.anchor))
            out.append({"type": fr.name, "confidence": round(conf, 4), "fields": fields})
    return out


def _fits(schema: Schema, frame: str, f, arg_type: str) -> bool:
    """Can an argument of ``arg_type`` fill field ``f`` of ``frame``?"""
    if f.kind == "span":
        return arg_type == f"{frame}.{f.name}"
    return arg_type in schema.entities and (not f.entity_types or arg_type in f.entity_types)


def _value(arg: dict, conf: float, evidence) -> dict:
    return {
        **({"type": arg["type"]} if "." not in arg["type"] else {}),
        "text": arg["text"],
        "start": arg["start"],
        "end": arg["end"],
        "confidence": round(float(conf), 4),
        "sentence": evidence((arg["start"], arg["end"])),
    }
