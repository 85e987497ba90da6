"""Issue 32: the same training and encoding on a GPU and on the CPU, compared.

    python benchmarks/gpu_check.py [--steps 200] [--devices cuda,cpu] [--scifact ../shared/data/scifact]
                                   [--conll ../shared/data/conll2003] [--model default]

For each device in ``--devices``: trains a ColBERT on SciFact train (``encoderkit train colbert``) and a
tagger on CoNLL-2003 (``encoderkit train ner``) for exactly ``--steps`` optimizer steps with the same seed,
through the CLI with ``--device``; then compares, between the devices, the loss curves (mean absolute
difference of the logged losses, relative to the CPU's) and the dev figures each run reports, and measures
step time and the encode throughput of the model (``Encoder.load(device=...)``) on the first 2,000 SciFact
documents. A GPU run uses mixed precision (bfloat16, or float16 with loss scaling), so its curve is close
to the CPU's, not identical: "within noise" is judged against a second CPU seed (``--noise-seed``).

Needs a GPU for the comparison; on a CPU-only machine run it with ``--devices cpu`` to check the script.
Writes benchmarks/results/gpu-check/{results.json, results.md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, corpus_passages, machine

OUT = RESULTS / "gpu-check"


def train(kind: str, device: str, args, out: Path, seed: int) -> dict:
    """One training run through the CLI; returns its log (train_log.json) plus the wall time."""
    common = ["--out", str(out), "--max-steps", str(args.steps), "--device", device, "--seed", str(seed), "--quiet"]
    common += ["--model", args.model]
    if kind == "colbert":
        cmd = ["train", "colbert", "--data", str(args.scifact), "--batch-size", "16", *common]
    else:
        cmd = ["train", "ner", "--data", str(args.conll), "--batch-size", "16", "--min-steps", "0", "--patience", "0", *common]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "encoderkit", *cmd], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    log = json.loads((out / "train_log.json").read_text())
    log["wall"] = round(time.perf_counter() - t0, 1)
    return log


def losses(log: dict) -> np.ndarray:
    return np.array([r["loss"] for r in log["loss_curve"]], dtype=np.float64)


def last_dev(log: dict) -> dict:
    metric = log.get("metric")
    last = (log.get("evals") or [{}])[-1]
    return {"metric": metric, "value": last.get(metric)}


def encode_speed(device: str, texts: list[str], model: str) -> float:
    from encoderkit import Encoder

    enc = Encoder.load(model, device=device)
    enc.encode(texts[:64], show_progress=False)  # warm-up (CUDA context, kernels)
    t0 = time.perf_counter()
    enc.encode(texts, show_progress=False)
    return len(texts) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--devices", default="cuda,cpu")
    ap.add_argument("--scifact", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--conll", type=Path, default=Path("../shared/data/conll2003"))
    ap.add_argument("--model", default="default")
    ap.add_argument("--noise-seed", type=int, default=1, help="a second CPU run with this seed: the noise floor")
    ap.add_argument("--work", type=Path, default=Path("build/gpu-check"))
    args = ap.parse_args()
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    texts = corpus_passages(args.scifact)[1][:2000]
    runs: dict = {}
    for kind in ("colbert", "ner"):
        for device in devices:
            runs[f"{kind}/{device}"] = train(kind, device, args, args.work / f"{kind}-{device.replace(':', '')}", 0)
            print(f"{kind} on {device}: {runs[f'{kind}/{device}']['wall']} s", flush=True)
        if "cpu" in devices and args.noise_seed is not None:
            runs[f"{kind}/cpu-seed{args.noise_seed}"] = train(kind, "cpu", args, args.work / f"{kind}-cpu-noise", args.noise_seed)
    rows = []
    for kind in ("colbert", "ner"):
        ref = runs.get(f"{kind}/cpu")
        for name, log in runs.items():
            if not name.startswith(kind + "/"):
                continue
            curve = losses(log)
            diff = None
            if ref is not None and name != f"{kind}/cpu":
                n = min(len(curve), len(losses(ref)))
                diff = float(np.mean(np.abs(curve[:n] - losses(ref)[:n])) / max(1e-9, np.mean(np.abs(losses(ref)[:n]))))
            rows.append(
                {
                    "run": name,
                    "device": log.get("device"),
                    "steps": log.get("step"),
                    "step_seconds": round(float(log.get("train_seconds", 0.0)) / max(1, int(log.get("step") or 1)), 4),
                    "final_loss": round(float(curve[-1]), 4) if len(curve) else None,
                    "loss_curve_rel_diff_to_cpu": None if diff is None else round(diff, 4),
                    "dev": last_dev(log),
                }
            )
    speed = {device: round(encode_speed(device, texts, args.model), 1) for device in devices}
    result = {"machine": machine(), "steps": args.steps, "runs": rows, "encode_texts_per_s": speed}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        f"# GPU check ({args.steps} steps per run)",
        "",
        "| run | device | s/step | final loss | loss curve vs CPU (rel. mean abs diff) | dev |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        dev = f"{r['dev']['metric']} {r['dev']['value']}"
        diff = r["loss_curve_rel_diff_to_cpu"]
        lines.append(f"| {r['run']} | {r['device']} | {r['step_seconds']} | {r['final_loss']} | {diff} | {dev} |")
    lines += ["", "Encode throughput (2,000 SciFact documents): " + ", ".join(f"{d} {v} texts/s" for d, v in speed.items())]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
