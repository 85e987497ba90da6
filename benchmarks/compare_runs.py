"""Compare two retrieval evaluation results (results.json of `encoderkit eval retrieval`): metrics per
pipeline, how many queries changed their nDCG@10, and latency; given the two output folders, also how
many queries got exactly the same top 10 (same documents, same order) in each pipeline's TREC run.

    python benchmarks/compare_runs.py OLD/results.json NEW/results.json
    python benchmarks/compare_runs.py OLD_OUT NEW_OUT            # + top-10 identity per pipeline

Used to check that a refactoring changed nothing (issue 8: "quality identical, latency within 5%";
issue 28: "SciFact top-10 identical before and after, on an index built before the change").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


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


def top_k(run_file: Path, k: int = 10) -> dict[str, list[str]]:
    """query id -> its first ``k`` documents by rank, from a TREC run."""
    ranked: dict[str, list[tuple[int, str]]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, rank, *_ = line.split()
        ranked.setdefault(qid, []).append((int(rank), doc))
    return {q: [d for _, d in sorted(v)[:k]] for q, v in ranked.items()}


def compare_top10(old_dir: Path, new_dir: Path) -> list[str]:
    lines = ["| pipeline | queries with the same top 10 (documents and order) |", "|---|---|"]
    for run in sorted((old_dir / "runs").glob("*.trec")):
        other = new_dir / "runs" / run.name
        if not other.is_file():
            continue
        a, b = top_k(run), top_k(other)
        same = sum(1 for q in a if a[q] == b.get(q))
        lines.append(f"| {run.stem} | {same} of {len(a)} |")
    return lines


if __name__ == "__main__":
    old_p, new_p = (Path(p) for p in sys.argv[1:3])
    if old_p.is_dir():
        print("\n".join(compare(*(json.load(open(p / "results.json")) for p in (old_p, new_p)))))
        print()
        print("\n".join(compare_top10(old_p, new_p)))
    else:
        print("\n".join(compare(json.load(open(old_p)), json.load(open(new_p)))))
