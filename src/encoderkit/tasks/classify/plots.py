"""Plots of a classification evaluation: confusion matrix, reliability diagram, per-label scores (PNG,
matplotlib without a display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (true label per row), counts written in the cells when few labels."""
    plt = _plt()
    k = len(labels)
    rows = matrix.sum(1, keepdims=True)
    norm = matrix / np.maximum(rows, 1)
    size = min(12, 2.5 + 0.5 * k)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=120)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(labels, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black"
                )
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true label")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_reliability(rel: dict, path: Path, title: str) -> None:
    """Accuracy per confidence bin against the diagonal (perfect calibration), with the bin counts."""
    plt = _plt()
    edges = np.array(rel["edges"])
    centers = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    count = np.array(rel["count"])
    acc = np.array(rel["accuracy"])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5, 6), dpi=120, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    has = count > 0
    ax.bar(centers[has], acc[has], width=width * 0.9, color="#4c72b0", label="accuracy in bin")
    ax.bar(
        centers[has],
        (np.array(rel["confidence"]) - acc)[has],
        bottom=acc[has],
        width=width * 0.9,
        color="#dd8452",
        alpha=0.5,
        label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=9)
    ax2.bar(centers, count, width=width * 0.9, color="gray")
    ax2.set_xlabel("confidence")
    ax2.set_ylabel("texts")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_per_label(per_class: list[dict], path: Path, title: str) -> None:
    """Precision, recall and F1 per label (multi-label evaluations)."""
    plt = _plt()
    labels = [r["label"] for r in per_class]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) + 2), 4), dpi=120)
    for off, key in ((-0.25, "precision"), (0.0, "recall"), (0.25, "f1")):
        ax.bar(x + off, [r[key] for r in per_class], width=0.25, label=key)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
