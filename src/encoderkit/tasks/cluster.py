"""`encoderkit cluster`: topics of a collection from its embeddings.

- k-means (scikit-learn, ``n_init=10``) on the L2-normalised embeddings, with ``k`` given or chosen
  (``auto``) by the best silhouette (cosine) over a range of k on a sample;
- HDBSCAN (scikit-learn's; Campello et al. 2013) on a PCA reduction of the embeddings (density
  clustering degrades in 384 dimensions; BERTopic reduces with UMAP for the same reason), with noise
  points labelled -1;
- per cluster: top keywords by class-based TF-IDF (c-TF-IDF, Grootendorst 2022, "BERTopic": the
  cluster's documents as one document, tf x log(1 + A / f_t) with A the mean words per cluster and
  f_t the term's frequency over all clusters) and the representative documents nearest the centroid;
- a 2-D map (PCA) as PNG, everything as JSON + Markdown; with gold labels (a labelled data set), the
  V-measure, ARI and NMI of each clustering (V-measure: Rosenberg & Hirschberg 2007; MTEB's
  clustering metric).

>>> ctfidf_keywords(["cats purr", "cats meow", "stocks fell", "stocks rose"], np.array([0, 0, 1, 1]), top_n=1)
{0: [('cats', 1.0)], 1: [('stocks', 1.0)]}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import EncoderkitError
from .collection import Collection

ALGORITHMS = ("kmeans", "hdbscan")


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels of the rows of ``vectors`` (dense or a scipy sparse matrix such as TF-IDF), 10 seeded restarts."""
    from sklearn.cluster import KMeans

    n = vectors.shape[0]
    if not 2 <= k <= n:
        raise EncoderkitError(f"k={k} for {n} documents", hint="k must be between 2 and the number of documents")
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors).astype(int)


def choose_k(vectors: np.ndarray, k_min: int = 2, k_max: int = 20, sample: int = 3000, seed: int = 0) -> tuple[int, dict]:
    """The k in [k_min, k_max] with the best mean silhouette (cosine) on a sample; returns (k, scores)."""
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    k_max = max(k_min, min(k_max, n - 1))
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(n, sample), replace=False)
    scores = {}
    for k in range(k_min, k_max + 1):
        labels = kmeans(vectors, k, seed)
        if len(set(labels[idx])) < 2:
            continue
        scores[k] = float(silhouette_score(vectors[idx], labels[idx], metric="cosine"))
    if not scores:
        raise EncoderkitError("could not choose k: too few distinct documents", hint="pass --k")
    return max(scores, key=scores.get), scores


