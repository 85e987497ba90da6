"""Classification metrics and calibration as pure numpy functions (single- and multi-label).

Labels are column indices 0..k-1. Single-label inputs are index vectors; multi-label inputs are 0/1
indicator matrices [n, k]. Calibration: expected calibration error over equal-width confidence bins
(Naeini et al. 2015; Guo et al. 2017), temperature scaling fitted by minimising the negative
log-likelihood (Guo et al. 2017), and per-label decision thresholds maximising F1 on held-out data.

>>> import numpy as np
>>> summary = single_label_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), 2)
>>> summary["accuracy"], round(summary["macro_f1"], 4)
(0.75, 0.7333)
"""

from __future__ import annotations

import numpy as np


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        r = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    return p, r, f


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Counts [k, k]: row = true label, column = predicted.

    >>> confusion(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return m


def single_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> dict:
    """accuracy, macro / weighted F1, per-class precision / recall / F1 / support, confusion matrix."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    m = confusion(y_true, y_pred, k)
    tp = np.diag(m).astype(float)
    p, r, f = _prf(tp, m.sum(0) - tp, m.sum(1) - tp)
    support = m.sum(1)
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "macro_precision": float(p[present].mean()) if present.any() else 0.0,
        "macro_recall": float(r[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f * support).sum() / max(1, support.sum())),
        "per_class": {"precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": support.tolist()},
        "confusion": m.tolist(),
    }


def multi_label_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Subset accuracy (exact label set, reported as ``accuracy``), micro / macro F1, Hamming loss,
    per-label precision / recall / F1 / support.

    >>> r = multi_label_metrics(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [1, 0]]))
    >>> r["accuracy"], round(r["micro_f1"], 4), r["hamming_loss"]
    (0.5, 0.8, 0.25)
    """
    t, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    tp = (t & p).sum(0).astype(float)
    fp = (~t & p).sum(0).astype(float)
    fn = (t & ~p).sum(0).astype(float)
    prec, rec, f1 = _prf(tp, fp, fn)
    mp, mr, mf = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    support = t.sum(0)
    present = support > 0
    return {
        "n": int(len(t)),
        "accuracy": float((t == p).all(1).mean()) if len(t) else 0.0,
        "micro_f1": float(mf[0]),
        "micro_precision": float(mp[0]),
        "micro_recall": float(mr[0]),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "hamming_loss": float((t != p).mean()) if t.size else 0.0,
        "per_class": {"precision": prec.tolist(), "recall": rec.tolist(), "f1": f1.tolist(), "support": support.tolist()},
    }


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> dict:
    """Expected calibration error over ``bins`` equal-width confidence bins, with the per-bin
    accuracy, mean confidence and counts (the reliability diagram's data).

    >>> r = reliability(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 1, 1, 0]), bins=10)
    >>> round(r["ece"], 3), r["count"][5], r["count"][8]
    (0.1, 2, 2)
    """
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    ok = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    acc = np.bincount(idx, weights=ok, minlength=bins) / np.maximum(count, 1)
    mean_conf = np.bincount(idx, weights=conf, minlength=bins) / np.maximum(count, 1)
    ece = float((np.abs(acc - mean_conf) * count).sum() / max(1, len(conf)))
    return {
        "ece": ece,
        "bins": bins,
        "edges": edges.tolist(),
        "accuracy": acc.tolist(),
        "confidence": mean_conf.tolist(),
        "count": count.astype(int).tolist(),
    }


def calibration_inputs(probs: np.ndarray, y_true: np.ndarray, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) pairs: single-label, the top probability and whether the top label is right;
    multi-label, every (example, label) probability and whether that label applies."""
    probs = np.asarray(probs, dtype=float)
    if multi_label:
        return probs.ravel(), np.asarray(y_true, dtype=float).ravel()
    return probs.max(1), (probs.argmax(1) == np.asarray(y_true)).astype(float)


def _nll(logits: np.ndarray, y: np.ndarray, t: float, multi_label: bool) -> float:
    z = logits / t
    if multi_label:
        # binary cross-entropy, stable form
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, multi_label: bool = False) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T) (sigmoid for multi-label) on held-out
    data: a golden-section search over log T in [log 0.05, log 20].

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 2000)
    >>> z = np.stack([-(2 * y - 1) * 2.0, (2 * y - 1) * 2.0], 1) + rng.normal(0, 4, (2000, 2))
    >>> fit_temperature(z * 5, y) > fit_temperature(z, y)
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64 if multi_label else np.int64)
    if len(logits) == 0:
        return 1.0
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(logits, y, np.exp(a), multi_label), _nll(logits, y, np.exp(b), multi_label)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(logits, y, np.exp(a), multi_label)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(logits, y, np.exp(b), multi_label)
    return float(np.exp((lo + hi) / 2))


def tune_thresholds(probs: np.ndarray, y_true: np.ndarray, *, default: float = 0.5) -> list[float]:
    """Per label, the probability threshold maximising F1 on held-out data (candidates: the observed
    probabilities; ``default`` for a label with no positive example).

    >>> tune_thresholds(np.array([[0.9, 0.2], [0.4, 0.3], [0.1, 0.35]]), np.array([[1, 0], [1, 0], [0, 1]]))
    [0.4, 0.35]
    """
    probs, y = np.asarray(probs, dtype=float), np.asarray(y_true, dtype=bool)
    out = []
    for j in range(probs.shape[1]):
        if not y[:, j].any():
            out.append(default)
            continue
        best, best_f = default, -1.0
        for t in np.unique(probs[:, j]):
            pred = probs[:, j] >= t
            tp = float((pred & y[:, j]).sum())
            f = 2 * tp / max(1.0, pred.sum() + y[:, j].sum())
            if f > best_f + 1e-12:
                best, best_f = float(t), f
        out.append(round(best, 6))
    return out


def mean_std(values) -> dict:
    """{"mean", "std", "n", "values"} of a list of numbers (std: sample standard deviation, ddof=1).

    >>> round(mean_std([0.8, 0.9])["mean"], 4), round(mean_std([0.8, 0.9])["std"], 4)
    (0.85, 0.0707)
    """
    a = np.asarray(list(values), dtype=float)
    return {
        "mean": float(a.mean()) if a.size else float("nan"),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "n": int(a.size),
        "values": a.tolist(),
    }
