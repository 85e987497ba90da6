"""Semantic textual similarity (STS Benchmark) and embedding-space geometry.

``sts_correlation``: Spearman and Pearson correlation between the cosine similarity of two sentences'
vectors and the gold 0-5 score (the Sentence-BERT / MTEB protocol; Spearman is the headline).
``anisotropy``: mean cosine of random sentence pairs. A space where unrelated sentences already sit at
cosine 0.9 is anisotropic (Ethayarajh, 2019): cosine then says little, which is why raw pooled vectors
of encoders not trained contrastively compare poorly (Reimers & Gurevych, 2019; Gao et al., 2021).

>>> pairs = read_sts("../shared/data/stsbenchmark", split="test")   # doctest: +SKIP
>>> sts_correlation(Encoder.load("default"), pairs)["spearman"]      # doctest: +SKIP
0.82...
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.corpora.sts import StsPair, read_sts  # noqa: F401  (re-exported)
from ..errors import EncoderkitError


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [n, d] arrays."""
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return (a * b).sum(axis=1)


def _encode_pairs(encoder, pairs: Sequence[StsPair], pooling: str | None, batch_size: int):
    sentences = list(dict.fromkeys([p.a for p in pairs] + [p.b for p in pairs]))
    vecs = encoder.encode(sentences, pooling=pooling, normalize=False, batch_size=batch_size)
    pos = {s: i for i, s in enumerate(sentences)}
    return sentences, vecs, pos


def sts_correlation(encoder, pairs: Sequence[StsPair], *, pooling: str | None = None, batch_size: int = 64) -> dict:
    """Spearman and Pearson (scipy) of cosine similarity vs gold scores."""
    from scipy.stats import pearsonr, spearmanr

    _, vecs, pos = _encode_pairs(encoder, pairs, pooling, batch_size)
    cos = cosine_rows(vecs[[pos[p.a] for p in pairs]], vecs[[pos[p.b] for p in pairs]])
    gold = np.array([p.score for p in pairs])
    return {
        "spearman": float(spearmanr(cos, gold).statistic),
        "pearson": float(pearsonr(cos, gold).statistic),
        "n_pairs": len(pairs),
        "pooling": pooling or encoder.pooling,
    }


def anisotropy(vectors: np.ndarray, n_pairs: int = 5000, seed: int = 0) -> float:
    """Mean cosine similarity of ``n_pairs`` random pairs of distinct rows."""
    n = len(vectors)
    if n < 2:
        raise EncoderkitError("anisotropy needs at least two vectors")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # never equal to i
    return float(cosine_rows(vectors[i], vectors[j]).mean())


def geometry(
    encoders: Sequence[tuple[str, object]],
    pairs: Sequence[StsPair],
    poolings: Sequence[str] = ("cls", "mean", "max"),
    batch_size: int = 64,
) -> list[dict]:
    """For each (label, encoder) and pooling: STS Spearman/Pearson, anisotropy, and the mean cosine of
    the gold pairs split by score (similar >= 4, dissimilar <= 1) to show how much room cosine uses."""
    from scipy.stats import pearsonr, spearmanr

    rows = []
    gold = np.array([p.score for p in pairs])
    for label, enc in encoders:
        for how in poolings:
            _, vecs, pos = _encode_pairs(enc, pairs, how, batch_size)
            cos = cosine_rows(vecs[[pos[p.a] for p in pairs]], vecs[[pos[p.b] for p in pairs]])
            rows.append(
                {
                    "model": label,
                    "pooling": how,
                    "spearman": float(spearmanr(cos, gold).statistic),
                    "pearson": float(pearsonr(cos, gold).statistic),
                    "anisotropy": anisotropy(vecs),
                    "cos_similar_pairs": float(cos[gold >= 4].mean()),
                    "cos_dissimilar_pairs": float(cos[gold <= 1].mean()),
                }
            )
    return rows


def random_init_encoder(like, seed: int = 0):
    """An encoder with ``like``'s architecture and tokenizer but freshly initialised weights
    (no pretraining, no contrastive training): the baseline for the geometry report."""
    import torch
    from transformers import AutoModel

    from ..models.heads.encoder import Encoder
    from ..models.ref import ModelRef

    torch.manual_seed(seed)
    model = AutoModel.from_config(like.model.config).eval()
    ref = ModelRef(
        f"random-init:{like.name}", f"random init ({like.name} architecture, untrained)", like.ref.path, None, "random"
    )
    backbone = like.backbone.with_module(model, ref=ref, fingerprint=f"random-{seed}")
    return Encoder(backbone, ref, pooling=like.pooling, max_length=like.max_length)


def geometry_markdown(rows: list[dict], split: str) -> str:
    lines = [
        f"# Pooling and geometry on STS-B {split}",
        "",
        "Spearman/Pearson: cosine vs gold score. Anisotropy: mean cosine of random sentence pairs "
        "(high = vectors crowd into a narrow cone, cosine less informative). Last two columns: mean "
        "cosine of gold pairs scored >= 4 and <= 1.",
        "",
        "| model | pooling | Spearman | Pearson | anisotropy | cos similar | cos dissimilar |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['pooling']} | {r['spearman']:.4f} | {r['pearson']:.4f} | "
            f"{r['anisotropy']:.3f} | {r['cos_similar_pairs']:.3f} | {r['cos_dissimilar_pairs']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def plot_geometry(rows: list[dict], path: Path) -> None:
    from .report import _plt

    plt = _plt()
    models = list(dict.fromkeys(r["model"] for r in rows))
    poolings = list(dict.fromkeys(r["pooling"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        sub = {r["pooling"]: r for r in rows if r["model"] == model}
        xs = [i + k * width for i in range(len(poolings))]
        short = model if len(model) < 40 else model[:37] + "..."
        axes[0].bar(xs, [sub[p]["spearman"] for p in poolings], width, label=short)
        axes[1].bar(xs, [sub[p]["anisotropy"] for p in poolings], width, label=short)
    for ax, title in zip(axes, ("STS-B Spearman (cosine)", "anisotropy (mean cosine, random pairs)")):
        ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(poolings))], poolings)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
