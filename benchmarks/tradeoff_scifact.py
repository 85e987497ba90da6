"""Quality vs speed of every encoder variant the project produces, on SciFact test and STS-B test.

    python benchmarks/tradeoff_scifact.py [--data ../shared/data] [--student build/compress/minilm-L3] \
        [--model EXTRA ...] [--backends torch,torch-bf16,onnx,onnx-int8] [--out benchmarks/results/tradeoff-scifact]

Variants: the bundled all-MiniLM-L6-v2 (teacher) and each student, on torch, ONNX Runtime fp32 and
ONNX Runtime per-channel int8 (documents and queries encoded by the variant itself; indexes under
build/tradeoff-indexes, reused). Timing: one process, the same threads, interleaved rounds. Then the
issue's targets for the first student: >= 1.8x the teacher's encode throughput with >= 95% of its
SciFact nDCG@10 and STS-B Spearman, and the combined figure with int8 on top.
Writes OUT/results.{json,md}, OUT/tradeoff.png and OUT/targets.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--teacher", default="default")
    ap.add_argument("--student", nargs="*", default=["build/compress/minilm-L3"])
    ap.add_argument("--model", nargs="*", default=[], help="extra variants (MODEL or MODEL@BACKEND)")
    ap.add_argument("--backends", default="", help="comma-separated [torch,torch-bf16 (where the CPU has bf16),onnx,onnx-int8]")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tradeoff-scifact"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quiet-file", default="", help="file to create during the timing rounds (a shared machine's flag)")
    args = ap.parse_args()
    quiet = Path(args.quiet_file) if args.quiet_file else None

    def hush():  # other wrapped jobs wait while this file exists (see /work/bin/heavy, light)
        if quiet is not None:
            quiet.touch()

    def release():
        if quiet is not None:
            quiet.unlink(missing_ok=True)

    from encoderkit.evaluation.tradeoff import evaluate_tradeoff
    from encoderkit.runtime import cpu_has_bf16

    data = Path(args.data)
    backends = args.backends or ("torch,torch-bf16,onnx,onnx-int8" if cpu_has_bf16() else "torch,onnx,onnx-int8")
    res = evaluate_tradeoff(
        data / "scifact",
        [args.teacher, *args.student, *args.model],
        out_dir=args.out,
        backends=[b for b in backends.split(",") if b],
        sts=data / "stsbenchmark",
        index_root=ROOT / "build" / "tradeoff-indexes",
        repeats=args.repeats,
        show_progress=False,
        before_timing=hush,
        after_timing=release,
    )
    rows = {(r["model"], r["backend"]): r for r in res["variants"]}
    teacher = rows[(args.teacher, "torch")]
    lines = ["# Targets (issue 16): first student vs the teacher on torch, same threads, one run", ""]
    for backend in ("torch", "torch-bf16", "onnx-int8"):
        s = rows.get((args.student[0], backend)) if args.student else None
        if s is None:
            continue
        speed = s["passages_per_s"] / teacher["passages_per_s"]
        nd = s["ndcg@10"] / teacher["ndcg@10"]
        sp = s["sts_spearman"] / teacher["sts_spearman"]
        ok = speed >= 1.8 and nd >= 0.95 and sp >= 0.95
        lines += [
            f"- student @ {backend}: {speed:.2f}x encode throughput ({s['passages_per_s']} vs {teacher['passages_per_s']} "
            f"passages/s), SciFact nDCG@10 {s['ndcg@10']:.4f} = {nd:.1%} of {teacher['ndcg@10']:.4f}, STS-B Spearman "
            f"{s['sts_spearman']:.4f} = {sp:.1%} of {teacher['sts_spearman']:.4f}; query encoding p50 "
            f"{s['query_encode_ms']['p50']} ms vs {teacher['query_encode_ms']['p50']} ms"
            + (f" -> target (>= 1.8x, >= 95%, >= 95%) {'met' if ok else 'missed'}" if backend == "torch" else " (combined)")
        ]
    (Path(args.out) / "targets.md").write_text("\n".join(lines) + "\n")
    print((Path(args.out) / "results.md").read_text())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
