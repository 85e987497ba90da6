"""Near-duplicate detection on real text with known injected duplicates: 2,000 SciFact abstracts plus
copies of 300 of them, each changed one way (word edits, sentence reordering, truncation, or an
exact copy re-cased and re-spaced). Precision / recall of the duplicate pairs found, for a sweep of
cosine thresholds, with and without the lexical containment check.

    PYTHONPATH=src /work/bin/heavy python benchmarks/dedup_injected.py
"""

from __future__ import annotations

import json
import random
import re
import time

from classify_common import DATA, log, write
from encoderkit.models.heads.encoder import Encoder
from encoderkit.tasks.collection import Collection
from encoderkit.tasks.dedup import find_duplicates


def edit_words(text: str, rng: random.Random, rate: float = 0.08) -> str:
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue  # deletion
        if r < 2 * rate / 3:
            out.append(rng.choice(words))  # substitution
            continue
        out.append(w)
        if r < rate:
            out.append(rng.choice(words))  # insertion
    return " ".join(out)


def reorder(text: str, rng: random.Random) -> str:
    sents = re.split(r"(?<=[.!?])\s+", text)
    if len(sents) < 3:
        return edit_words(text, rng)
    i = rng.randrange(len(sents) - 1)
    sents[i], sents[i + 1] = sents[i + 1], sents[i]
    rng.shuffle(sents[1:])
    return " ".join(sents)


def truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    return " ".join(words[: max(5, int(len(words) * rng.uniform(0.6, 0.9)))])


def recase(text: str, rng: random.Random) -> str:
    return "  " + re.sub(" ", "   ", text.upper(), count=5) + "\n"


KINDS = {"edit": edit_words, "reorder": reorder, "truncate": truncate, "exact-recased": recase}

if __name__ == "__main__":
    rng = random.Random(13)
    corpus = [json.loads(line) for line in (DATA / "scifact" / "corpus.jsonl").read_text().split("\n") if line.strip()]
    corpus = [c for c in corpus if len(c["text"].split()) >= 40]
    base = rng.sample(corpus, 2000)
    ids = [c["_id"] for c in base]
    texts = [c["text"] for c in base]
    family = {i: i for i in range(len(texts))}
    kinds = {}
    for n, src in enumerate(rng.sample(range(len(base)), 300)):
        kind = list(KINDS)[n % len(KINDS)]
        texts.append(KINDS[kind](base[src]["text"], rng))
        ids.append(f"{base[src]['_id']}~{kind}")
        family[len(texts) - 1] = src
        kinds[len(texts) - 1] = kind
    docs = Collection("scifact-2000+300", ids, texts, ids)
    t0 = time.perf_counter()
    vec = Encoder.load("default").encode(texts, batch_size=32)
    embed_s = time.perf_counter() - t0
    log("embedded", vec.shape, round(embed_s, 1))
    truth = {(family[i], i) for i in kinds}
    rows = []
    for overlap in (None, 0.5):
        for th in (0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99):
            res = find_duplicates(docs, vec, threshold=th, min_overlap=overlap)
            pos = {d: i for i, d in enumerate(ids)}
            pred = set()
            for g in res["groups"]:
                kept = pos[g["kept"]["id"]]
                for d in g["duplicates"]:
                    pred.add((kept, pos[d["id"]]))
            right = {(a, b) for a, b in pred if family[a] == family[b]}
            found = {b for a, b in right if b in kinds} | {a for a, b in right if a in kinds}
            by_kind = {
                k: round(
                    sum(1 for i, kk in kinds.items() if kk == k and i in found) / sum(1 for kk in kinds.values() if kk == k), 4
                )
                for k in KINDS
            }
            p = len(right) / max(1, len(pred))
            r = len(found) / len(kinds)
            rows.append(
                {
                    "threshold": th,
                    "min_overlap": overlap,
                    "precision": round(p, 4),
                    "recall": round(r, 4),
                    "f1": round(2 * p * r / max(1e-9, p + r), 4),
                    "pairs_predicted": len(pred),
                    "recall_by_kind": by_kind,
                }
            )
            log(rows[-1])
    best = max(rows, key=lambda r: r["f1"])
    md = [
        "# Near-duplicate detection: 2,000 SciFact abstracts + 300 injected copies",
        "",
        f"Copies: 75 each of word edits (~8% of words deleted / substituted / inserted), sentence reordering, truncation to "
        f"60-90% of the words, exact copies re-cased and re-spaced. "
        f"MiniLM embeddings ({round(embed_s, 1)} s for {len(texts)} texts).",
        "",
        "| cosine >= | overlap >= | precision | recall | F1 | recall: edit / reorder / truncate / exact |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        k = r["recall_by_kind"]
        md.append(
            f"| {r['threshold']} | {r['min_overlap'] or '-'} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{k['edit']} / {k['reorder']} / {k['truncate']} / {k['exact-recased']} |"
        )
    md += [
        "",
        f"Best F1: threshold {best['threshold']}, overlap {best['min_overlap']}: P {best['precision']}, R {best['recall']}.",
    ]
    write(
        "dedup-injected",
        {"documents": len(texts), "injected": len(kinds), "rows": rows, "best": best, "embed_seconds": round(embed_s, 1)},
        "\n".join(md) + "\n",
    )
