"""Issue 9 figures: ColBERT on SciFact test — alone, zero-training baseline beside it, fused with BM25 and
dense (every pair and the triple, RRF and the default fusion), and reranking the hybrid's top 100.

    python benchmarks/colbert_scifact.py --model runs/colbert [--data ../shared/data/scifact]
        [--index build/colbert-scifact] [--baseline-index build/colbert-scifact-baseline]
        [--seed-index /work/main/build/bench-scifact] [--steps index eval fusion]

- index: the chunked index (256 tokens, the project's default) with bm25, dense and colbert (the trained
  model), and a second one whose colbert retriever is the zero-training baseline (MaxSim over MiniLM's
  own token vectors). ``--seed-index`` copies an existing index of the same corpus built with the same
  model and chunking first, so BM25 and dense are not encoded again (only ColBERT payloads are computed).
- eval: `encoderkit eval retrieval` on the 300 test queries (quality, stage recall, latency).
- fusion: how the default fusion was chosen *without test queries*: every stage's top 100 for the dev
  queries (the 10% of SciFact train queries the ColBERT training held out; the other 90% trained it),
  then RRF and score-normalised weighted fusion with a grid of per-retriever weights are compared on
  every pair and the triple; the chosen rule maximises the worst margin over the best single input
  (ties: mean nDCG@10). The same table on test shows how it transfers.

Writes benchmarks/results/colbert-scifact/{results.json, results.md, fusion.png} and the eval folders.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

OUT = RESULTS / "colbert-scifact"
RETRIEVERS = ("bm25", "dense", "colbert")
COMBOS = [("bm25", "dense"), ("bm25", "colbert"), ("dense", "colbert"), ("bm25", "dense", "colbert")]


def build(index_dir: Path, data: Path, colbert_model: str, seed: Path | None) -> dict:
    from encoderkit.index.configure import open_for_update
    from encoderkit.retrieval.colbert.retriever import record_model

    if seed is not None and not index_dir.exists() and (seed / "manifest.json").is_file():
        shutil.copytree(seed, index_dir)
        (index_dir / "write.lock").unlink(missing_ok=True)
    t = time.perf_counter()
    idx = open_for_update(
        index_dir, retrievers=list(RETRIEVERS), retriever_settings={"colbert": {"model": record_model(colbert_model)}}
    )
    report = idx.sync([data / "corpus.jsonl"])
    m = idx.manifest
    info = {
        "path": str(index_dir),
        "seconds": round(time.perf_counter() - t, 1),
        "chunks_encoded": report.chunks_encoded,
        "payloads_filled": report.payloads_filled,
        "encode_seconds": report.encode_seconds,
        "retriever_seconds": (m["build"].get("last_update") or {}).get("retriever_seconds"),
        "documents": m["counts"]["documents"],
        "chunks": m["counts"]["chunks"],
        "retriever_bytes": m["build"]["retriever_bytes"],
        "retriever_stats": m["build"]["retriever_stats"],
    }
    idx.close()
    return info


def evaluate(index_dir: Path, data: Path, pipelines: list[str], out: Path, **kw) -> dict:
    from encoderkit.evaluation.retrieval import evaluate_retrieval

    res = evaluate_retrieval(data, pipelines, out_dir=out, index_dir=index_dir, show_progress=False, **kw)
    return {
        name: {
            "ndcg@10": p["metrics"]["ndcg@10"],
            "recall@100": p["metrics"]["recall@100"],
            "p50_ms": p["latency_ms"]["p50"],
            "p95_ms": p["latency_ms"]["p95"],
        }
        for name, p in res["pipelines"].items()
    }


# ---------------------------------------------------------------------------- fusion selection
def stage_rankings(index_dir: Path, queries: dict[str, str], depth: int = 100) -> dict[str, dict]:
    """query id -> stage -> Ranked (documents), one pass with all three retrievers."""
    from encoderkit import Index

    idx = Index.open(index_dir)
    out = {}
    for qid, text in queries.items():
        out[qid] = idx.rank_many([text], mode="+".join(RETRIEVERS), depth=depth)[0].stages
    ids = idx.doc_ids()
    idx.close()
    return {q: {s: (r, ids) for s, r in st.items()} for q, st in out.items()}


def ndcg(qrels, stages, combo, method, weights) -> float:
    from encoderkit.retrieval.metrics import evaluate
    from encoderkit.retrieval.ranking import fuse

    run = {}
    for qid, st in stages.items():
        parts = {s: st[s][0] for s in combo}
        ids = st[combo[0]][1]
        r = parts[combo[0]] if len(combo) == 1 else fuse(parts, method=method, weights={s: weights.get(s, 1.0) for s in combo})
        run[qid] = [ids[k] for k in r.keys[:100]]
    return evaluate({q: qrels[q] for q in run}, run, metrics=("ndcg@10",))["mean"]["ndcg@10"]


def candidate_rules() -> list[tuple[str, dict]]:
    rules = [("rrf", {})]
    rules += [("rrf", {"colbert": c}) for c in (2.0, 3.0)]
    for b, d, c in itertools.product((0.5, 1.0), (0.25, 0.5, 1.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)):
        rules.append(("weighted", {"bm25": b, "dense": d, "colbert": c}))
    return rules


def fusion_table(qrels, stages) -> dict:
    single = {s: ndcg(qrels, stages, (s,), "rrf", {}) for s in RETRIEVERS}
    rows = []
    for method, weights in candidate_rules():
        per = {"+".join(c): ndcg(qrels, stages, c, method, weights) for c in COMBOS}
        margins = {"+".join(c): per["+".join(c)] - max(single[s] for s in c) for c in COMBOS}
        rows.append(
            {
                "method": method,
                "weights": weights,
                "ndcg@10": per,
                "margin": margins,
                "worst": min(margins.values()),
                "mean": sum(per.values()) / len(per),
            }
        )
    return {"single": single, "rules": rows}


def choose(table: dict) -> dict:
    return max(table["rules"], key=lambda r: (round(r["worst"], 4), r["mean"]))


def fusion_step(args, results: dict) -> None:
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.data.corpora.pairs import load_training_data, split_validation

    _, val = split_validation(load_training_data(args.data), 0.1, 0)  # the training run's held-out queries
    dev_q = {q: val.queries[q] for q in sorted(val.qrels)}
    test = load_beir(args.data, "test")
    dev = fusion_table(val.qrels, stage_rankings(args.index, dev_q))
    chosen = choose(dev)
    test_stages = stage_rankings(args.index, test.queries)
    test_table = fusion_table(test.qrels, test_stages)
    pick = next(r for r in test_table["rules"] if r["method"] == chosen["method"] and r["weights"] == chosen["weights"])
    rrf = test_table["rules"][0]
    from encoderkit.retrieval.registry import get

    library = {s: float(get(s).weighted_fusion_weight) for s in RETRIEVERS}
    if chosen["method"] != "weighted" or chosen["weights"] != library:
        print(f"note: the dev choice {chosen['method']} {chosen['weights']} differs from the library default {library}")
    results["fusion"] = {
        "dev_queries": len(dev_q),
        "dev": dev,
        "chosen": {"method": chosen["method"], "weights": chosen["weights"], "dev_worst_margin": chosen["worst"]},
        "library_default_weights": library,
        "test_single": test_table["single"],
        "test_rrf": rrf,
        "test_chosen": pick,
        "test_best_rule_in_hindsight": max(test_table["rules"], key=lambda r: (r["worst"], r["mean"])),
    }


# ---------------------------------------------------------------------------- report
def markdown(res: dict) -> str:
    L = ["# ColBERT on SciFact (test, 300 queries; chunked index, 256 tokens)", ""]
    L += [f"Machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}", ""]
    if "eval" in res:
        L += ["| pipeline | nDCG@10 | R@100 | p50 ms | p95 ms |", "|---|---|---|---|---|"]
        for name, p in res["eval"].items():
            L.append(f"| {name} | {p['ndcg@10']:.4f} | {p['recall@100']:.4f} | {p['p50_ms']} | {p['p95_ms']} |")
    f = res.get("fusion")
    if f:
        c = f["chosen"]
        L += ["", f"## Fusion default, chosen on {f['dev_queries']} dev queries (held-out SciFact train)", ""]
        L += [
            f"Chosen: **{c['method']}** weights {c['weights'] or 'equal'} "
            f"(worst dev margin over the best input {c['dev_worst_margin']:+.4f}).",
            "",
        ]
        L += ["| test | best input | RRF k=60 | margin | chosen rule | margin |", "|---|---|---|---|---|---|"]
        for combo in f["test_rrf"]["ndcg@10"]:
            best = max(f["test_single"][s] for s in combo.split("+"))
            L.append(
                f"| {combo} | {best:.4f} | {f['test_rrf']['ndcg@10'][combo]:.4f} | {f['test_rrf']['margin'][combo]:+.4f} | "
                f"{f['test_chosen']['ndcg@10'][combo]:.4f} | {f['test_chosen']['margin'][combo]:+.4f} |"
            )
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--model", default="runs/colbert")
    ap.add_argument("--index", type=Path, default=Path("build/colbert-scifact"))
    ap.add_argument("--baseline-index", type=Path, default=Path("build/colbert-scifact-baseline"))
    ap.add_argument("--seed-index", type=Path, default=None)
    ap.add_argument("--steps", nargs="*", default=["index", "fusion", "eval"])
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    res = json.loads((OUT / "results.json").read_text()) if (OUT / "results.json").is_file() else {}
    res.update(machine=machine(), data=str(args.data), model=args.model)

    def save():
        (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
        (OUT / "results.md").write_text(markdown(res))

    if "index" in args.steps:
        res["index"] = build(args.index, args.data, args.model, args.seed_index)
        res["baseline_index"] = build(args.baseline_index, args.data, "default", args.seed_index)
        save()
        print("index", res["index"]["seconds"], res["baseline_index"]["seconds"], flush=True)
    if "fusion" in args.steps:
        fusion_step(args, res)
        save()
        print(json.dumps(res["fusion"]["chosen"]), flush=True)
    if "eval" in args.steps:
        pipes = ["bm25", "dense", "colbert", "bm25+dense", "bm25+colbert", "dense+colbert", "bm25+dense+colbert"]
        ev = evaluate(args.index, args.data, pipes, OUT / "eval-rrf", fusion="rrf")
        # the library default ("auto": weighted with each retriever's weighted_fusion_weight when ColBERT is
        # fused, RRF otherwise), whose weights are the rule chosen on dev queries (step "fusion")
        fused = evaluate(args.index, args.data, pipes[3:], OUT / "eval-default-fusion")
        ev.update({f"{k} (default fusion: auto)": v for k, v in fused.items()})
        rr = evaluate(
            args.index,
            args.data,
            ["bm25+dense+rerank", "bm25+dense+rerank-rrf", "hybrid+rerank"],
            OUT / "eval-rerank",
            rerank_model=args.model,
            rerank_depth=100,
        )
        ev.update({f"{k} (ColBERT, top 100)": v for k, v in rr.items()})
        base = evaluate(args.baseline_index, args.data, ["colbert"], OUT / "eval-baseline")
        ev["colbert zero-training baseline (MiniLM token vectors)"] = base["colbert"]
        res["eval"] = ev
        save()
        print(json.dumps(ev, indent=1), flush=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
