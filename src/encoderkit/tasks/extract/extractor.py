"""The extraction API: one object over a NER model, a relation model, or a schema extraction model.

>>> ext = Extractor.load("runs/ner")                                    # doctest: +SKIP
>>> ext.extract(["Angela Merkel visited Paris."])[0]["entities"][0]     # doctest: +SKIP
{'type': 'PER', 'text': 'Angela Merkel', 'start': 0, 'end': 13, 'confidence': 0.99, 'sentence': {...}}

``Extractor.load(path)`` recognises the folder by its ``encoderkit_model.json``: a tagger (``train
ner``), a span-pair relation classifier (``train relations``) or an extraction model (``train
extract``: ``schema.json`` plus component folders ``ner/``, ``relations/``, ``links/``,
``attributes/``). :meth:`Extractor.extract` returns one JSON-ready record per text:
``{"entities": [...], "relations": [...], "frames": [...]}`` with what the model provides; with a
schema each record is validated against :meth:`Schema.output_json_schema` before it is returned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ...data.corpora.semeval import UNDIRECTED, direction, relation_type
from ...errors import EncoderkitError
from ...models.card import read_card
from ...models.heads.span_pair import SpanPairClassifier
from ...models.heads.tagger import Tagger
from .frames import assemble
from .output_schema import validate_record
from .schema import Schema
from .sentences import candidate_pairs, context, sentence_evidence, sentences, shifted

EXTRACTION_KIND = "extraction"
COMPONENTS = ("ner", "relations", "links", "attributes")


class Extractor:
    """Entities, relations and frames from text; build with :meth:`load` or :meth:`compose`."""

    def __init__(
        self,
        *,
        tagger: Tagger | None = None,
        relations: SpanPairClassifier | None = None,
        links: SpanPairClassifier | None = None,
        attributes: SpanPairClassifier | None = None,
        schema: Schema | None = None,
        path: Path | None = None,
        kind: str = "pipeline",
        max_sentence_gap: int = 0,
    ):
        self.tagger = tagger
        self.relations = relations
        self.links = links
        self.attributes = attributes
        self.schema = schema
        self.path = path
        self.kind = kind
        self.max_sentence_gap = max_sentence_gap
        self._json_schema = schema.output_json_schema() if schema is not None else None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, *, backend: str = "torch") -> Extractor:
        """A NER model, a relation model or an extraction model folder (detected from its card)."""
        path = Path(path)
        card = read_card(path)
        kind = card.get("kind")
        if kind == "tagger":
            return cls(tagger=Tagger.load(path, backend=backend), path=path, kind="ner")
        if kind == "span-pair" and card.get("task") == "relations":
            return cls(relations=SpanPairClassifier.load(path, backend=backend), path=path, kind="relations")
        if kind == EXTRACTION_KIND:
            schema = Schema.from_dict(json.loads((path / "schema.json").read_text()), path=str(path / "schema.json"))
            comps = card.get("components") or {}
            tagger = Tagger.load(path / comps["ner"], backend=backend) if comps.get("ner") else None
            loaded = {
                k: SpanPairClassifier.load(path / comps[k], backend=backend)
                for k in ("relations", "links", "attributes")
                if comps.get(k)
            }
            return cls(tagger=tagger, schema=schema, path=path, kind="extraction", **loaded)
        if not path.exists():
            raise EncoderkitError(
                f"no extraction model at '{path}': entities need a tagger trained here (no NER weights install "
                "offline), relations a relation model",
                hint="train one on CoNLL-style data, e.g. `encoderkit train ner --data ../shared/data/conll2003 "
                "--out runs/ner --epochs 3 --batch-size 8 --lr 1e-4 --bf16` (about 31 minutes on one CPU core with "
                "the bundled MiniLM, test F1 0.878; docs/extraction.md), then pass --model runs/ner",
            )
        raise EncoderkitError(
            f"'{path}' is not an extraction model ({kind or 'no encoderkit_model.json'})",
            hint="pass a folder made by `encoderkit train ner`, `train relations` or `train extract`",
        )

    @classmethod
    def compose(
        cls,
        *,
        ner: str | Path | None = None,
        relations: str | Path | None = None,
        schema: Schema | None = None,
        backend: str = "torch",
    ) -> Extractor:
        """A pipeline of separately trained models (e.g. NER output feeding a relation classifier)."""
        return cls(
            tagger=Tagger.load(ner, backend=backend) if ner else None,
            relations=SpanPairClassifier.load(relations, backend=backend) if relations else None,
            schema=schema,
            kind="pipeline",
        )

    def describe(self) -> dict:
        """What the extractor provides and how each component was built."""
        comps = {
            name: c.describe()
            for name, c in (
                ("ner", self.tagger),
                ("relations", self.relations),
                ("links", self.links),
                ("attributes", self.attributes),
            )
            if c is not None
        }
        card = read_card(self.path) if self.path else {}
        return {
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "provides": {
                "entities": self.tagger is not None,
                "relations": self.relations is not None,
                "frames": bool(self.schema and self.schema.frames),
            },
            "entity_types": self.entity_types(),
            "relation_types": self.relation_types(),
            "schema": self.schema.to_dict() if self.schema else None,
            "components": comps,
            "metrics": card.get("metrics"),
        }

    def entity_types(self) -> list[str]:
        if self.schema is not None:
            return sorted(self.schema.entities)
        return self.tagger.describe()["entity_types"] if self.tagger else []

    def relation_types(self) -> list[str]:
        if self.schema is not None:
            return sorted(self.schema.relations)
        if self.relations is None:
            return []
        return sorted({relation_type(x) for x in self.relations.heads["relation"] if x not in UNDIRECTED})

    # ------------------------------------------------------------------ extraction
    def extract(
        self,
        texts: list[str],
        min_confidence: float = 0.0,
        *,
        entities: Sequence[Sequence[dict]] | None = None,
        batch_size: int = 16,
        show_progress: bool | None = None,
    ) -> list[dict]:
        """One record per text. ``entities``: given spans per text ({start, end[, type]}) instead of (or
        without) a tagger, e.g. for relation classification on known arguments."""
        if not 0.0 <= min_confidence <= 1.0:
            raise EncoderkitError(f"min_confidence {min_confidence} is outside [0, 1]")
        if entities is not None and len(entities) != len(texts):
            raise EncoderkitError(f"{len(entities)} entity lists for {len(texts)} texts")
        if entities is None and self.tagger is None:
            raise EncoderkitError(
                "this relation model needs the entity spans", hint="pass entities, or compose it with a NER model"
            )
        args_all = (
            self.tagger.extract(texts, batch_size=batch_size, show_progress=show_progress)
            if entities is None
            else [[_given(t, e, k) for k, e in enumerate(es)] for t, es in zip(texts, entities)]
        )
        records = []
        for text, args in zip(texts, args_all):
            records.append(self._record(text, args, min_confidence, batch_size))
        return records

    def _record(self, text: str, args: list[dict], min_confidence: float, batch_size: int) -> dict:
        sents = sentences(text)

        def evidence(span, other=None):
            return sentence_evidence(text, sents, span, other)

        known = set(self.schema.entities) if self.schema else None
        entity_idx = [i for i, a in enumerate(args) if "." not in a["type"] and (known is None or a["type"] in known)]
        rels = self._relations(text, sents, args, entity_idx, batch_size) if self.relations else []
        record: dict = {
            "entities": [
                {
                    **{k: args[i][k] for k in ("type", "text", "start", "end", "confidence")},
                    "sentence": evidence((args[i]["start"], args[i]["end"])),
                }
                for i in entity_idx
                if args[i]["confidence"] >= min_confidence
            ],
            "relations": [r for r in rels if r["confidence"] >= min_confidence],
            "frames": [],
        }
        if self.schema is not None and self.schema.frames:
            links = self._links(text, sents, args, batch_size) if self.links else {}
            attrs = self._attributes(text, sents, args, batch_size) if self.attributes else {}
            record["frames"] = assemble(self.schema, args, rels, links, attrs, evidence, min_confidence)
        if self._json_schema is not None:
            validate_record(record, self._json_schema)
        return record

    def _allowed(self, a: str, b: str) -> set[str] | None:
        """Undirected relation types allowed between types a (first) and b, either direction (None: any)."""
        if self.schema is None:
            return None
        ok = set()
        for r in self.schema.relations.values():
            fwd = (not r.head or a in r.head) and (not r.tail or b in r.tail)
            bwd = (not r.head or b in r.head) and (not r.tail or a in r.tail)
            if fwd or bwd:
                ok.add(r.name)
        return ok

    def _relations(self, text, sents, args, idx, batch_size) -> list[dict]:
        pairs = [
            (idx[a], idx[b])
            for a, b in candidate_pairs([(args[i]["start"], args[i]["end"]) for i in idx], sents, self.max_sentence_gap)
        ]
        items = []
        for i, j in pairs:
            s, e = context(text, sents, (args[i]["start"], args[i]["end"]), (args[j]["start"], args[j]["end"]))
            items.append(
                (text[s:e], shifted((args[i]["start"], args[i]["end"]), s), shifted((args[j]["start"], args[j]["end"]), s))
            )
        labels = self.relations.heads["relation"]
        out = []
        for (i, j), probs in zip(pairs, self.relations.probabilities(items, batch_size=batch_size * 2)):
            if probs is None:
                continue
            allowed = self._allowed(args[i]["type"], args[j]["type"])
            best, p = None, -1.0
            for lab, q in zip(labels, probs["relation"]):
                t = relation_type(lab)
                if lab in UNDIRECTED or allowed is None or t in allowed and self._direction_ok(t, lab, args[i], args[j]):
                    if q > p:
                        best, p = lab, float(q)
            if best is None or best in UNDIRECTED:
                continue
            head, tail = (args[i], args[j]) if direction(best) != "e2,e1" else (args[j], args[i])
            out.append(
                {
                    "type": relation_type(best),
                    "label": best,
                    "head": _arg(head, sents, text),
                    "tail": _arg(tail, sents, text),
                    "confidence": round(p * min(head["confidence"], tail["confidence"]), 4),
                    "evidence": sentence_evidence(
                        text, sents, (args[i]["start"], args[i]["end"]), (args[j]["start"], args[j]["end"])
                    ),
                }
            )
        return out

    def _direction_ok(self, rtype: str, label: str, first: dict, second: dict) -> bool:
        spec = self.schema.relations[rtype]
        head, tail = (first, second) if direction(label) != "e2,e1" else (second, first)
        return (not spec.head or head["type"] in spec.head) and (not spec.tail or tail["type"] in spec.tail)

    def _links(self, text, sents, args, batch_size) -> dict:
        from .resolve import anchor_ok, link_candidates

        fields = self.schema.link_fields()
        spans = [(a["start"], a["end"]) for a in args]
        jobs = []
        for i, j in candidate_pairs(spans, sents, self.max_sentence_gap):
            for anchor, other in ((i, j), (j, i)):
                if any(
                    anchor_ok(self.schema, fr.name, args[anchor]["type"])
                    and link_candidates(self.schema, fr.name, f.name, args[other]["type"])
                    for fr, f in fields
                ):
                    jobs.append((i, j, anchor, other))
        items = []
        for i, j, _, _ in jobs:
            s, e = context(text, sents, spans[i], spans[j])
            items.append((text[s:e], shifted(spans[i], s), shifted(spans[j], s)))
        labels = self.links.heads["link"]
        out = {}
        for (i, _j, anchor, other), probs in zip(jobs, self.links.probabilities(items, batch_size=batch_size * 2)):
            if probs is None:
                continue
            want = "(e1,e2)" if anchor == i else "(e2,e1)"
            best = labels[int(probs["link"].argmax())]
            if best.endswith(want):
                out[(anchor, other)] = (relation_type(best), float(probs["link"].max()))
        return out

    def _attributes(self, text, sents, args, batch_size) -> dict:
        items, owners = [], []
        for i, a in enumerate(args):
            s, e = context(text, sents, (a["start"], a["end"]))
            items.append((text[s:e], shifted((a["start"], a["end"]), s)))
            owners.append(i)
        out = {}
        for i, pred in zip(owners, self.attributes.predict(items, batch_size=batch_size * 2)):
            if pred is not None:
                out[i] = pred
        return out


def _given(text: str, e: dict, k: int) -> dict:
    s, t = e.get("start"), e.get("end")
    if not (isinstance(s, int) and isinstance(t, int) and 0 <= s < t <= len(text)):
        raise EncoderkitError(f"given entity {k} has no valid start/end inside the text: {e!r}")
    return {
        "type": str(e.get("type", "ENTITY")),
        "text": text[s:t],
        "start": s,
        "end": t,
        "confidence": float(e.get("confidence", 1.0)),
    }


def _arg(a: dict, sents, text) -> dict:
    return {
        "type": a["type"],
        "text": a["text"],
        "start": a["start"],
        "end": a["end"],
        "confidence": a["confidence"],
        "sentence": sentence_evidence(text, sents, (a["start"], a["end"])),
    }
