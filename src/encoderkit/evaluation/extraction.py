"""Extraction metrics: entity-level P/R/F1 (seqeval, strict IOB2 = conlleval on valid sequences) and
SemEval-2010 Task 8's official relation score; confusion matrices and their plots.

Entities (Tjong Kim Sang & De Meulder, 2003): an entity counts as found only when its type and both
boundaries match exactly; micro precision/recall/F1 over all entities plus the same per type. seqeval
(Nakayama, 2018) in strict mode with the IOB2 scheme computes them; the predictions are repaired to
valid IOB2 before scoring (:func:`encoderkit.data.corpora.conll.repair`, conlleval's reading of an I- tag that
starts an entity), and on valid sequences strict mode and conlleval give the same counts
(``tests/agreement/test_extract_metrics.py`` checks both on hand-made cases).

Relations (Hendrickx et al., 2010; the official scorer ``semeval2010_task8_scorer-v1.2.pl``):
"(9+1)-way evaluation with directionality taken into account". For each of the 9 relation types
(``Other`` excluded): correct = predictions with the right type *and* direction; precision = correct /
predictions of that type (any direction); recall = correct / gold examples of that type (any
direction); a right type with the wrong direction is therefore wrong on both sides. The official score
is the macro-average of the 9 F1 values.

>>> s = semeval_scores(["A(e1,e2)", "A(e2,e1)", "Other"], ["A(e1,e2)", "A(e1,e2)", "A(e1,e2)"])
>>> s["per_type"]["A"], s["macro_f1"]
({'precision': 0.3333, 'recall': 0.5, 'f1': 0.4, 'correct': 1, 'predicted': 3, 'gold': 2, 'wrong_direction': 1}, 0.4)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.corpora.conll import repair
from ..data.corpora.semeval import relation_type


def _r(x: float) -> float:
    return round(float(x), 4)


def ner_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level micro precision/recall/F1 and per type (seqeval strict, IOB2).

    >>> ner_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])["f1"]
    0.5
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted sequences differ in length")
    g = [repair(x) for x in gold]
    p = [repair(x) for x in pred]
    n_gold = sum(t.startswith("B-") for x in g for t in x)
    n_pred = sum(t.startswith("B-") for x in p for t in x)
    if not n_gold and not n_pred:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold_entities": 0, "predicted_entities": 0, "per_type": {}}
    rep = classification_report(g, p, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    per_type = {
        k: {"precision": _r(v["precision"]), "recall": _r(v["recall"]), "f1": _r(v["f1-score"]), "support": int(v["support"])}
        for k, v in rep.items()
        if not k.endswith(" avg")
    }
    micro = rep["micro avg"]
    return {
        "precision": _r(micro["precision"]),
        "recall": _r(micro["recall"]),
        "f1": _r(micro["f1-score"]),
        "gold_entities": n_gold,
        "predicted_entities": n_pred,
        "per_type": per_type,
    }


def word_confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """(types incl. "O", [gold, predicted] counts) of words by entity type, prefixes ignored.

    >>> word_confusion([["B-PER", "O"]], [["B-LOC", "O"]])[1].tolist()
    [[0, 0, 0], [1, 0, 0], [0, 0, 1]]
    """
    strip = lambda t: t[2:] if t != "O" else "O"
    types = sorted({strip(t) for x in list(gold) + list(pred) for t in x} - {"O"}) + ["O"]
    ix = {t: i for i, t in enumerate(types)}
    m = np.zeros((len(types), len(types)), dtype=np.int64)
    for gs, ps in zip(gold, pred):
        for a, b in zip(gs, ps):
            m[ix[strip(a)], ix[strip(b)]] += 1
    return types, m


def semeval_scores(gold: Sequence[str], pred: Sequence[str], *, other: str = "Other") -> dict:
    """The official SemEval-2010 Task 8 score (see the module docstring) plus accuracy (19-way, exact)."""
    if len(gold) != len(pred):
        raise ValueError("gold and predicted labels differ in length")
    types = sorted({relation_type(x) for x in gold} - {other})
    per = {}
    for t in types:
        correct = sum(1 for g, p in zip(gold, pred) if g == p and relation_type(g) == t)
        predicted = sum(1 for p in pred if relation_type(p) == t)
        n_gold = sum(1 for g in gold if relation_type(g) == t)
        wrong_dir = sum(1 for g, p in zip(gold, pred) if g != p and relation_type(g) == relation_type(p) == t)
        prec = correct / predicted if predicted else 0.0
        rec = correct / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[t] = {
            "precision": _r(prec),
            "recall": _r(rec),
            "f1": _r(f1),
            "correct": correct,
            "predicted": predicted,
            "gold": n_gold,
            "wrong_direction": wrong_dir,
        }
    n = max(1, len(types))
    return {
        "macro_f1": _r(sum(v["f1"] for v in per.values()) / n),
        "macro_precision": _r(sum(v["precision"] for v in per.values()) / n),
        "macro_recall": _r(sum(v["recall"] for v in per.values()) / n),
        "accuracy": _r(sum(g == p for g, p in zip(gold, pred)) / max(1, len(gold))),
        "n": len(gold),
        "per_type": per,
    }


def label_confusion(gold: Sequence[str], pred: Sequence[str], *, directed: bool = False) -> tuple[list[str], np.ndarray]:
    """(labels, [gold, predicted] counts); undirected types unless ``directed``."""
    key = (lambda x: x) if directed else relation_type
    labels = sorted({key(x) for x in list(gold) + list(pred)})
    ix = {t: i for i, t in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        m[ix[key(g)], ix[key(p)]] += 1
    return labels, m


def plot_confusion(labels: list[str], matrix: np.ndarray, path: str | Path, title: str) -> Path:
    """A row-normalised confusion-matrix heat map with the counts written in (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.sum(1, keepdims=True)
    norm = matrix / np.maximum(rows, 1)
    size = max(4.5, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(
                    j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6, color="white" if norm[i, j] > 0.5 else "black"
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
