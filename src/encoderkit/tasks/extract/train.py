"""`encoderkit train extract`: train the heads a schema needs from annotated JSONL.

Given a schema (:mod:`.schema`) and annotations (:mod:`encoderkit.data.corpora.annotations`), each component is
trained on the one loop when the schema needs it, or taken from an existing model folder when one is
given (``ner=``, ``relations=``: e.g. a CoNLL tagger and a SemEval relation classifier composed under
one schema):

============  =================================================  =========================
component     what it predicts                                   needed when the schema has
============  =================================================  =========================
ner           entity types and ``frame.field`` text spans        entities or span fields
relations     directional relation types between entities        relations
links         ``frame.field`` links from an anchor to a value    entity/span fields (no via)
attributes    frame presence (entity anchors) and enum values    frames
============  =================================================  =========================

The output folder holds ``schema.json``, one folder per component and ``encoderkit_model.json``
(``kind: extraction``); :class:`~.extractor.Extractor` loads it. A seeded share of the documents
(``val_fraction``) validates every component and gives the final scores (:mod:`.evaluate`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ...data.corpora.annotations import read_annotations
from ...data.corpora.semeval import UNDIRECTED, holdout, relation_type
from ...errors import EncoderkitError
from ...models.card import CARD, FORMAT, read_card
from ...training.loop import TrainConfig
from ...training.relations import train_span_pair
from ...training.tagging import train_tagger
from .resolve import NEG, attribute_items, link_items, relation_items, resolve, tagged_doc
from .schema import Schema


def _directed_labels(types: list[str]) -> list[str]:
    return [NEG] + [f"{t}({d})" for t in sorted(types) for d in ("e1,e2", "e2,e1")]


def _reuse(src: str | Path, dest: Path, kind: str, need: set[str], what: str) -> None:
    """Copy an existing component into the extraction model after checking it covers ``need``."""
    card = read_card(src)
    if kind == "tagger":
        have = {x[2:] for x in card.get("labels", []) if x != "O"} if card.get("kind") == "tagger" else None
    else:
        heads = card.get("heads", {}) if card.get("kind") == "span-pair" else {}
        have = {relation_type(x) for x in heads.get("relation", []) if x not in UNDIRECTED} if heads else None
    if have is None:
        raise EncoderkitError(f"'{src}' is not a {what} model", hint=f"pass a folder made by `encoderkit train {what}`")
    missing = need - have
    if missing:
        raise EncoderkitError(
            f"'{src}' does not predict {', '.join(sorted(missing))}", hint=f"it predicts: {', '.join(sorted(have))}"
        )
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("checkpoint", "train_log.json", "train_stats.json"))


def train_extract(
    schema_path: str | Path,
    data: str | Path | None,
    out: str | Path,
    *,
    model: str = "default",
    ner: str | Path | None = None,
    relations: str | Path | None = None,
    case_features: bool = True,
    val_fraction: float = 0.1,
    neg_ratio: float = 3.0,
    tagger_config: TrainConfig | None = None,
    pair_config: TrainConfig | None = None,
    show_progress: bool | None = None,
) -> dict:
    """Train (or take over) every component ``schema_path`` needs; returns the model card."""
    t0 = time.perf_counter()
    schema = Schema.load(schema_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    docs = resolve(read_annotations(data), schema) if data else []
    seed = (tagger_config or TrainConfig()).seed
    train_docs, dev_docs = holdout(docs, val_fraction, seed) if docs else ([], [])
    components: dict[str, str] = {}
    logs: dict[str, dict] = {}

    def need_data(what: str):
        if not train_docs:
            raise EncoderkitError(
                f"the schema needs a {what} component and no annotations were given", hint="pass --data annotations.jsonl"
            )

    tag_types = schema.tagger_types()
    if tag_types:
        if ner:
            _reuse(ner, out / "ner", "tagger", set(tag_types), "ner")
        else:
            need_data("ner")
            tr = [tagged_doc(r) for r in train_docs if r.doc.complete_entities]
            dv = [tagged_doc(r) for r in dev_docs if r.doc.complete_entities]
            labels = ["O"] + [f"{p}-{t}" for t in tag_types for p in "BI"]
            logs["ner"] = train_tagger(
                tr,
                dv,
                out / "ner",
                model=model,
                labels=labels,
                case_features=case_features,
                context="document",
                card={"data": str(data), "schema": schema.name},
                train_config=tagger_config,
                show_progress=show_progress,
            )
        components["ner"] = "ner"
    if schema.relations:
        if relations:
            _reuse(relations, out / "relations", "span-pair", set(schema.relations), "relations")
        else:
            need_data("relations")
            logs["relations"] = train_span_pair(
                relation_items(train_docs, schema, neg_ratio=neg_ratio, seed=seed),
                relation_items(dev_docs, schema, neg_ratio=0),
                out / "relations",
                heads={"relation": _directed_labels(list(schema.relations))},
                n_args=2,
                task="relations",
                model=model,
                card={"data": str(data), "schema": schema.name},
                train_config=pair_config,
                show_progress=show_progress,
            )
        components["relations"] = "relations"
    if schema.link_fields():
        need_data("links")
        logs["links"] = train_span_pair(
            link_items(train_docs, schema, neg_ratio=neg_ratio, seed=seed),
            link_items(dev_docs, schema, neg_ratio=0),
            out / "links",
            heads={"link": _directed_labels([lab for lab in schema.link_labels() if "." in lab])},
            n_args=2,
            task="links",
            model=model,
            card={"data": str(data), "schema": schema.name},
            train_config=pair_config,
            show_progress=show_progress,
        )
        components["links"] = "links"
    if schema.attribute_heads():
        need_data("attributes")
        logs["attributes"] = train_span_pair(
            attribute_items(train_docs, schema),
            attribute_items(dev_docs, schema),
            out / "attributes",
            heads=schema.attribute_heads(),
            n_args=1,
            task="attributes",
            model=model,
            card={"data": str(data), "schema": schema.name},
            train_config=pair_config,
            show_progress=show_progress,
        )
        components["attributes"] = "attributes"
    (out / "schema.json").write_text(json.dumps(schema.to_dict(), indent=1, ensure_ascii=False))
    card = {
        "format": FORMAT,
        "kind": "extraction",
        "name": schema.name,
        "schema": schema.name,
        "base_model": model,
        "components": components,
        "data": str(data) if data else None,
        "n_train_docs": len(train_docs),
        "n_dev_docs": len(dev_docs),
        "reused": {k: str(v) for k, v in (("ner", ner), ("relations", relations)) if v},
        "train_seconds": {k: v.get("train_seconds") for k, v in logs.items()},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "metrics": None,
    }
    (out / CARD).write_text(json.dumps(card, indent=1))
    if dev_docs:
        from .evaluate import evaluate_extraction

        res = evaluate_extraction(out, [r.doc for r in dev_docs], show_progress=False)
        card["metrics"] = {"dev": {k: res[k] for k in ("entities", "relations", "frames") if k in res}}
        (out / CARD).write_text(json.dumps(card, indent=1))
    return card
