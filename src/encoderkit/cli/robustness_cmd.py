"""``encoderkit eval robustness``: quality under typos, casing, word order, synonyms, long documents."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import print_results, quiet_env
from .eval_cmd import eval_app
from .options import json_option, out_option, quiet_option


def register(app: typer.Typer) -> None:
    """Nothing to add to the top level: the command hangs under ``encoderkit eval`` (imported for its decorator)."""


def load_classifier(path: str):
    """A classifier (``encoderkit.tasks.classify.Classifier``) for robustness and trade-off reports."""
    from ..errors import EncoderkitError

    try:
        from ..tasks.classify import Classifier
    except ImportError:
        raise EncoderkitError(
            "classifiers are not available in this version of encoderkit", hint="use --task retrieval"
        ) from None
    return Classifier.load(path)


@eval_app.command("robustness")
def robustness(
    data: Path = typer.Argument(..., help="BEIR folder (retrieval) or labelled texts (--task classify)."),
    pipeline: List[str] = typer.Option(
        ["bm25", "dense", "hybrid"], "--pipeline", "-p", help="Retrieval pipelines (repeat): bm25 | dense | hybrid | ..."
    ),
    model: List[str] = typer.Option([], "--model", "-m", help="Retrieval: model of a new index; classify: classifier folder(s)."),
    out: Path = out_option("Output folder: results.json, results.md, robustness*.png."),
    perturbations: List[str] = typer.Option(
        [], "--perturbations", help="Families and levels, e.g. typo:1,2,3 drop case:upper shuffle:2,all synonym rare truncation."
    ),
    seed: List[int] = typer.Option([0], "--seed", help="Seed(s) of the random perturbations (repeat: mean ± std)."),
    task: str = typer.Option("retrieval", help="retrieval | classify."),
    split: str = typer.Option("test", help="Qrels split (retrieval)."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="Index folder to build or reuse [OUT/index]."),
    queries: Optional[int] = typer.Option(None, "--queries", min=1, help="A deterministic subset of N queries."),
    metric: str = typer.Option("ndcg@10", help="Retrieval metric."),
    synonyms: Optional[Path] = typer.Option(
        None, help="Swap list (TSV term<TAB>replacement or JSON) [abbreviations mined from the corpus]."
    ),
    rare_df: int = typer.Option(3, min=1, help="'rare': a query term found in at most N documents."),
    rerank_model: Optional[str] = typer.Option(None, "--rerank-model", help="Cross-encoder for '+rerank' pipelines."),
    as_json: bool = json_option("Print the results (without per-condition rows) as JSON."),
    quiet: bool = quiet_option(),
):
    """Quality under controlled perturbations, per level and pipeline (or classifier), with plots.

    Retrieval perturbs the queries (typo, drop, case, shuffle, synonym) and adds the 'rare' slice and,
    when asked, 'truncation' (a second index of whole documents cut at the model's limit). Defaults:
    typo drop case shuffle synonym rare (retrieval); typo drop case shuffle (classify).
    """
    quiet_env(quiet or as_json)
    from ..errors import EncoderkitError
    from ..evaluation import robustness as rb

    if task == "retrieval":
        if len(model) > 1:
            raise EncoderkitError(
                "retrieval robustness takes one --model (the index's)", hint="compare models with eval tradeoff"
            )
        res = rb.evaluate_robustness(
            data, pipeline, out_dir=out, perturbations=perturbations or rb.DEFAULT_RETRIEVAL, seeds=seed, split=split,
            index_dir=index_dir, model=model[0] if model else None, n_queries=queries, metric=metric,
            swap_list=synonyms, rare_df=rare_df, rerank_model=rerank_model,
        )  # fmt: skip
    elif task == "classify":
        from ..data.corpora.labelled import read_labelled

        if not model:
            raise EncoderkitError("--task classify needs --model CLASSIFIER (repeat to compare)")
        texts, labels = read_labelled(data)
        if queries:
            texts, labels = texts[:queries], labels[:queries]
        res = rb.classify_robustness(
            {m: load_classifier(m) for m in model}, texts, labels, out_dir=out,
            perturbations=perturbations or rb.DEFAULT_CLASSIFY, seeds=seed, swap_list=synonyms, dataset=str(data),
        )  # fmt: skip
    else:
        raise EncoderkitError(f"unknown task '{task}'", hint="use retrieval or classify")
    print_results({k: v for k, v in res.items() if k != "conditions"}, out, "robustness.png", as_json)
