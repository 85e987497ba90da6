"""End-to-end schema extraction on real text: examples/extract/news.yaml (CoNLL-2003 entity types +
SemEval-2010 Task 8 relation types + a frame built from a relation) served by the CoNLL tagger and the
SemEval relation model trained by benchmarks/extract_all.sh, assembled with `train extract --ner
--relations` (no further training). Extracts CoNLL-2003 test documents as whole texts and SemEval test
sentences, and classifies marked SemEval test pairs; writes benchmarks/results/extract-e2e/
(output.jsonl, relations_given.jsonl, results.json, results.md).

    python benchmarks/extract_e2e.py [--ner runs/ner-minilm-case] [--relations runs/re-minilm]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ner", default="runs/ner-minilm-case")
    ap.add_argument("--relations", default="runs/re-minilm")
    ap.add_argument("--conll", default="../shared/data/conll2003")
    ap.add_argument("--semeval", default="../shared/data/semeval2010_task8")
    ap.add_argument("--model-out", default="runs/extract-news")
    ap.add_argument("--min-confidence", type=float, default=0.5)
    ap.add_argument("--out", default=str(RESULTS / "extract-e2e"))
    args = ap.parse_args()
    from encoderkit.data.corpora.conll import load_ner_split
    from encoderkit.data.corpora.semeval import load_relation_split
    from encoderkit.tasks.extract import Extractor
    from encoderkit.tasks.extract.train import train_extract

    schema = ROOT / "examples" / "extract" / "news.yaml"
    card = train_extract(schema, None, args.model_out, ner=args.ner, relations=args.relations)
    ext = Extractor.load(args.model_out)
    conll_docs = load_ner_split(args.conll, "test")
    sem = load_relation_split(args.semeval, "test")
    docs = [(f"conll2003/eng.testb doc {k}", conll_docs[k].as_text()[0]) for k in (1, 2, 40)]
    docs += [(f"semeval2010_task8 test {e.id}", e.text) for e in sem[:3]]
    t0 = time.perf_counter()
    records = ext.extract([t for _, t in docs], min_confidence=args.min_confidence)
    secs = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "output.jsonl", "w") as fh:
        for (doc_id, _), rec in zip(docs, records):
            fh.write(json.dumps({"id": doc_id, **rec}, ensure_ascii=False) + "\n")
    given = sem[:5]
    rel_only = Extractor(relations=ext.relations)
    rel_recs = rel_only.extract(
        [e.text for e in given],
        entities=[[{"start": e.e1[0], "end": e.e1[1]}, {"start": e.e2[0], "end": e.e2[1]}] for e in given],
    )
    with open(out / "relations_given.jsonl", "w") as fh:
        for e, rec in zip(given, rel_recs):
            fh.write(json.dumps({"id": e.id, "gold": e.label, "relations": rec["relations"]}, ensure_ascii=False) + "\n")
    n_words = sum(len(t.split()) for _, t in docs)
    summary = {
        "schema": str(schema.relative_to(ROOT)),
        "model": card,
        "documents": [d for d, _ in docs],
        "min_confidence": args.min_confidence,
        "entities": sum(len(r["entities"]) for r in records),
        "relations": sum(len(r["relations"]) for r in records),
        "frames": sum(len(r["frames"]) for r in records),
        "seconds": round(secs, 2),
        "words_per_s": round(n_words / max(secs, 1e-9), 1),
        "machine": machine(),
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    first = json.dumps({"id": docs[0][0], **records[0]}, indent=1, ensure_ascii=False)
    md = [
        "# End-to-end schema extraction (examples/extract/news.yaml)",
        "",
        f"Components: tagger {args.ner}, relations {args.relations}; {len(docs)} real documents, "
        f"{summary['entities']} entities, {summary['relations']} relations, {summary['frames']} frames "
        f"at confidence >= {args.min_confidence}; "
        f"{summary['words_per_s']} words/s (torch). Every record validated against the schema's JSON Schema.",
        "",
        f"First record ({docs[0][0]}):",
        "",
        "```json",
        first,
        "```",
    ]
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md[:3]))


if __name__ == "__main__":
    main()
