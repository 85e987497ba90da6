"""Inference throughput of one classifier on torch, ONNX Runtime fp32 and ONNX Runtime per-channel
int8, in one run, with the accuracy of each on the same test set (SST-2 test, 1,821 sentences).

    PYTHONPATH=src /work/bin/heavy python benchmarks/classify_throughput.py --model runs/bench/classify-sst2-finetune

Target: int8 >= 1.5x torch texts/s with <= 0.5 point accuracy loss.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from classify_common import DATA, log, write
from encoderkit.data.corpora.labelled import read_labeled
from encoderkit.models.export import export_onnx
from encoderkit.runtime import n_threads
from encoderkit.tasks.classify import Classifier
from encoderkit.training.classify.train import summary_metrics, targets_of

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="runs/bench/classify-sst2-finetune")
    ap.add_argument("--data", default=str(DATA / "sst2"))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    test = read_labeled(a.data).split("test")
    exports = {}
    for q in (None, "int8"):
        t0 = time.perf_counter()
        folder = export_onnx(a.model, quantize=q, force=True)
        import json

        exports[q or "fp32"] = json.loads((folder / "export.json").read_text()) | {
            "export_seconds": round(time.perf_counter() - t0, 1)
        }
        log("export", q, exports[q or "fp32"])
    rows = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        clf = Classifier.load(a.model, backend=backend)
        y = targets_of(test, clf.labels, clf.multi_label)
        clf.logits(test.texts[:64], batch_size=a.batch_size)  # warm-up
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            z = clf.logits(test.texts, batch_size=a.batch_size)
            times.append(time.perf_counter() - t0)
        single = []
        for t in test.texts[:200]:
            t0 = time.perf_counter()
            clf.logits([t], batch_size=1)
            single.append((time.perf_counter() - t0) * 1000)
        m = summary_metrics(z, y, False)
        rows[backend] = {
            "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "texts_per_second": round(len(test) / min(times), 1),
            "seconds_best_of": round(min(times), 3),
            "single_text_p50_ms": round(float(np.percentile(single, 50)), 2),
            "predictions": z.argmax(1).tolist(),
        }
        log(backend, {k: v for k, v in rows[backend].items() if k != "predictions"})
    base = rows["torch"]
    for r in rows.values():
        r["speedup_vs_torch"] = round(r["texts_per_second"] / base["texts_per_second"], 3)
        r["accuracy_delta_points"] = round(100 * (r["accuracy"] - base["accuracy"]), 3)
        r["same_prediction_as_torch"] = round(float(np.mean(np.array(r["predictions"]) == np.array(base["predictions"]))), 4)
    for r in rows.values():
        r.pop("predictions")
    i8 = rows["onnx-int8"]
    ok = i8["speedup_vs_torch"] >= 1.5 and i8["accuracy_delta_points"] >= -0.5
    payload = {
        "model": a.model,
        "data": a.data,
        "texts": len(test),
        "batch_size": a.batch_size,
        "threads": n_threads(),
        "backends": rows,
        "exports": exports,
        "target_met": ok,
    }
    md = [
        f"# Classifier inference: torch vs ONNX Runtime fp32 vs int8 ({len(test)} SST-2 test sentences)",
        "",
        f"Model {a.model}; batch {a.batch_size} (length-sorted), {n_threads()} threads, best of {a.repeats} passes.",
        "",
        "| backend | texts/s | speed-up | single text p50 ms | accuracy | delta (points) | same prediction as torch |",
        "|---|---|---|---|---|---|---|",
    ]
    for b, r in rows.items():
        md.append(
            f"| {b} | {r['texts_per_second']} | {r['speedup_vs_torch']}x | {r['single_text_p50_ms']} | {r['accuracy']:.4f} | "
            f"{r['accuracy_delta_points']:+.2f} | {r['same_prediction_as_torch']:.4f} |"
        )
    md += [
        "",
        f"Target (int8 >= 1.5x torch, <= 0.5 pt loss): {'met' if ok else 'MISSED'}. Export agreement on the probe texts: "
        f"fp32 {exports['fp32'].get('prediction_agreement')}, int8 {exports['int8'].get('prediction_agreement')}.",
    ]
    write("classify-throughput", payload, "\n".join(md) + "\n")
