"""NER inference speed on the CPU: words/s of the MiniLM tagger on torch, ONNX Runtime fp32 and ONNX
Runtime int8 (per-channel dynamic quantization), with the test F1 of each (the F1 cost of int8).
All of CoNLL-2003 eng.testb (231 documents, 46,435 words) is tagged as whole documents (sliding
windows of 256 tokens sharing 32), after a warm-up on 20 documents; threads from ENCODERKIT_THREADS
(default: all cores). Writes benchmarks/results/ner-speed/ (results.json, results.md, speed.png).

    python benchmarks/ner_speed.py [--model runs/ner-minilm-case] [--data ../shared/data/conll2003]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="runs/ner-minilm-case")
    ap.add_argument("--data", default="../shared/data/conll2003")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2, help="timed passes over the test set (best kept)")
    ap.add_argument("--out", default=str(RESULTS / "ner-speed"))
    args = ap.parse_args()
    from encoderkit.data.corpora.conll import load_ner_split
    from encoderkit.evaluation.extraction import ner_scores
    from encoderkit.models.export import export_onnx
    from encoderkit.models.heads.tagger import Tagger
    from encoderkit.runtime import n_threads

    docs = load_ner_split(args.data, "test")
    words = [d.words for d in docs]
    n_words = sum(len(w) for w in words)
    t0 = time.perf_counter()
    export_onnx(args.model)
    export_onnx(args.model, quantize="int8")
    export_s = time.perf_counter() - t0
    rows = []
    for backend in ("torch", "onnx", "onnx-int8"):
        tagger = Tagger.load(args.model, backend=backend)
        tagger.predict_words(words[:20], batch_size=args.batch_size, show_progress=False)  # warm-up
        best, pred = None, None
        for _ in range(args.repeats):
            t = time.perf_counter()
            pred = tagger.predict_words(words, batch_size=args.batch_size, show_progress=False)
            secs = time.perf_counter() - t
            best = secs if best is None else min(best, secs)
        s = ner_scores([d.tags for d in docs], [p[0] for p in pred])
        rows.append(
            {
                "backend": backend,
                "words_per_s": round(n_words / best, 1),
                "seconds": round(best, 2),
                "f1": s["f1"],
                "precision": s["precision"],
                "recall": s["recall"],
            }
        )
    base = rows[0]["f1"]
    for r in rows:
        r["f1_delta_vs_torch"] = round(r["f1"] - base, 4)
        r["speedup_vs_torch"] = round(r["words_per_s"] / rows[0]["words_per_s"], 2)
    payload = {
        "model": args.model,
        "data": f"{args.data} eng.testb",
        "words": n_words,
        "documents": len(docs),
        "threads": n_threads(),
        "batch_size": args.batch_size,
        "export_seconds": round(export_s, 1),
        "target_words_per_s": 5000,
        "rows": rows,
        "machine": machine(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = [
        f"# NER inference speed ({args.model}, CoNLL-2003 eng.testb: {len(docs)} documents, {n_words} words)",
        "",
        f"{payload['threads']} threads, batches of {args.batch_size} windows (256 tokens, 32 shared), "
        f"best of {args.repeats} passes; "
        f"{payload['machine']['cpu']}, {payload['machine']['date']}. Target >= 5,000 words/s.",
        "",
        "| backend | words/s | vs torch | test F1 | F1 change |",
        "|---|---|---|---|---|",
        *[
            f"| {r['backend']} | {r['words_per_s']:.0f} | {r['speedup_vs_torch']}x | {r['f1']:.4f} "
            f"| {r['f1_delta_vs_torch']:+.4f} |"
            for r in rows
        ],
        "",
        "Reference points (not measured here): spaCy en_core_web_lg ~10,000 words/s on CPU, en_core_web_trf ~700.",
    ]
    (out / "results.md").write_text("\n".join(md) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([r["backend"] for r in rows], [r["words_per_s"] for r in rows], color=["#777777", "#4477aa", "#228833"])
    ax.axhline(5000, color="red", ls="--", label="target 5,000 words/s")
    for i, r in enumerate(rows):
        ax.text(i, r["words_per_s"], f"F1 {r['f1']:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("words/s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "speed.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()
