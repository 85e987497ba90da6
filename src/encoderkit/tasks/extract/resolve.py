"""Annotated documents checked against a schema and turned into the training sets of its heads.

:func:`resolve` checks every entity type, relation type, frame type, field and enum value of the
annotations (:mod:`encoderkit.data.corpora.annotations`) against the schema, with ``file:line`` errors, and
resolves each frame field to an argument span. :func:`training_sets` then builds:

* tagger documents: entity spans plus the text spans of span fields (tag ``frame.field``);
* relation items: every pair of arguments in one sentence, labelled with its directional relation
  type or ``no_relation`` (negatives subsampled to ``neg_ratio`` per positive);
* link items: anchor / candidate pairs labelled ``frame.field`` or ``no_relation``;
* attribute items: each possible anchor, labelled with its frame's presence and enum values.

The text a span-pair model reads is the sentence(s) around the arguments (:mod:`.context`), exactly as
at extraction time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ...data.corpora.annotations import AnnotatedDoc, locate
from ...data.corpora.conll import TaggedDoc, doc_from_spans
from ...data.corpora.semeval import directed
from ...errors import DataError
from ...training.relations import SpanItem
from .schema import PRESENT, Schema
from .sentences import candidate_pairs, context, sentences, shifted

NEG = "no_relation"


@dataclass
class Arg:
    """An argument span of a document: an entity (type) or a span field value (type ``frame.field``)."""

    type: str
    start: int
    end: int
    entity_id: str | None = None


@dataclass
class ResolvedFrame:
    type: str
    anchor: Arg
    links: dict[str, Arg] = field(default_factory=dict)  # field -> argument
    values: dict[str, str] = field(default_factory=dict)  # enum field -> value


@dataclass
class ResolvedDoc:
    doc: AnnotatedDoc
    args: list[Arg]
    relations: list[tuple[int, int, str]]  # (head arg, tail arg, type)
    frames: list[ResolvedFrame]


def resolve(docs: list[AnnotatedDoc], schema: Schema) -> list[ResolvedDoc]:
    """Check annotations against ``schema`` (errors name file:line) and resolve frame fields."""
    return [_resolve(d, schema) for d in docs]


def _resolve(d: AnnotatedDoc, schema: Schema) -> ResolvedDoc:
    def fail(msg: str, hint: str | None = None):
        raise DataError(d.path, msg, line=d.line, hint=hint)

    args: list[Arg] = []
    index: dict[str, int] = {}
    for e in d.entities:
        if e.type not in schema.entities:
            fail(f"entity type '{e.type}' is not in the schema", hint=f"declared: {', '.join(sorted(schema.entities)) or 'none'}")
        index[e.id] = len(args)
        args.append(Arg(e.type, e.start, e.end, e.id))

    def arg_for(span: tuple[int, int], typ: str) -> int:
        for i, a in enumerate(args):
            if (a.start, a.end) == span and a.type == typ:
                return i
        args.append(Arg(typ, *span))
        return len(args) - 1

    rels = []
    for r in d.relations:
        spec = schema.relations.get(r.type)
        if spec is None:
            fail(
                f"relation type '{r.type}' is not in the schema",
                hint=f"declared: {', '.join(sorted(schema.relations)) or 'none'}",
            )
        h, t = index[r.head], index[r.tail]
        for role, i, allowed in (("head", h, spec.head), ("tail", t, spec.tail)):
            if allowed and args[i].type not in allowed:
                fail(f"relation '{r.type}' {role} is a {args[i].type}; the schema allows {', '.join(allowed)}")
        rels.append((h, t, r.type))
    frames = []
    for fr in d.frames:
        spec = schema.frames.get(fr.type)
        if spec is None:
            fail(f"frame type '{fr.type}' is not in the schema", hint=f"declared: {', '.join(sorted(schema.frames)) or 'none'}")
        for name in fr.fields:
            if name not in spec.fields:
                fail(f"frame '{fr.type}' has no field '{name}'", hint=f"fields: {', '.join(spec.fields)}")
        if spec.anchor not in fr.fields:
            fail(f"frame '{fr.type}' lacks its anchor field '{spec.anchor}'")
        links: dict[str, int] = {}
        values: dict[str, str] = {}
        for name, v in fr.fields.items():
            f = spec.fields[name]
            where = f"frame '{fr.type}' field '{name}'"
            if f.kind == "enum":
                if v.literal is None or v.literal not in f.values:
                    fail(f"{where}: {v.literal or v.entity!r} is not one of {', '.join(f.values)}")
                values[name] = v.literal
            elif f.kind == "entity":
                if v.entity is not None:
                    i = index[v.entity]
                elif v.literal is not None:  # an entity given by its text: an annotated entity with that text
                    found = [k for k, e in enumerate(d.entities) if d.text[e.start : e.end] == v.literal]
                    if not found:
                        fail(f"{where}: {v.literal!r} is neither an entity id nor the text of an annotated entity")
                    i = index[d.entities[found[0]].id]
                else:
                    fail(f"{where} must refer to an entity (its id)")
                if f.entity_types and args[i].type not in f.entity_types:
                    fail(f"{where}: entity is a {args[i].type}; the field allows {', '.join(f.entity_types)}")
                links[name] = i
            else:  # text span
                span = v.span
                if span is None and v.literal is not None:
                    span = locate(d.text, v.literal)
                    if span is None:
                        fail(f"{where}: {v.literal!r} does not occur in the text")
                if span is None:
                    fail(f"{where} must be a text span")
                links[name] = arg_for(span, f"{fr.type}.{name}")
        anchor = links.pop(spec.anchor)
        frames.append(ResolvedFrame(fr.type, args[anchor], {k: args[i] for k, i in links.items()}, values))
    return ResolvedDoc(d, args, [(h, t, typ) for h, t, typ in rels], frames)


def tagged_doc(r: ResolvedDoc) -> TaggedDoc:
    """The tagger's view of a document (overlapping argument spans are an error naming file:line)."""
    spans = sorted({(a.start, a.end, a.type) for a in r.args})
    for (s1, e1, t1), (s2, e2, t2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise DataError(
                r.doc.path,
                f"spans overlap: {t1} {r.doc.text[s1:e1]!r} [{s1}, {e1}) and {t2} {r.doc.text[s2:e2]!r} [{s2}, {e2})",
                line=r.doc.line,
                hint="a tagger needs non-overlapping spans; mark the document complete_entities: false to skip it",
            )
    try:
        return doc_from_spans(r.doc.text, spans, source=f"{r.doc.path}:{r.doc.line}")
    except ValueError as exc:
        raise DataError(r.doc.path, str(exc), line=r.doc.line) from None


def pair_item(text: str, sents, a: Arg, b: Arg, labels: dict) -> SpanItem:
    """A span-pair example reading the sentence(s) around ``a`` and ``b`` (``a`` first in the text)."""
    s, e = context(text, sents, (a.start, a.end), (b.start, b.end))
    return SpanItem((text[s:e], shifted((a.start, a.end), s), shifted((b.start, b.end), s)), labels)


def single_item(text: str, sents, a: Arg, labels: dict) -> SpanItem:
    s, e = context(text, sents, (a.start, a.end))
    return SpanItem((text[s:e], shifted((a.start, a.end), s)), labels)


def _subsample(pos: list, neg: list, ratio: float, seed: int) -> list:
    if ratio <= 0 or len(neg) <= ratio * max(1, len(pos)):
        return pos + neg
    rng = random.Random(seed)
    return pos + rng.sample(neg, int(ratio * max(1, len(pos))))


def relation_items(docs: list[ResolvedDoc], schema: Schema, *, neg_ratio: float = 3.0, seed: int = 0) -> list[SpanItem]:
    """Pairs of entities in a sentence: their directional relation type, or no_relation."""
    pos, neg = [], []
    for r in docs:
        text, sents = r.doc.text, sentences(r.doc.text)
        ents = [i for i, a in enumerate(r.args) if a.entity_id is not None]
        gold = {(h, t): typ for h, t, typ in r.relations}
        for a, b in candidate_pairs([(r.args[i].start, r.args[i].end) for i in ents], sents):
            i, j = ents[a], ents[b]  # i comes first in the text
            label = directed(gold[(i, j)], True) if (i, j) in gold else directed(gold[(j, i)], False) if (j, i) in gold else NEG
            (neg if label == NEG else pos).append(pair_item(text, sents, r.args[i], r.args[j], {"relation": label}))
    return _subsample(pos, neg, neg_ratio, seed)


def link_candidates(schema: Schema, frame_name: str, field_name: str, arg_type: str) -> bool:
    """Can an argument of ``arg_type`` fill ``frame.field`` (a link field)?"""
    f = schema.frames[frame_name].fields[field_name]
    if f.kind == "span":
        return arg_type == f"{frame_name}.{field_name}"
    return arg_type in schema.entities and (not f.entity_types or arg_type in f.entity_types)


def anchor_ok(schema: Schema, frame_name: str, arg_type: str) -> bool:
    types = schema.anchor_types(schema.frames[frame_name])
    return arg_type in types if types is not None else arg_type in schema.entities


def link_items(docs: list[ResolvedDoc], schema: Schema, *, neg_ratio: float = 3.0, seed: int = 0) -> list[SpanItem]:
    """(anchor, candidate) pairs of every frame type: ``frame.field`` (anchor = head) or no_relation."""
    pos, neg = [], []
    fields = schema.link_fields()
    for r in docs:
        text, sents = r.doc.text, sentences(r.doc.text)
        gold = {}
        for fr in r.frames:
            for name, arg in fr.links.items():
                if (fr.type, name) in {(a.name, b.name) for a, b in fields}:
                    gold[((fr.anchor.start, fr.anchor.end), (arg.start, arg.end))] = f"{fr.type}.{name}"
        spans = [(a.start, a.end) for a in r.args]
        for i, j in candidate_pairs(spans, sents):
            for anchor, other in ((i, j), (j, i)):
                a_arg, o_arg = r.args[anchor], r.args[other]
                options = [
                    f"{fr.name}.{f.name}"
                    for fr, f in fields
                    if anchor_ok(schema, fr.name, a_arg.type) and link_candidates(schema, fr.name, f.name, o_arg.type)
                ]
                if not options:
                    continue
                label = gold.get(((a_arg.start, a_arg.end), (o_arg.start, o_arg.end)), NEG)
                label = directed(label, anchor == i) if label != NEG else NEG
                (neg if label == NEG else pos).append(pair_item(text, sents, r.args[i], r.args[j], {"link": label}))
    return _subsample(pos, neg, neg_ratio, seed)


def attribute_items(docs: list[ResolvedDoc], schema: Schema) -> list[SpanItem]:
    """Every possible anchor of every frame type, with presence and enum values (when it has a frame)."""
    heads = schema.attribute_heads()
    items = []
    for r in docs:
        text, sents = r.doc.text, sentences(r.doc.text)
        frames = {(fr.type, fr.anchor.start, fr.anchor.end): fr for fr in r.frames}
        seen = set()
        for a in r.args:
            if (a.start, a.end, a.type) in seen:
                continue
            seen.add((a.start, a.end, a.type))
            labels: dict[str, str | None] = {}
            for fr in schema.frames.values():
                if not anchor_ok(schema, fr.name, a.type):
                    continue
                got = frames.get((fr.name, a.start, a.end))
                if f"{fr.name}.{PRESENT}" in heads:
                    labels[f"{fr.name}.{PRESENT}"] = "yes" if got else "no"
                for f in fr.fields.values():
                    if f.kind == "enum":
                        labels[f"{fr.name}.{f.name}"] = got.values.get(f.name) if got else None
            if any(v is not None for v in labels.values()):
                items.append(single_item(text, sents, a, labels))
    return items
