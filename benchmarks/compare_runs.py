"""Compare two retrieval evaluation results (results.json of `encoderkit eval retrieval`): metrics per
pipeline, how many queries changed their nDCG@10, and latency.

    python benchmarks/compare_runs.py OLD/results.json NEW/results.json

Used to check that a refactoring changed nothing (issue 8: "quality identical, latency within 5%").
"""

from __future__ import annotations

import json
import sys


def compare(old: dict, new: dict) -> list[str]:
    lines = [
        "| pipeline | nDCG@10 old | nDCG@10 new | queries whose nDCG@10 changed | p50 ms old | p50 ms new |",
        "|---|---|---|---|---|---|",
    ]
    for p, n in new["pipelines"].items():
        o = old["pipelines"].get(p)
        if o is None:
            continue
        changed = sum(1 for q, v in o["per_query_ndcg@10"].items() if n["per_query_ndcg@10"].get(q) != v)
        lines.append(
            f"| {p} | {o['metrics']['ndcg@10']:.4f} | {n['metrics']['ndcg@10']:.4f} | {changed} of "
            f"{len(o['per_query_ndcg@10'])} | {o['latency_ms']['p50']} | {n['latency_ms']['p50']} |"
        )
    return lines


if __name__ == "__main__":
    old, new = (json.load(open(p)) for p in sys.argv[1:3])
    print("\n".join(compare(old, new)))
