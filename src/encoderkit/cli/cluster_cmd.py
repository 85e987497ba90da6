"""``encoderkit cluster`` and ``encoderkit dedup``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, print_markdown, quiet_env
from .options import json_option, out_option, quiet_option, seed_option


def register(app: typer.Typer) -> None:
    app.command("cluster")(cluster)
    app.command("dedup")(dedup)


def _collection(paths: List[Path], index: Optional[Path], text_col: Optional[str], label_col: Optional[str]):
    from ..errors import EncoderkitError
    from ..tasks.collection import index_collection, load_collection

    if index is not None and paths:
        raise EncoderkitError("pass PATH or --index DIR, not both")
    if index is not None:
        return index_collection(index)
    return load_collection(paths, text_col=text_col, label_col=label_col)


def _vectors(docs, model: str, quiet: bool):
    if docs.stored_vectors is not None:
        return docs.stored_vectors
    from ..models.heads.encoder import Encoder

    enc = Encoder.load(model)
    docs.model = enc.name
    return docs.vectors(enc, show_progress=None if not quiet else False)


def cluster(
    paths: List[Path] = typer.Argument(None, help="Files or folders (a labelled data set gives V-measure against its labels)."),
    index: Optional[Path] = typer.Option(None, "--index", help="Cluster the documents of an index (its stored vectors)."),
    out: Path = out_option("Output folder: clusters.json, clusters.md, map_<algorithm>.png."),
    k: Optional[int] = typer.Option(None, "--k", min=2, help="k-means: number of clusters."),
    auto: bool = typer.Option(False, "--auto", help="k-means: choose k by silhouette."),
    k_max: int = typer.Option(20, help="--auto: largest k tried."),
    algorithm: str = typer.Option("kmeans", help="kmeans | hdbscan | both."),
    min_cluster_size: Optional[int] = typer.Option(None, help="HDBSCAN minimum cluster size [max(5, n/100)]."),
    model: str = typer.Option("default", help="Encoder for files (an index uses its own vectors)."),
    top_n: int = typer.Option(10, help="Keywords per cluster."),
    seed: int = seed_option("Random seed of k-means, PCA and the silhouette sample."),
    text_col: Optional[str] = typer.Option(None, help="Text column(s) of a CSV/TSV/JSONL file."),
    label_col: Optional[str] = typer.Option(None, help="Label column (gold labels for V-measure)."),
    as_json: bool = json_option("Print the clusters as JSON (without per-document assignments)."),
    quiet: bool = quiet_option(),
):
    """Topics of a collection: k-means / HDBSCAN over embeddings, c-TF-IDF keywords, representatives, a 2-D map."""
    quiet_env(quiet or as_json)
    from ..errors import EncoderkitError
    from ..tasks.cluster import cluster_collection

    algos = ("kmeans", "hdbscan") if algorithm == "both" else (algorithm,)
    if k is not None and auto:
        raise EncoderkitError("pass --k N or --auto, not both")
    if "kmeans" in algos and k is None and not auto:
        raise EncoderkitError("k-means needs --k N or --auto", hint="or --algorithm hdbscan")
    docs = _collection(paths or [], index, text_col, label_col)
    vectors = _vectors(docs, model, quiet or as_json)
    res = cluster_collection(
        docs,
        vectors,
        algorithms=algos,
        k=k,
        auto=auto,
        k_max=k_max,
        min_cluster_size=min_cluster_size,
        top_n=top_n,
        seed=seed,
        out=out,
    )
    if as_json:
        print_json(
            {**res, "results": {a: {k2: v for k2, v in r.items() if k2 != "assignments"} for a, r in res["results"].items()}}
        )
        return
    print_markdown((out / "clusters.md").read_text())
    console().print(f"wrote {out}/clusters.json (assignments of every document), clusters.md, map PNGs")


def dedup(
    paths: List[Path] = typer.Argument(None, help="Files or folders."),
    index: Optional[Path] = typer.Option(None, "--index", help="De-duplicate the documents of an index."),
    threshold: float = typer.Option(0.95, help="Near duplicates: cosine similarity at or above this."),
    min_overlap: Optional[float] = typer.Option(
        None, help="Also require this word-3-gram containment (0-1) for near duplicates."
    ),
    exact_only: bool = typer.Option(False, "--exact-only", help="Exact (normalised-text hash) duplicates only: no model."),
    model: str = typer.Option("default", help="Encoder for files (an index uses its own vectors)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write dedup.json and dedup.md here."),
    text_col: Optional[str] = typer.Option(None, help="Text column(s) of a CSV/TSV/JSONL file."),
    as_json: bool = json_option("Print the groups as JSON."),
    quiet: bool = quiet_option(),
):
    """Exact and near-duplicate groups, with the copy kept in each and why."""
    quiet_env(quiet or as_json)
    from ..tasks.dedup import dedup_markdown, find_duplicates, write_report

    docs = _collection(paths or [], index, text_col, None)
    vectors = None if exact_only else _vectors(docs, model, quiet or as_json)
    res = find_duplicates(docs, vectors, threshold=threshold, min_overlap=min_overlap)
    if out is not None:
        write_report(res, out)
    if as_json:
        print_json(res)
        return
    print_markdown(dedup_markdown(res, max_groups=20))
