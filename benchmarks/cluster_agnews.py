"""Clustering AG News test (7,600 titles + descriptions, 4 labels): V-measure of k-means (k=4) on
MiniLM embeddings vs on TF-IDF vectors, in one run (MTEB's clustering metric), over 5 k-means seeds;
plus HDBSCAN on the embeddings, and the c-TF-IDF keywords of the embedding clusters.

    PYTHONPATH=src /work/bin/heavy python benchmarks/cluster_agnews.py [--model default]
"""

from __future__ import annotations

import argparse
import time

from classify_common import DATA, embed_cached, log, out_dir, write
from encoderkit.evaluation.classification import mean_std
from encoderkit.tasks.cluster import agreement, cluster_collection, kmeans
from encoderkit.tasks.collection import load_collection

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    docs = load_collection([DATA / "ag_news"])
    k = len(set(docs.gold))
    emb, enc, embed_s = embed_cached(a.model, docs.texts)  # shared with classify_agnews.py
    docs.model = enc.name
    log("embedded", emb.shape, embed_s)
    from sklearn.feature_extraction.text import TfidfVectorizer

    t0 = time.perf_counter()
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit_transform(docs.texts)
    tfidf_s = time.perf_counter() - t0
    rows = {"embeddings": [], "tfidf": []}
    for seed in range(a.seeds):
        rows["embeddings"].append(agreement(docs.gold, kmeans(emb, k, seed)))
        rows["tfidf"].append(agreement(docs.gold, kmeans(tfidf, k, seed)))
        log("seed", seed, rows["embeddings"][-1]["v_measure"], rows["tfidf"][-1]["v_measure"])
    summary = {name: {m: mean_std([r[m] for r in rs]) for m in ("v_measure", "ari", "nmi")} for name, rs in rows.items()}
    d = out_dir("cluster-agnews")
    full = cluster_collection(docs, emb, algorithms=("kmeans", "hdbscan"), k=k, out=d)
    hdb = full["results"]["hdbscan"]
    payload = {
        "dataset": str(DATA / "ag_news"),
        "documents": len(docs),
        "model": enc.name,
        "k": k,
        "kmeans": f"scikit-learn KMeans, n_init=10, seeds 0..{a.seeds - 1}",
        "tfidf": "TfidfVectorizer(sublinear_tf, English stop words, min_df=2), L2-normalised",
        "summary": summary,
        "per_seed": rows,
        "embed_seconds": round(embed_s, 1),
        "tfidf_seconds": round(tfidf_s, 1),
        "hdbscan": {k2: hdb[k2] for k2 in ("clusters", "noise", "min_cluster_size", "agreement_with_labels", "seconds")},
        "kmeans_clusters": [
            {k2: c[k2] for k2 in ("cluster", "size", "keywords", "gold_labels")}
            for c in full["results"]["kmeans"]["clusters_detail"]
        ],
    }
    e, t = summary["embeddings"]["v_measure"], summary["tfidf"]["v_measure"]
    md = [
        f"# Clustering AG News test ({len(docs)} texts, k={k}): embeddings vs TF-IDF",
        "",
        "| vectors | V-measure | ARI | NMI |",
        "|---|---|---|---|",
        f"| {enc.name} embeddings | {e['mean']:.4f} ± {e['std']:.4f} | "
        f"{summary['embeddings']['ari']['mean']:.4f} | {summary['embeddings']['nmi']['mean']:.4f} |",
        f"| TF-IDF | {t['mean']:.4f} ± {t['std']:.4f} | "
        f"{summary['tfidf']['ari']['mean']:.4f} | {summary['tfidf']['nmi']['mean']:.4f} |",
        "",
        f"k-means over {a.seeds} seeds (mean ± std). HDBSCAN on the embeddings (PCA-20): {hdb['clusters']} clusters, "
        f"{hdb['noise']} noise points, V-measure {hdb['agreement_with_labels']['v_measure']:.4f}.",
        "",
        "k-means clusters (embeddings, seed 0): "
        + "; ".join(
            f"{c['size']} docs [{', '.join(c['keywords'][:5])}] mostly {next(iter(c['gold_labels']))}"
            for c in payload["kmeans_clusters"]
        ),
    ]
    write("cluster-agnews", payload, "\n".join(md) + "\n")