def hdbscan(vectors: np.ndarray, min_cluster_size: int | None = None, dims: int = 20, seed: int = 0) -> np.ndarray:
    """HDBSCAN labels (-1: noise) on a PCA reduction of the vectors to ``dims`` dimensions."""
    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA

    n = len(vectors)
    if n < 3:
        raise EncoderkitError(f"{n} documents: too few to cluster")
    reduced = PCA(n_components=min(dims, n - 1, vectors.shape[1]), random_state=seed).fit_transform(vectors)
    size = min_cluster_size or max(5, n // 100)
    return HDBSCAN(min_cluster_size=max(2, min(size, n)), copy=True).fit_predict(reduced).astype(int)


def ctfidf_keywords(
    texts: list[str], labels: np.ndarray, top_n: int = 10, extra_stop_words: set[str] | None = None
) -> dict[int, list[tuple[str, float]]]:
    """Top ``top_n`` words per cluster by class-based TF-IDF (noise, -1, left out); scores are
    normalised so each cluster's best word has 1.0. English stop words, and ``extra_stop_words`` (e.g. a
    programming language's keywords), are never keywords."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    clusters = sorted(c for c in set(labels.tolist()) if c >= 0)
    if not clusters:
        return {}
    docs = [" ".join(t for t, lab in zip(texts, labels) if lab == c) for c in clusters]
    stop = sorted(ENGLISH_STOP_WORDS | (extra_stop_words or set()))
    vec = CountVectorizer(stop_words=stop, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b", lowercase=True)
    try:
        tf = vec.fit_transform(docs).astype(np.float64).toarray()
    except ValueError:  # nothing but stop words
        return {c: [] for c in clusters}
    words = vec.get_feature_names_out()
    tf = tf / np.maximum(tf.sum(1, keepdims=True), 1)
    freq = tf.sum(0)
    idf = np.log(1 + tf.sum(1).mean() / np.maximum(freq, 1e-12))  # A / f_t on relative frequencies
    score = tf * idf
    out = {}
    for row, c in enumerate(clusters):
        top = np.argsort(-score[row])[:top_n]
        best = score[row, top[0]] if len(top) and score[row, top[0]] > 0 else 1.0
        out[c] = [(str(words[j]), round(float(score[row, j] / best), 4)) for j in top if score[row, j] > 0]
    return out


def representatives(vectors: np.ndarray, labels: np.ndarray, n: int = 3) -> dict[int, list[int]]:
    """Per cluster, the ``n`` documents closest (cosine) to its normalised centroid."""
    out = {}
    for c in sorted(set(labels.tolist())):
        if c < 0:
            continue
        idx = np.flatnonzero(labels == c)
        centre = vectors[idx].mean(0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        out[c] = idx[np.argsort(-(vectors[idx] @ centre))[:n]].tolist()
    return out


def agreement(gold: list[str], labels: np.ndarray) -> dict:
    """V-measure (with homogeneity, completeness), ARI and NMI against gold labels."""
    from sklearn import metrics as M

    h, c, v = M.homogeneity_completeness_v_measure(gold, labels)
    return {
        "v_measure": round(float(v), 6),
        "homogeneity": round(float(h), 6),
        "completeness": round(float(c), 6),
        "ari": round(float(M.adjusted_rand_score(gold, labels)), 6),
        "nmi": round(float(M.normalized_mutual_info_score(gold, labels)), 6),
    }


def keyword_texts(docs: Collection) -> list[str]:
    """The documents' texts as keywords are counted on: code with its identifiers split into words."""
    from ..data.files.code import language_of
    from ..data.files.code_words import identifier_words

    paths = docs.paths or [""] * len(docs.texts)
    return [identifier_words(t) if p and language_of(Path(p).suffix) else t for p, t in zip(paths, docs.texts)]


def code_stop_words(docs: Collection) -> set[str]:
    """The keywords and built-ins of every programming language among the documents (by file suffix):
    ``self``, ``return`` and ``def`` are not what a cluster of Python files is about."""
    from ..data.files.code import language_of
    from ..data.files.code_words import language_stop_words

    by_language: dict[str, list[str]] = {}
    for path, text in zip(docs.paths or [], docs.texts):
        language = language_of(Path(path).suffix) if path else None
        if language:
            by_language.setdefault(language, []).append(text)
    return set().union(*(language_stop_words(texts, lang) for lang, texts in by_language.items()))


def describe_clusters(
    docs: Collection, vectors: np.ndarray, labels: np.ndarray, *, top_n: int = 10, n_repr: int = 3
) -> list[dict]:
    keywords = ctfidf_keywords(keyword_texts(docs), labels, top_n, code_stop_words(docs))
    reps = representatives(vectors, labels, n_repr)
    out = []
    for c in sorted(set(labels.tolist()), key=lambda c: (c < 0, -int((labels == c).sum()))):
        members = np.flatnonzero(labels == c)
        entry = {"cluster": int(c), "size": int(len(members)), "keywords": [w for w, _ in keywords.get(c, [])]}
        entry["keyword_scores"] = dict(keywords.get(c, []))
        entry["representatives"] = [
            {"id": docs.ids[i], "path": docs.paths[i] if docs.paths else "", "text": docs.texts[i][:300]} for i in reps.get(c, [])
        ]
        if docs.gold is not None:
            counts: dict[str, int] = {}
            for i in members:
                counts[docs.gold[i]] = counts.get(docs.gold[i], 0) + 1
            entry["gold_labels"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        out.append(entry)
    return out


def map_2d(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    return PCA(n_components=2, random_state=seed).fit_transform(vectors)


def plot_map(coords: np.ndarray, labels: np.ndarray, clusters: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=120)
    noise = labels < 0
    if noise.any():
        ax.scatter(coords[noise, 0], coords[noise, 1], s=3, c="lightgray", label="noise")
    cmap = plt.get_cmap("tab20")
    for i, cl in enumerate(c for c in clusters if c["cluster"] >= 0):
        m = labels == cl["cluster"]
        ax.scatter(coords[m, 0], coords[m, 1], s=4, color=cmap(i % 20), alpha=0.6)
        cx, cy = coords[m].mean(0)
        ax.annotate(f"{cl['cluster']}: {', '.join(cl['keywords'][:3])}", (cx, cy), fontsize=7, weight="bold", ha="center")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cluster_collection(
    docs: Collection,
    vectors: np.ndarray,
    *,
    algorithms: tuple[str, ...] = ("kmeans",),
    k: int | None = None,
    auto: bool = False,
    k_max: int = 20,
    min_cluster_size: int | None = None,
    top_n: int = 10,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict:
    """Cluster ``docs`` (embedded as ``vectors``) with each algorithm; with ``out``, write clusters.json,
    clusters.md and map_<algorithm>.png there."""
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        raise EncoderkitError(f"unknown clustering algorithm '{unknown[0]}'", hint=f"use {', '.join(ALGORITHMS)}")
    if "kmeans" in algorithms and k is None and not auto:
        raise EncoderkitError("k-means needs --k N or --auto")
    if len(docs) < 3:
        raise EncoderkitError(f"{len(docs)} documents: too few to cluster")
    vectors = np.asarray(vectors, dtype=np.float32)
    res: dict = {"source": docs.source, "documents": len(docs), "model": docs.model, "results": {}}
    coords = map_2d(vectors, seed)
    for algo in algorithms:
        t0 = time.perf_counter()
        info: dict = {}
        if algo == "kmeans":
            if k is None:
                k_chosen, scores = choose_k(vectors, k_max=k_max, seed=seed)
                info |= {"k": k_chosen, "chosen_by": "silhouette (cosine)", "silhouette_by_k": scores}
            else:
                k_chosen = k
                info["k"] = k
            labels = kmeans(vectors, k_chosen, seed)
        else:
            labels = hdbscan(vectors, min_cluster_size, seed=seed)
            info |= {"clusters": int(len(set(labels.tolist()) - {-1})), "noise": int((labels < 0).sum())}
            info["min_cluster_size"] = min_cluster_size or max(5, len(docs) // 100)
        info["seconds"] = round(time.perf_counter() - t0, 2)
        if docs.gold is not None:
            info["agreement_with_labels"] = agreement(docs.gold, labels)
        info["clusters_detail"] = describe_clusters(docs, vectors, labels, top_n=top_n)
        info["assignments"] = {docs.ids[i]: int(c) for i, c in enumerate(labels)}
        res["results"][algo] = info
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            plot_map(
                coords, labels, info["clusters_detail"], Path(out) / f"map_{algo}.png", f"{algo} on {Path(docs.source).name}"
            )
    if out is not None:
        (Path(out) / "clusters.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
        (Path(out) / "clusters.md").write_text(clusters_markdown(res))
    return res


def clusters_markdown(res: dict) -> str:
    lines = [f"# Clusters of {res['source']} ({res['documents']} documents)", ""]
    for algo, info in res["results"].items():
        head = f"## {algo}" + (f" (k={info['k']})" if "k" in info else f" ({info['clusters']} clusters, {info['noise']} noise)")
        lines += [head, ""]
        if "agreement_with_labels" in info:
            a = info["agreement_with_labels"]
            lines += [f"V-measure {a['v_measure']:.4f}, ARI {a['ari']:.4f}, NMI {a['nmi']:.4f} against the data's labels.", ""]
        lines += ["| cluster | size | keywords | representative |", "|---|---|---|---|"]
        for c in info["clusters_detail"]:
            rep = c["representatives"][0]["text"][:80].replace("|", "/").replace("\n", " ") if c["representatives"] else ""
            lines.append(f"| {c['cluster']} | {c['size']} | {', '.join(c['keywords'][:8])} | {rep} |")
        lines.append("")
    return "\n".join(lines)
