"""Issue 13 update-cost figures: add, change and delete 10 documents in an index of >= 100k chunks.

    python benchmarks/segments_update.py [--data ../shared/data/scifact] [--chunks 100000] [--work build/segments-update]

Corpus: SciFact's 5,183 abstracts, added one copy per update until the index holds at least
``--chunks`` chunks (copy ``c`` of a document gets id ``<id>~c`` and every 7th word of its text replaced
by a word of another document, so copies are not identical and BM25 statistics stay realistic);
chunks of 64 tokens, overlap 8 (about 10.6 chunks per abstract).

Vectors come from a **fast path**: a randomly initialised 1-layer BERT (hidden 384, the MiniLM
vocabulary) stands in for the real encoder, so building 100k chunks takes minutes instead of over an
hour here. The figures this script reports are update costs *without* encoding (the issue's "plus their
encoding time"): ``report.seconds - sum(report.encode_seconds)``; encoding time is reported apart.

Steps, each timed: build (automatic merges on); 5 rounds of "add 10 new documents", "change 10
documents" (same ids, new text) and "delete 10 documents"; then the final state is compared with a
fresh index built from the same documents in one go: BM25 scores of the top 100 of 30 queries to 1e-6,
and the dense top 100 identical. Writes benchmarks/results/segments-update/{results.json,results.md}.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

OUT = RESULTS / "segments-update"


def fast_encoder(folder: Path):
    """A 1-layer random BERT with MiniLM's tokenizer and 384-dim output: the fast vector path."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from encoderkit.models.heads.encoder import Encoder
    from encoderkit.models.ref import resolve_model

    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        cfg = BertConfig(
            vocab_size=30522,
            hidden_size=384,
            num_hidden_layers=1,
            num_attention_heads=6,
            intermediate_size=384,
            max_position_embeddings=512,
        )
        BertModel(cfg).save_pretrained(folder)
        tok_dir = resolve_model("default").path
        AutoTokenizer.from_pretrained(tok_dir).save_pretrained(folder)
    return Encoder.load(folder, pooling="mean", max_length=128)


def corpus_copy(docs: list[dict], words: list[str], c: int, rng: random.Random) -> list[dict]:
    """Copy ``c`` of the corpus: ids ``<id>~c``, every 7th word (from word ``c % 7`` on) replaced by a
    word of another document (copy 0 is the corpus itself)."""
    out = []
    for d in docs:
        text = d["text"].split()
        if c:
            text = [rng.choice(words) if i % 7 == c % 7 else w for i, w in enumerate(text)]
        out.append({"id": f"{d['_id']}~{c}", "title": d.get("title", ""), "text": " ".join(text)})
    return out


def timed_update(fn) -> dict:
    t = time.perf_counter()
    report = fn()
    wall = time.perf_counter() - t
    enc = sum((report.encode_seconds or {}).values())
    merges = getattr(report, "merges", []) or []
    return {
        "seconds": round(wall, 3),
        "encode_seconds": round(enc, 3),
        "without_encoding": round(wall - enc, 3),
        "merges": len(merges),
        "merge_seconds": round(sum(m.get("seconds", 0) for m in merges), 3),
    }


