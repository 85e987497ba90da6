"""Distil the bundled all-MiniLM-L6-v2 into a 3-layer student on CPU (issue 16's first figure).

    python benchmarks/compress_minilm.py [--data ../shared/data] [--out build/compress/minilm-L3] \
        [--layers 3] [--epochs 1] [--max-minutes 40] [--teacher default] [--init DIR] [--tag NAME]

Unlabeled training text: the SciFact corpus (passages of <= 254 tokens, titles and sentences) plus the
STS-B *train* and SST-2 *train* sentences (labels dropped), written to build/compress/sentences.txt.
Validation each epoch on held-out texts (cosine to the teacher, the selection metric), STS-B *dev*
Spearman and SciFact *train* queries as dev retrieval data (200 queries, reduced corpus); the SciFact
*test* queries and STS-B *test* are only used afterwards, by benchmarks/tradeoff_scifact.py.
Writes benchmarks/results/compress-<tag>/training.json + training.md (wall time, the validation curve).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sentences_file(data: Path, dest: Path) -> Path:
    """STS-B train sentences and SST-2 train sentences, one per line, unique (labels dropped)."""
    from encoderkit.data.corpora.sts import read_sts

    seen: dict[str, None] = {}
    for p in read_sts(data / "stsbenchmark", "train"):
        seen[p.a.strip()] = None
        seen[p.b.strip()] = None
    for line in (data / "sst2" / "stsa.binary.train").read_text(encoding="utf-8").splitlines():
        if line.strip():
            seen[line.split(" ", 1)[1].strip()] = None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(s for s in seen if s) + "\n", encoding="utf-8")
    return dest


def res_threads() -> int:
    from encoderkit.runtime import n_threads

    return n_threads()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default="build/compress/minilm-L3")
    ap.add_argument("--teacher", default="default")
    ap.add_argument("--init", default=None)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--layer-selection", default="even")
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--loss", default="cosine")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--max-texts", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--max-length", type=int, default=None)
    ap.add_argument("--tag", default="minilm-L3")
    args = ap.parse_args()

    from encoderkit.evaluation.machine import machine_info
    from encoderkit.training.compress.train import train_compress
    from encoderkit.training.loop import TrainConfig

    data = Path(args.data)
    sents = sentences_file(data, ROOT / "build" / "compress" / "sentences.txt")
    t0 = time.perf_counter()
    log = train_compress(
        args.teacher,
        args.out,
        layers=args.layers,
        layer_selection=args.layer_selection,
        width=args.width,
        init=args.init,
        corpus_paths=[data / "scifact" / "corpus.jsonl", sents],
        lines=True,
        max_texts=args.max_texts,
        max_length=args.max_length,
        loss=args.loss,
        val_sts=data / "stsbenchmark",
        val_beir=data / "scifact",
        val_split="train",
        val_queries=200,
        train_config=TrainConfig(
            lr=args.lr,
            batch_size=args.batch_size,
            epochs=args.epochs,
            warmup_ratio=0.05,
            max_minutes=args.max_minutes,
            max_steps=args.max_steps,
            eval_every=args.eval_every,
        ),
        show_progress=False,
    )
    wall = time.perf_counter() - t0
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime  # core-seconds: on a shared machine, what the run itself consumed
    res = {
        "command": "python benchmarks/compress_minilm.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "wall_seconds_total": round(wall, 1),
        "cpu_seconds_total": round(cpu, 1),
        "train_seconds": log["train_seconds"],
        "steps": log["step"],
        "total_steps": log["total_steps"],
        "stopped_early": log["stopped_early"],
        "evals": log["evals"],
        "best": log["best"],
        "card": log["card"],
        "machine": machine_info(),
    }
    out = ROOT / "benchmarks" / "results" / f"compress-{args.tag}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "training.json").write_text(json.dumps(res, indent=2) + "\n")
    keys = [k for k in log["evals"][0] if k not in ("step", "epoch", "train_seconds", "eval_seconds")]
    lines = [
        f"# Distillation of {log['card']['teacher']['name']} into {args.layers} layers ({args.tag})",
        "",
        f"- command: `{res['command']}`",
        f"- wall time, teacher vectors + training + validation + export: {wall / 60:.1f} min "
        f"(training steps {log['train_seconds'] / 60:.1f} min, {log['step']}/{log['total_steps']} steps); "
        f"CPU time {cpu / 60:.1f} core-minutes ({cpu / 60 / max(1, res_threads()):.1f} min on {res_threads()} cores)",
        f"- texts: {log['card']['n_train_texts']} train, {log['card']['n_val_texts']} held out; layers kept "
        f"{log['card']['plan']['layers']}; parameters {log['card']['parameters']:,} (teacher "
        f"{log['card']['teacher_parameters'] or 0:,})",
        f"- machine: {res['machine']['cpu']}, {res['machine']['threads']} threads; {res['machine']['date']}",
        "",
        "| step | epoch | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for e in log["evals"]:
        lines.append(f"| {e['step']} | {e['epoch']} | " + " | ".join(str(e.get(k, "")) for k in keys) + " |")
    (out / "training.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
