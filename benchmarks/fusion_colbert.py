"""Issue 30, three lists: the calibrated fusion of an index with ColBERT against the previous weighted
default {bm25 1, dense 0.25, colbert 6}, each list alone and RRF, on labelled queries (nDCG@10), without
storing anything in the index.

    python benchmarks/fusion_colbert.py --index IX --data ../shared/data/scifact --split train

IX: an index with bm25, dense and colbert (e.g. the SciFact index of BENCHMARKS section 10). Writes
benchmarks/results/fusion-colbert/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.index import Index
    from encoderkit.index.calibrate import calibrate_fusion
    from encoderkit.index.tune import labelled_samples, per_query_table
    from encoderkit.retrieval.fusion_rule import FusionRule

    d = load_beir(args.data, args.split)
    with Index.open(args.index, readonly=True) as index:
        stages = list(index.retrievers)
        calibrated = calibrate_fusion(index)  # chosen on pseudo-queries of the index's documents, not stored
        _, samples = labelled_samples(index, d.queries, d.qrels)
    rules = {
        "previous default: weighted {1, 0.25, 6}": FusionRule("weighted", {"bm25": 1.0, "dense": 0.25, "colbert": 6.0}),
        "rrf (equal)": FusionRule("rrf", {n: 1.0 for n in stages}),
        "default (calibrated)": calibrated,
    }
    table = {k: round(float(v.mean()), 4) for k, v in per_query_table(samples, rules).items()}
    out = {"queries": len(samples), "split": args.split, "ndcg@10": table, "calibrated": calibrated.describe(),
           "calibration": calibrated.figures, "machine": machine()}  # fmt: skip
    folder = RESULTS / "fusion-colbert"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
