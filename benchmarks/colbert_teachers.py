"""Issue 9: which training signal made the better ColBERT — contrastive only, or contrastive plus KL
distillation from the project's fused first stage (BM25 + MiniLM) — on SciFact test.

    python benchmarks/colbert_teachers.py [--data ../shared/data/scifact] [--runs colbert colbert-fused]
        [--seed-index build/bench-scifact]

Each run is trained by ``python benchmarks/colbert_train.py --only NAME`` (same recipe, same mined
negatives, same seed; only ``--teacher fused --distill-weight 0.5`` differs). For each trained model:
the validation curve (80 held-out train queries, from its train_log.json), then a chunked SciFact index
(256 tokens; BM25 and dense copied from ``--seed-index``, only ColBERT payloads computed) evaluated on
the 300 test queries: ColBERT alone, and the three-way fusion with the default rule. The run ``colbert``
reuses build/colbert-scifact (the index ``colbert_scifact.py`` built with it). Also reported: how good the
teacher itself is on the test queries (BM25 + dense, the fused first stage whose scores it distils).
Writes benchmarks/results/colbert-teachers/{results.json,results.md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine
from colbert_scifact import build, evaluate

OUT = RESULTS / "colbert-teachers"
INDEXES = {"colbert": Path("build/colbert-scifact")}


def curve(run: Path) -> dict:
    log = json.loads((run / "train_log.json").read_text())
    evals = [e for e in log["evals"] if "ndcg@10" in e]
    best = max(evals, key=lambda e: e["ndcg@10"])
    last_loss = [x for x in log.get("loss_curve", []) if "loss" in x]
    return {
        "validation_ndcg@10": [round(e["ndcg@10"], 4) for e in evals],
        "best": {"ndcg@10": best["ndcg@10"], "epoch": best["epoch"]},
        "completed": log.get("completed"),
        "final_log": last_loss[-1] if last_loss else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--runs", nargs="+", default=["colbert", "colbert-fused"])
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--seed-index", type=Path, default=Path("build/bench-scifact"))
    args = ap.parse_args()
    res: dict = {"machine": machine(), "runs": {}}
    for name in args.runs:
        run = args.runs_dir / name
        index = INDEXES.get(name, Path(f"build/{name}-scifact"))
        entry = {"model": str(run), "index": str(index), **curve(run)}
        entry["build"] = build(index, args.data, str(run), args.seed_index)
        entry["test"] = evaluate(index, args.data, ["colbert", "bm25+dense+colbert"], OUT / f"eval-{name}")
        if "teacher" not in res:
            res["teacher"] = evaluate(index, args.data, ["bm25+dense"], OUT / "eval-teacher")
        res["runs"][name] = entry
        print(name, json.dumps({k: entry[k] for k in ("best", "test")}), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [
        "# ColBERT on SciFact: contrastive only vs distilled from the fused first stage",
        "",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}.",
        "",
        "| run | validation nDCG@10 by epoch | best (epoch) | test ColBERT alone | test bm25+dense+colbert (auto fusion) |",
        "|---|---|---|---|---|",
    ]
    for name, e in res["runs"].items():
        lines.append(
            f"| {name} | {' → '.join(f'{v:.3f}' for v in e['validation_ndcg@10'])} | {e['best']['ndcg@10']:.4f} "
            f"({e['best']['epoch']}) | {e['test']['colbert']['ndcg@10']:.4f} | {e['test']['bm25+dense+colbert']['ndcg@10']:.4f} |"
        )
    lines += ["", f"The teacher itself (bm25+dense fused, test): nDCG@10 {res['teacher']['bm25+dense']['ndcg@10']:.4f}."]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
