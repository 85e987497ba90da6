"""``encoderkit tune fusion``: choose how an index fuses its retrievers -- on a user's labelled queries
(cross-validated, with the gain's uncertainty), or again on pseudo-queries of its documents -- and store
it, so every search that names no fusion uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console, print_json
from .options import json_option
from .safe import shown

tune_app = typer.Typer(help="Fit search settings of an index to its data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tune_app, name="tune")
    tune_app.command("fusion")(fusion)


def fusion(
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    queries: Optional[Path] = typer.Option(
        None,
        "--queries",
        help="Labelled queries: BEIR queries.jsonl, or id<TAB>text per line (.tsv). Without: calibrate on pseudo-queries.",
    ),
    qrels: Optional[Path] = typer.Option(None, "--qrels", help="Their judgements: TSV query-id, corpus-id, grade (BEIR qrels)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds for the reported figure."),
    seed: int = typer.Option(0, "--seed", help="Seed of the folds, the bootstrap and the pseudo-query sample."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; keep the index's rule as it is."),
    as_json: bool = json_option("Print the report as JSON."),
):
    """Fit the index's fusion rule (method, weights, per-query shift) and store it.

    With --queries and --qrels: every candidate rule is scored on your labelled queries; the figure shown
    is cross-validated (each query scored by a rule chosen without it) with a 95% bootstrap interval of
    the gain over the index's current rule, and the rule chosen on all of them is stored. Without them: the
    index calibrates again on pseudo-queries of its own documents (what a new index does by itself).
    --fusion/--weights on a search still override the stored rule.
    """
    from ..errors import EncoderkitError
    from ..index.dispatch import open_index

    if (queries is None) != (qrels is None):
        raise EncoderkitError("--queries and --qrels go together", hint="give both to tune on labels, or neither to calibrate")
    with open_index(index_dir, readonly=dry_run) as idx:
        if queries is None:
            rule, report = _calibrate(idx, seed)
        else:
            rule, report = _tune(idx, queries, qrels, folds, seed)
        if not dry_run:
            idx.set_fusion_rule(rule)
    if as_json:
        return print_json({"index": str(index_dir), "stored": not dry_run, "rule": rule.to_dict(), "report": report})
    _print_report(rule, report, dry_run)


def _calibrate(idx, seed: int):
    from ..errors import EncoderkitError
    from ..index.calibrate import MIN_DOCUMENTS, calibrate_fusion

    if len(idx.retrievers) < 2:
        raise EncoderkitError(
            f"this index has one retriever ({idx.retrievers[0]}): there is nothing to fuse",
            hint="add one: --retrievers bm25,dense",
        )
    rule = calibrate_fusion(idx, seed=seed)
    if rule is None:
        raise EncoderkitError(
            f"too few documents to calibrate on (fewer than {MIN_DOCUMENTS}, or too few sentences)",
            hint="tune on labelled queries: --queries Q --qrels R",
        )
    return rule, {
        "ndcg@10 (pseudo-queries)": rule.figures["ndcg@10"],
        "queries": rule.figures["queries"],
        "rule": rule.describe(),
    }


def _tune(idx, queries: Path, qrels: Path, folds: int, seed: int):
    from ..data.corpora.beir import read_qrels
    from ..data.corpora.queries import read_queries
    from ..index.tune import tune_fusion

    return tune_fusion(idx, dict(read_queries(queries)), read_qrels(qrels), folds=folds, seed=seed)


def _print_report(rule, report: dict, dry_run: bool) -> None:
    from rich.table import Table

    out = console()
    scores = report.get("ndcg@10") or report.get("ndcg@10 (pseudo-queries)") or {}
    what = "labelled queries" if "ndcg@10" in report else "pseudo-queries of the index's documents"
    t = Table(title=f"nDCG@10 on {report['queries']} {what}", box=None)
    t.add_column("ranking")
    t.add_column("nDCG@10", justify="right")
    for name, v in scores.items():
        t.add_row(shown(name), f"{v:.4f}")
    out.print(t)
    if "gain" in report:
        lo, hi = report["gain_ci95"]
        out.print(
            shown(
                f"gain over the current rule: {report['gain']:+.4f} (95% bootstrap interval {lo:+.4f} .. {hi:+.4f}; "
                f"cross-validated, {report['folds']} folds)"
            )
        )
        if lo <= 0 <= hi:
            out.print(shown("the interval includes 0: on these queries the tuned rule is not reliably better"))
    verb = "would store" if dry_run else "stored"
    out.print(shown(f"{verb}: {rule.describe()} [{rule.source}]"))
