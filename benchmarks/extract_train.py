"""Run one `encoderkit train ner|relations|extract ...` command in this process and record its wall time
and peak RSS next to the model (``OUT/train_stats.json``), for the extraction benchmarks.

    python benchmarks/extract_train.py train ner --data ../shared/data/conll2003 --out runs/ner-minilm-case
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine


def main(argv: list[str]) -> int:
    from encoderkit.cli import main as cli

    out = Path(argv[argv.index("--out") + 1])
    t0 = time.perf_counter()
    code = 0
    try:
        cli(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    stats = {
        "command": "encoderkit " + " ".join(argv),
        "exit_code": code,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": machine(),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