def compare(a, b, queries: list[str]) -> dict:
    import numpy as np

    bm_same, dense_same, worst = True, True, 0.0
    for q in queries:
        ha = a.search(q, mode="bm25", by="chunk", k=100, depth=100)
        hb = b.search(q, mode="bm25", by="chunk", k=100, depth=100)
        ka = {(h.doc_id, h.start): h.score for h in ha}
        kb = {(h.doc_id, h.start): h.score for h in hb}
        common = set(ka) & set(kb)
        worst = max([worst] + [abs(ka[k] - kb[k]) for k in common])
        sa, sb = sorted(ka.values(), reverse=True), sorted(kb.values(), reverse=True)
        bm_same &= len(sa) == len(sb) and bool(np.allclose(sa, sb, atol=1e-6, rtol=0))
        da = [(h.doc_id, h.start) for h in a.search(q, mode="dense", by="chunk", k=100, depth=100)]
        db = [(h.doc_id, h.start) for h in b.search(q, mode="dense", by="chunk", k=100, depth=100)]
        dense_same &= da == db
    return {"bm25_scores_equal_1e-6": bool(bm_same), "bm25_max_abs_diff": worst, "dense_top100_identical": bool(dense_same)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=Path("build/segments-update"))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from encoderkit import Index
    from encoderkit.runtime import configure_torch

    configure_torch()
    args.work.mkdir(parents=True, exist_ok=True)
    enc = fast_encoder(args.work / "fast-encoder")
    base = [json.loads(line) for line in open(args.data / "corpus.jsonl")]
    words = [w for d in base[:500] for w in d["text"].split()]
    rng_words = random.Random(0)
    res = {"machine": machine(), "vectors": "fast path: random 1-layer BERT, hidden 384 (see the docstring)"}
    shutil.rmtree(args.work / "index", ignore_errors=True)
    idx = Index.create(args.work / "index", encoder=enc, chunk_size=64, chunk_overlap=8)
    t, docs, encode_s = time.perf_counter(), [], 0.0
    while int(idx.manifest["counts"]["chunks"]) < args.chunks:  # one copy of the corpus per update
        copy = corpus_copy(base, words, len(docs) // len(base), rng_words)
        report = idx.add(copy, show_progress=True, export_onnx=False)
        encode_s += sum(report.encode_seconds.values())
        docs += copy
    res["build"] = {
        "documents": len(idx),
        "chunks": int(idx.manifest["counts"]["chunks"]),
        "seconds": round(time.perf_counter() - t, 1),
        "encode_seconds": round(encode_s, 1),
        "segments": len(idx.manifest["segments"]),
    }
    print("built", res["build"], flush=True)
    rng = random.Random(1)
    live = {d["id"]: d for d in docs}
    fresh_ids = iter(range(10**6))
    rounds = {"add_10": [], "change_10": [], "delete_10": []}
    for _ in range(args.rounds):
        pool = [live[i]["text"].split() for i in rng.sample(sorted(live), 10)]
        new = [{"id": f"new-{next(fresh_ids)}", "title": "added", "text": " ".join(rng.sample(w, min(40, len(w))))} for w in pool]
        rounds["add_10"].append(timed_update(lambda new=new: idx.add(new, show_progress=False, export_onnx=False)))
        live.update({d["id"]: d for d in new})
        changed = [dict(live[i], text=live[i]["text"] + " revised edition") for i in rng.sample(sorted(live), 10)]
        rounds["change_10"].append(timed_update(lambda changed=changed: idx.add(changed, show_progress=False, export_onnx=False)))
        live.update({d["id"]: d for d in changed})
        gone = rng.sample(sorted(live), 10)
        rounds["delete_10"].append(timed_update(lambda gone=gone: idx.remove(gone)))
        for g in gone:
            live.pop(g)
    res["updates"] = {
        k: {
            "median_without_encoding": statistics.median(r["without_encoding"] for r in v),
            "max_without_encoding": max(r["without_encoding"] for r in v),
            "median_encode_seconds": statistics.median(r["encode_seconds"] for r in v),
            "rounds": v,
        }
        for k, v in rounds.items()
    }
    res["segments_after_updates"] = len(idx.manifest["segments"])
    print(json.dumps(res["updates"], indent=1), flush=True)
    shutil.rmtree(args.work / "rebuild", ignore_errors=True)
    ref = Index.create(args.work / "rebuild", encoder=enc, chunk_size=64, chunk_overlap=8)
    ref.add(list(live.values()), show_progress=True, export_onnx=False)
    queries = [json.loads(line)["text"] for line in open(args.data / "queries.jsonl")][:30]
    res["equal_to_rebuild"] = compare(idx, ref, queries)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    u, m, b = res["updates"], res["machine"], res["build"]
    lines = [
        "# Update cost in a segmented index (SciFact repeated to >= 100k chunks)",
        "",
        f"Machine: {m['cpu']}, {m['cores_available']} cores; {m['date']}. {res['vectors']}.",
        "",
        f"Index: {b['documents']:,} documents, {b['chunks']:,} chunks, built in {b['seconds']} s.",
        "",
        "| update | median s (without encoding) | max s | median encoding s | target |",
        "|---|---|---|---|---|",
        f"| add 10 documents | {u['add_10']['median_without_encoding']} | {u['add_10']['max_without_encoding']} | "
        f"{u['add_10']['median_encode_seconds']} | ≤ 2 s |",
        f"| change 10 documents | {u['change_10']['median_without_encoding']} | {u['change_10']['max_without_encoding']} | "
        f"{u['change_10']['median_encode_seconds']} | ≤ 2 s |",
        f"| delete 10 documents | {u['delete_10']['median_without_encoding']} | "
        f"{u['delete_10']['max_without_encoding']} | – | ≤ 1 s |",
        "",
        f"Equal to a rebuild: {json.dumps(res['equal_to_rebuild'])}",
    ]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
