"""`encoderkit eval ner|relations|extract`: scores, confusion matrices, predictions and throughput.

* ner: entity-level micro P/R/F1 and per type (seqeval strict IOB2 = conlleval), documents read whole
  (sliding windows), word-type confusion matrix, predictions in CoNLL columns (word gold predicted).
* relations: the official SemEval-2010 Task 8 macro-F1 ((9+1)-way, directions count, Other excluded),
  accuracy, per type; ``predictions.txt`` and ``answer_key.txt`` in the official format
  (``ID<TAB>Label``) so that ``perl semeval2010_task8_scorer-v1.2.pl predictions.txt answer_key.txt``
  can check the figure; confusion matrix over the undirected types.
* extract: on annotated JSONL, exact-match P/R/F1 of entities (type, start, end) and relations (type,
  head span, tail span), frame P/R/F1 by (type, anchor span) and field accuracy over the gold frames
  that were found (span fields: same offsets; enum fields: same value).

Each writes ``results.json`` and ``results.md`` (and a PNG) into ``out``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ...data.corpora.annotations import AnnotatedDoc, read_annotations
from ...data.corpora.conll import load_ner_split
from ...data.corpora.semeval import load_relation_split, relation_type
from ...evaluation.extraction import label_confusion, ner_scores, plot_confusion, semeval_scores, word_confusion
from ...evaluation.machine import machine_info, peak_rss_mb
from ...models.heads.span_pair import SpanPairClassifier
from ...models.heads.tagger import Tagger
from .extractor import Extractor
from .resolve import resolve
from .schema import Schema


def _write(out: Path, res: dict, md: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(md)


def _per_type_md(per: dict, keys: tuple) -> list[str]:
    lines = ["| type | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for t, v in per.items():
        lines.append(f"| {t} | " + " | ".join(str(v[k]) for k in keys) + " |")
    return lines


def evaluate_ner(
    data: str | Path,
    model: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    backend: str = "torch",
    batch_size: int = 16,
    scheme: str = "auto",
    show_progress: bool | None = None,
) -> dict:
    out = Path(out)
    tagger = Tagger.load(model, backend=backend)
    docs = load_ner_split(data, split, scheme=scheme)
    t0 = time.perf_counter()
    pred = tagger.predict_words([d.words for d in docs], batch_size=batch_size, show_progress=show_progress)
    secs = time.perf_counter() - t0
    gold_tags = [d.tags for d in docs]
    pred_tags = [p[0] for p in pred]
    s = ner_scores(gold_tags, pred_tags)
    n_words = sum(len(d.words) for d in docs)
    res = {
        "task": "ner",
        "data": str(data),
        "split": split,
        "model": tagger.describe(),
        **{k: s[k] for k in ("precision", "recall", "f1")},
        "gold_entities": s["gold_entities"],
        "predicted_entities": s["predicted_entities"],
        "per_type": s["per_type"],
        "metric": "entity-level micro P/R/F1, seqeval strict IOB2 (conlleval)",
        "documents": len(docs),
        "words": n_words,
        "seconds": round(secs, 2),
        "words_per_s": round(n_words / max(secs, 1e-9), 1),
        "backend": backend,
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine_info(),
    }
    labels, m = word_confusion(gold_tags, pred_tags)
    plot_confusion(labels, m, out / "confusion.png", f"NER word types ({Path(str(data)).name} {split}), F1 {s['f1']}")
    with open(_mk(out) / "predictions.conll", "w") as fh:
        for d, tags in zip(docs, pred_tags):
            for k, (w, g, p) in enumerate(zip(d.words, d.tags, tags)):
                if k in set(d.sentence_starts) and k:
                    fh.write("\n")
                fh.write(f"{w} {g} {p}\n")
            fh.write("\n")
    md = [
        f"# NER evaluation: {Path(str(data)).name} ({split})",
        "",
        f"- model: {model} ({backend}); {len(docs)} documents, {n_words} words",
        f"- precision {s['precision']}, recall {s['recall']}, **F1 {s['f1']}** (entity level, strict IOB2 = conlleval)",
        f"- throughput {res['words_per_s']} words/s; peak RSS {res['peak_rss_mb']} MB",
        "",
        *_per_type_md(s["per_type"], ("precision", "recall", "f1", "support")),
        "",
    ]
    _write(out, res, "\n".join(md))
    return res


def _mk(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out


def evaluate_relations(
    data: str | Path, model: str | Path, out: str | Path, *, split: str = "test", backend: str = "torch", batch_size: int = 32
) -> dict:
    out = Path(out)
    clf = SpanPairClassifier.load(model, backend=backend)
    examples = load_relation_split(data, split)
    if any(e.label is None for e in examples):
        from ...errors import EncoderkitError

        raise EncoderkitError(f"'{data}' has examples without labels", hint="evaluate on labelled data (TEST_FILE_FULL.TXT)")
    neg = clf.card.get("negative_label") or "Other"
    t0 = time.perf_counter()
    pred = clf.predict([(e.text, e.e1, e.e2) for e in examples], batch_size=batch_size)
    secs = time.perf_counter() - t0
    guess = [p["relation"][0] if p else neg for p in pred]
    gold = [e.label for e in examples]
    s = semeval_scores(gold, guess, other=neg)
    _mk(out)
    (out / "predictions.txt").write_text("".join(f"{e.id}\t{g}\n" for e, g in zip(examples, guess)))
    (out / "answer_key.txt").write_text("".join(f"{e.id}\t{e.label}\n" for e in examples))
    labels, m = label_confusion(gold, guess)
    plot_confusion(labels, m, out / "confusion.png", f"Relations (undirected types), macro-F1 {s['macro_f1']}")
    res = {
        "task": "relations",
        "data": str(data),
        "split": split,
        "model": clf.describe(),
        "macro_f1": s["macro_f1"],
        "macro_precision": s["macro_precision"],
        "macro_recall": s["macro_recall"],
        "accuracy": s["accuracy"],
        "metric": "SemEval-2010 Task 8 official: macro-F1 over the relation types, (9+1)-way with direction, Other excluded",
        "per_type": s["per_type"],
        "examples": len(examples),
        "skipped_too_long": sum(p is None for p in pred),
        "seconds": round(secs, 2),
        "examples_per_s": round(len(examples) / max(secs, 1e-9), 1),
        "backend": backend,
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine_info(),
    }
    md = [
        f"# Relation evaluation: {Path(str(data)).name} ({split})",
        "",
        f"- model: {model} ({backend}); {len(examples)} examples",
        f"- **macro-F1 {s['macro_f1']}** (official: {res['metric']}); accuracy (exact label) {s['accuracy']}",
        f"- throughput {res['examples_per_s']} examples/s; peak RSS {res['peak_rss_mb']} MB",
        "- predictions.txt / answer_key.txt are in the official format: "
        "`perl semeval2010_task8_scorer-v1.2.pl predictions.txt answer_key.txt`",
        "",
        *_per_type_md(s["per_type"], ("precision", "recall", "f1", "correct", "predicted", "gold", "wrong_direction")),
        "",
    ]
    _write(out, res, "\n".join(md))
    return res


def _prf(gold: set, pred: set) -> dict:
    tp = len(gold & pred)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "gold": len(gold),
        "predicted": len(pred),
    }


def evaluate_extraction(
    model: str | Path,
    docs: list[AnnotatedDoc],
    *,
    out: str | Path | None = None,
    backend: str = "torch",
    show_progress: bool | None = None,
) -> dict:
    """Scores of an extraction model (or any Extractor folder) on annotated documents."""
    ext = Extractor.load(model, backend=backend)
    schema = ext.schema or Schema(entities={t: "" for t in ext.entity_types()}, relations={}, frames={})
    if ext.schema is None:
        from .schema import RelationSpec

        schema.relations = {t: RelationSpec(t) for t in ext.relation_types()}
    resolved = resolve(docs, schema)
    t0 = time.perf_counter()
    if ext.tagger is None:
        given = [[{"start": a.start, "end": a.end, "type": a.type} for a in r.args if a.entity_id is not None] for r in resolved]
        records = ext.extract([d.text for d in docs], entities=given, show_progress=show_progress)
    else:
        records = ext.extract([d.text for d in docs], show_progress=show_progress)
    secs = time.perf_counter() - t0
    g_ent, p_ent, g_rel, p_rel, g_fr, p_fr = set(), set(), set(), set(), set(), set()
    field_hits = field_total = 0
    per_field: dict[str, list[int]] = {}
    for k, (r, rec) in enumerate(zip(resolved, records)):
        g_ent |= {(k, a.type, a.start, a.end) for a in r.args if a.entity_id is not None}
        p_ent |= {(k, e["type"], e["start"], e["end"]) for e in rec["entities"]}
        g_rel |= {(k, t, r.args[h].start, r.args[h].end, r.args[tl].start, r.args[tl].end) for h, tl, t in r.relations}
        p_rel |= {
            (k, x["type"], x["head"]["start"], x["head"]["end"], x["tail"]["start"], x["tail"]["end"]) for x in rec["relations"]
        }
        found = {}
        for fr in rec["frames"]:
            a = fr["fields"][schema.frames[fr["type"]].anchor]
            p_fr.add((k, fr["type"], a["start"], a["end"]))
            found[(fr["type"], a["start"], a["end"])] = fr
        for fr in r.frames:
            g_fr.add((k, fr.type, fr.anchor.start, fr.anchor.end))
            got = found.get((fr.type, fr.anchor.start, fr.anchor.end))
            if got is None:
                continue
            for name, arg in fr.links.items():
                v = got["fields"].get(name)
                ok = int(v is not None and (v.get("start"), v.get("end")) == (arg.start, arg.end))
                per_field.setdefault(f"{fr.type}.{name}", []).append(ok)
            for name, val in fr.values.items():
                v = got["fields"].get(name)
                per_field.setdefault(f"{fr.type}.{name}", []).append(int(v is not None and v.get("value") == val))
    for hits in per_field.values():
        field_hits += sum(hits)
        field_total += len(hits)
    n_words = sum(len(d.text.split()) for d in docs)
    res = {
        "task": "extract",
        "model": str(model),
        "documents": len(docs),
        "entities": _prf(g_ent, p_ent),
        "relations": _prf(g_rel, p_rel),
        "frames": {
            **_prf(g_fr, p_fr),
            "field_accuracy": round(field_hits / field_total, 4) if field_total else None,
            "per_field_accuracy": {k: round(sum(v) / len(v), 4) for k, v in per_field.items()},
        },
        "seconds": round(secs, 2),
        "docs_per_s": round(len(docs) / max(secs, 1e-9), 2),
        "words_per_s": round(n_words / max(secs, 1e-9), 1),
        "backend": backend,
        "machine": machine_info(),
    }
    if out is not None:
        out = Path(out)
        ents = sorted({t for _, t, _, _ in g_ent | p_ent})
        if ents:
            gold_l, pred_l = _entity_pairs(g_ent, p_ent)
            labels, m = label_confusion(gold_l, pred_l)
            plot_confusion(labels, m, out / "confusion.png", "Entities (exact spans; NONE = missed / spurious)")
        md = [
            f"# Extraction evaluation ({len(docs)} documents)",
            "",
            "| | precision | recall | F1 | gold | predicted |",
            "|---|---|---|---|---|---|",
            *[
                f"| {name} | {v['precision']} | {v['recall']} | {v['f1']} | {v['gold']} | {v['predicted']} |"
                for name, v in (("entities", res["entities"]), ("relations", res["relations"]), ("frames", res["frames"]))
            ],
            "",
            f"- frame field accuracy (gold frames found): {res['frames']['field_accuracy']}",
            f"- throughput {res['docs_per_s']} documents/s, {res['words_per_s']} words/s ({backend})",
            "",
        ]
        _write(out, res, "\n".join(md))
    return res


def _entity_pairs(gold: set, pred: set) -> tuple[list[str], list[str]]:
    """Gold/predicted type per span (NONE where one side has no entity)."""
    g = {(k, s, e): t for k, t, s, e in gold}
    p = {(k, s, e): t for k, t, s, e in pred}
    keys = sorted(set(g) | set(p))
    return [g.get(x, "NONE") for x in keys], [p.get(x, "NONE") for x in keys]


def evaluate_extract_file(data: str | Path, model: str | Path, out: str | Path, *, backend: str = "torch") -> dict:
    """`encoderkit eval extract DATA`: an annotated JSONL file."""
    return evaluate_extraction(model, read_annotations(data), out=out, backend=backend)


__all__ = ["evaluate_ner", "evaluate_relations", "evaluate_extraction", "evaluate_extract_file", "relation_type"]
