"""Issue 30: does the default hybrid (the index's calibrated fusion) keep up with its best single input on
corpora nobody tuned it for? Builds one index per labelled set with ``encoderkit index`` at its defaults
(which calibrates the fusion on pseudo-queries of the documents; no query of any set is seen), then scores
each set's held-out queries (split ``test``) with: BM25 alone, dense alone, the previous default (RRF, equal
weights), the calibrated default, and ablations of it. Per set: nDCG@10 and a 95% paired bootstrap interval
of (default - best single input); the mean over sets.

    python benchmarks/fusion_sets.py --out SETS                      # the five sets built from public text
    python benchmarks/fusion_corpora.py --sets SETS --scifact ../shared/data/scifact [--work runs/fusion]
    python benchmarks/fusion_corpora.py ... --split dev              # the sets' dev queries (design work)

SciFact is indexed whole-document at fp32 (the protocol of its published 0.717 anchor, BENCHMARKS 13) and
scored on its test queries; the other sets at the index defaults. Writes
benchmarks/results/fusion-corpora[-dev]/{results.json, results.md, margins.png}.
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
from _common import RESULTS, machine

SETS = ("pyfaq", "stdlib-code", "pyref-entities", "manpages-whatis", "debian-longdesc")
STYLE = {
    "scifact": "scientific claims -> abstracts",
    "pyfaq": "natural questions -> prose docs (Python FAQ)",
    "stdlib-code": "docstring summaries -> function bodies (Python stdlib)",
    "pyref-entities": "entity-style names -> reference entries (Python docs)",
    "manpages-whatis": "short descriptions -> man pages",
    "debian-longdesc": "long package descriptions -> man pages",
}
SHARED_CORPUS = {"debian-longdesc": "manpages-whatis"}  # same documents: one index


def build(name: str, corpus: Path, work: Path, extra: list[str]) -> dict:
    """Index ``corpus`` once with ``encoderkit index`` (defaults + ``extra``); the build's wall time and
    the fusion rule it calibrated, cached in build.json."""
    folder = work / name
    meta = folder / "build.json"
    if meta.is_file():
        return json.loads(meta.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "encoderkit", "index", str(corpus), "--index", str(folder / "index"), "--json", "-q", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    info = {"seconds": round(wall, 1), "fusion": out.get("fusion"), "command": " ".join(["encoderkit", *cmd[3:]])}
    meta.write_text(json.dumps(info, indent=1) + "\n")
    print(f"built {name}: {wall:.0f} s; {json.dumps((out.get('fusion') or {}).get('figures'))}", flush=True)
    return info


def recalibrate(index_dir: Path) -> dict:
    """Calibrate a built index again and store the rule (as ``encoderkit tune fusion --index`` does)."""
    from encoderkit.index import Index
    from encoderkit.index.calibrate import calibrate_fusion

    with Index.open(index_dir) as index:
        rule = calibrate_fusion(index)
        index.set_fusion_rule(rule)
    return rule.to_dict()


def variants(index, stages: list[str]) -> dict:
    """The rules compared: the calibrated default and its ablations, from the same pseudo-queries."""
    from encoderkit.index import calibrate as cal
    from encoderkit.index.calibrate import stored_rule
    from encoderkit.retrieval.fusion_fit import choose_rule
    from encoderkit.retrieval.fusion_rule import FusionRule, candidate_rules
    from encoderkit.retrieval.fusion_signals import score_gap

    rule = stored_rule(index.manifest)
    snap = index.snapshot()
    queries = cal.pseudo_queries(cal._sample_chunks(index, snap, cal.CALIBRATION_QUERIES, 0), cal.CALIBRATION_QUERIES, 0)
    samples, _ = cal.cut_out_samples(index, queries, stages)
    pooled = float(np.median([score_gap(s.rankings[n].scores) for s in samples for n in stages]))
    fitted, _ = choose_rule(samples, candidate_rules(stages))
    return {
        "previous default: rrf (equal)": FusionRule("rrf", {n: 1.0 for n in stages}),
        "weighted, even weights": FusionRule("weighted", {n: 1 / len(stages) for n in stages}),
        "weighted, base weights": rule.with_(strength=0.0),
        "default (calibrated)": rule,
        "shift without per-corpus typical gaps": rule.with_(reference={n: pooled for n in stages}),
        "weights fitted on pseudo-queries": fitted,
    }


def evaluate(name: str, data: Path, index_dir: Path, split: str) -> dict:
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.index import Index
    from encoderkit.index.tune import labelled_samples, per_query_table
    from encoderkit.retrieval.fusion_fit import bootstrap_ci, cross_validate
    from encoderkit.retrieval.fusion_rule import candidate_rules

    d = load_beir(data, split)
    with Index.open(index_dir, readonly=True) as index:
        stages = list(index.retrievers)
        rules = variants(index, stages)
        _, samples = labelled_samples(index, d.queries, d.qrels)
        table = per_query_table(samples, rules)
        cv = cross_validate(samples, candidate_rules(stages), folds=5, seed=0)
        table["tuned on these queries (5-fold CV)"] = cv["per_query"]
        texts = [d.queries[q] for q in list(d.queries)[:200]]
        fuse_ms = {}
        for label, opts in (("default", {}), ("previous default (rrf)", {"fusion": "rrf"})):
            fuse_ms[label] = float(np.median([r.timings_ms["fuse"] for r in index.rank_many(texts, **opts)]))
        t = time.perf_counter()
        index.rank_many(texts)
        per_query_ms = (time.perf_counter() - t) * 1000 / len(texts)
    best_single = max(stages, key=lambda n: table[n].mean())
    margin = table["default (calibrated)"] - table[best_single]
    lo, hi = bootstrap_ci(margin)
    return {
        "set": name,
        "queries": len(samples),
        "ndcg@10": {k: round(float(v.mean()), 4) for k, v in table.items()},
        "best_single": best_single,
        "margin": round(float(margin.mean()), 4),
        "margin_ci95": [round(lo, 4), round(hi, 4)],
        "rules": {k: r.describe() for k, r in rules.items()},
        "search_ms_per_query": round(per_query_ms, 2),
        "fuse_ms_p50": {k: round(v, 3) for k, v in fuse_ms.items()},
        "per_query": {k: [round(float(x), 4) for x in v] for k, v in table.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=Path, required=True, help="folder written by benchmarks/fusion_sets.py")
    ap.add_argument("--scifact", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--work", type=Path, default=Path("runs/fusion"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--only", default="", help="comma-separated set names")
    ap.add_argument(
        "--recalibrate", action="store_true", help="calibrate the built indexes again (after a change of the calibration)"
    )
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    plan = [(n, args.sets / n, args.sets / SHARED_CORPUS.get(n, n), []) for n in SETS]
    plan.append(("scifact", args.scifact, args.scifact, ["--chunk-size", "0", "--encode-precision", "fp32"]))
    split_of = {"scifact": "test" if args.split == "test" else "train"}  # SciFact has no dev split: its train queries
    rows, builds = [], {}
    out = RESULTS / ("fusion-corpora" if args.split == "test" else f"fusion-corpora-{args.split}")
    for name, data, corpus_dir, extra in plan:
        if only and name not in only:
            continue
        key = SHARED_CORPUS.get(name, name)
        builds[name] = build(key, corpus_dir / "corpus.jsonl", args.work, extra)
        if args.recalibrate:
            builds[name]["fusion"] = recalibrate(args.work / key / "index")
        row = evaluate(name, data, args.work / key / "index", split_of.get(name, args.split))
        row.update(
            style=STYLE[name], build_seconds=builds[name]["seconds"], calibration=(builds[name]["fusion"] or {}).get("figures")
        )
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "per_query"}), flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "partial.json").write_text(json.dumps(rows, indent=1) + "\n")
    report(rows, out, args)


def report(rows: list[dict], out: Path, args) -> None:
    m = machine()
    keys = list(rows[0]["ndcg@10"])
    margins = np.array([r["margin"] for r in rows])
    payload = {"rows": rows, "mean_margin": round(float(margins.mean()), 4), "worst_margin": round(float(margins.min()), 4),
               "split": args.split, "machine": m}  # fmt: skip
    (out / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    md = [
        f"nDCG@10 on each set's {args.split} queries (SciFact: {'test' if args.split == 'test' else 'train'}); "
        "every index built by "
        f"`encoderkit index` at its defaults, the fusion calibrated on pseudo-queries of the documents only. "
        f"{m['cpu']}, {m['cores_available']} cores, {m['date']}.",
        "",
        "| set | queries | " + " | ".join(keys) + " | default - best single [95% CI] |",
        "|---|---|" + "---|" * len(keys) + "---|",
    ]
    for r in rows:
        cells = " | ".join(f"{r['ndcg@10'][k]:.4f}" for k in keys)
        lo, hi = r["margin_ci95"]
        md.append(f"| {r['set']} | {r['queries']} | {cells} | {r['margin']:+.4f} [{lo:+.4f}, {hi:+.4f}] vs {r['best_single']} |")
    mean = {k: float(np.mean([r["ndcg@10"][k] for r in rows])) for k in keys}
    md.append(
        "| **mean** | | "
        + " | ".join(f"{mean[k]:.4f}" for k in keys)
        + f" | {payload['mean_margin']:+.4f} (worst {payload['worst_margin']:+.4f}) |"
    )
    md += ["", "Calibrated rules:", ""]
    for r in rows:
        c = r.get("calibration") or {}
        md.append(
            f"- {r['set']}: {r['rules']['default (calibrated)']} ({c.get('queries')} pseudo-queries, "
            f"{c.get('seconds')} s; build {r['build_seconds']} s)"
        )
    (out / "results.md").write_text("\n".join(md) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [r["set"] for r in rows]
    for i, label in enumerate(("previous default: rrf (equal)", "default (calibrated)")):
        vals = [r["ndcg@10"][label] - r["ndcg@10"][r["best_single"]] for r in rows]
        ax.bar(np.arange(len(rows)) + (i - 0.5) * 0.38, vals, 0.38, label=label)
    ax.axhline(-0.005, color="grey", ls="--", lw=0.8)
    ax.set_xticks(range(len(rows)), names, rotation=20, fontsize=8)
    ax.set_ylabel("nDCG@10 minus best single input")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "margins.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()
