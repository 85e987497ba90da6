"""Issue 33, first figures: NCBI disease normalisation to MEDIC (06 Jul 2012) by retrieval over the code
set's names with the bundled MiniLM, untrained: the exact-string-match baseline, BM25, dense and hybrid over
a linker, acc@1 and acc@5, under the published protocol (train + dev mentions added to the dictionary,
abbreviations expanded from their abstract, composite mentions split, NCBI spelling fixes) and the
dictionary-only protocol (MEDIC names alone), side by side.

    python benchmarks/link_ncbi.py [--data ../shared/data/ncbi_disease] [--split test] [--work runs/link]

Scoring: each part of a (split) composite mention is one query whose gold ids are the matching part of the
gold field (all of the mention's ids when the counts differ); a query is right at k when one of its top-k
concepts shares an id (MeSH or OMIM) with the gold ids. Writes benchmarks/results/link-ncbi/{results.json,
results.md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

SPLIT_FILES = {"train": "NCBItrainset_corpus.txt", "dev": "NCBIdevelopset_corpus.txt", "test": "NCBItestset_corpus.txt"}


def queries_of(docs, fixes) -> list[tuple[str, set[str]]]:
    """(preprocessed query text, gold ids) per mention part, the published preprocessing."""
    from encoderkit.tasks.link.mentions import abbreviations, apply_spelling, expand_abbreviations, split_composite

    out = []
    for doc in docs:
        pairs = abbreviations(doc.text)
        for m in doc.mentions:
            text = apply_spelling(expand_abbreviations(m.text, pairs), fixes)
            parts = split_composite(text)
            golds = [set(p) for p in m.parts] if len(m.parts) == len(parts) else [set(m.ids)] * len(parts)
            out += [(p, g) for p, g in zip(parts, golds)]
    return out


def extra_names(docs, fixes, codes) -> dict[str, list[str]]:
    """Training mentions as extra names of their concept (single-concept, non-composite mentions)."""
    from encoderkit.tasks.link.mentions import abbreviations, apply_spelling, expand_abbreviations

    extra: dict[str, list[str]] = {}
    for doc in docs:
        pairs = abbreviations(doc.text)
        for m in doc.mentions:
            if len(m.ids) != 1:
                continue
            concept = codes.concept_of(m.ids[0])
            if concept is not None:
                extra.setdefault(concept.id, []).append(apply_spelling(expand_abbreviations(m.text, pairs), fixes))
    return extra


def accuracy(ranked: list[list[set[str]]], golds: list[set[str]], k: int) -> float:
    return sum(any(ids & g for ids in r[:k]) for r, g in zip(ranked, golds)) / max(1, len(golds))


def exact_match(codes, extra, queries) -> list[list[set[str]]]:
    from encoderkit.tasks.link.mentions import normalize_name

    table: dict[str, set[str]] = {}
    for c in codes:
        for name in c.names() + list(extra.get(c.id, [])):
            table.setdefault(normalize_name(name), set()).add(c.id)
    out = []
    for q, _ in queries:
        hits = sorted(table.get(normalize_name(q), set()))
        out.append([set(codes[h].ids) for h in hits])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ncbi_disease"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--work", type=Path, default=Path("runs/link"))
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    from encoderkit.data.corpora.codesets import read_codes
    from encoderkit.data.corpora.pubtator import read_pubtator
    from encoderkit.tasks.link.linker import Linker
    from encoderkit.tasks.link.mentions import spelling_fixes

    codes = read_codes(args.data / "medic_06Jul2012.txt")
    fixes = spelling_fixes(args.data / "ncbi-spell-check.txt")
    queries = queries_of(read_pubtator(args.data / SPLIT_FILES[args.split]), fixes)
    golds = [g for _, g in queries]
    training = [d for s in ("train", "dev") if s != args.split for d in read_pubtator(args.data / SPLIT_FILES[s])]
    rows = []
    for protocol, extra in (
        ("dictionary only", {}),
        ("published (train+dev mentions in the dictionary)", extra_names(training, fixes, codes)),
    ):
        key = "dictionary" if not extra else "published"
        ranked = exact_match(codes, extra, queries)
        rows.append({"protocol": protocol, "method": "exact string match", "acc@1": accuracy(ranked, golds, 1),
                     "acc@5": accuracy(ranked, golds, 5)})  # fmt: skip
        t0 = time.perf_counter()
        linker = Linker.build(codes, args.work / key, model=args.model, extra=extra, show_progress=False)
        build_s = time.perf_counter() - t0
        for mode in ("bm25", "dense", "hybrid"):
            t0 = time.perf_counter()
            cands = linker.link([q for q, _ in queries], k=5, mode=mode)
            secs = time.perf_counter() - t0
            ranked = [[set(codes[c.id].ids) for c in cs] for cs in cands]
            rows.append({"protocol": protocol, "method": f"{mode} over names (MiniLM, untrained)",
                         "acc@1": accuracy(ranked, golds, 1), "acc@5": accuracy(ranked, golds, 5),
                         "mentions_per_s": round(len(queries) / secs, 1), "linker_build_s": round(build_s, 1),
                         "names": linker.meta["names"]})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
        linker.close()
    out = RESULTS / "link-ncbi"
    out.mkdir(parents=True, exist_ok=True)
    payload = {"split": args.split, "queries": len(queries), "rows": rows, "machine": machine()}
    (out / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    m = payload["machine"]
    md = [
        f"NCBI disease {args.split}: {len(queries)} mention parts, MEDIC 06 Jul 2012; {m['cpu']}, "
        f"{m['cores_available']} cores, {m['date']}.",
        "",
        "| protocol | method | acc@1 | acc@5 | mentions/s |",
        "|---|---|---|---|---|",
    ]
    md += [
        f"| {r['protocol']} | {r['method']} | {r['acc@1']:.4f} | {r['acc@5']:.4f} | {r.get('mentions_per_s', '')} |" for r in rows
    ]
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
