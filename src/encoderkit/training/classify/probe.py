"""The linear probe: logistic regression on frozen sentence embeddings, its inverse regularisation C
chosen on dev data (scikit-learn's ``LogisticRegression``, lbfgs; one binary model per label for
multi-label data). The fitted coefficients become the classifier's linear head, so a probe is a
complete classifier and the starting head of a fine-tune (linear probing then fine-tuning, LP-FT:
Kumar et al. 2022). Probing frozen representations with a linear classifier: Alain & Bengio 2016;
SentEval (Conneau & Kiela 2018) tunes C the same way.

>>> import numpy as np
>>> w, b = binary_to_softmax(np.array([[2.0, -1.0]]), np.array([0.5]))
>>> w.tolist(), b.tolist()
([[-1.0, 0.5], [1.0, -0.5]], [-0.25, 0.25])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ...evaluation.classification import multi_label_metrics, single_label_metrics

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
MISSING_BIAS = -30.0  # a label without training examples is never predicted


@dataclass
class ProbeFit:
    """The chosen head (``weight`` [labels, dim], ``bias`` [labels]), its C and every C's dev score."""

    weight: np.ndarray
    bias: np.ndarray
    C: float
    metric: str
    scores: dict = field(default_factory=dict)  # C -> dev metric
    fit_seconds: float = 0.0


def binary_to_softmax(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A binary logistic model (one logit z for the second class) as a two-row softmax head with
    logits (-z/2, z/2): softmax gives exactly sigmoid(z) for the second class."""
    w, b = np.asarray(coef, dtype=np.float32).reshape(1, -1), np.asarray(intercept, dtype=np.float32).reshape(1)
    return np.concatenate([-w / 2, w / 2]), np.concatenate([-b / 2, b / 2])


def logistic_regression(C: float, class_weight=None, seed: int = 0, warm_start: bool = False):
    """scikit-learn's LogisticRegression as every probe and few-shot head here uses it."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=1000, class_weight=class_weight, random_state=seed, warm_start=warm_start)


def single_head(model, k: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted single-label LogisticRegression as a [k, dim] head over all ``k`` labels (label indices
    as classes; a label it never saw gets a bias that keeps it from being predicted)."""
    classes = [int(c) for c in model.classes_]
    if len(classes) == 2 and model.coef_.shape[0] == 1:
        w2, b2 = binary_to_softmax(model.coef_, model.intercept_)
        coef, inter = w2, b2
    else:
        coef, inter = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    w = np.zeros((k, dim), dtype=np.float32)
    b = np.full(k, MISSING_BIAS, dtype=np.float32)
    for row, c in enumerate(classes):
        w[c], b[c] = coef[row], inter[row]
    return w, b


def _multi_head(X: np.ndarray, Y: np.ndarray, C: float, class_weight, seed: int, models: dict) -> tuple[np.ndarray, np.ndarray]:
    """One binary model per label (``models`` keeps them between calls: warm starts along the C grid)."""
    k, dim = Y.shape[1], X.shape[1]
    w = np.zeros((k, dim), dtype=np.float32)
    b = np.zeros(k, dtype=np.float32)
    for j in range(k):
        col = Y[:, j].astype(int)
        if col.min() == col.max():  # a label always (never) present: a constant logit
            b[j] = -MISSING_BIAS if col[0] else MISSING_BIAS
            continue
        m = models.setdefault(j, logistic_regression(C, class_weight, seed, warm_start=True))
        m.set_params(C=C).fit(X, col)
        w[j], b[j] = m.coef_[0], m.intercept_[0]
    return w, b


def logits_of(X: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return (np.asarray(X, dtype=np.float32) @ weight.T + bias).astype(np.float32)


def dev_metric(logits: np.ndarray, y, multi_label: bool, metric: str) -> float:
    """The selection metric of dev logits (multi-label: decisions at probability 0.5, i.e. logit 0)."""
    if multi_label:
        return float(multi_label_metrics(y, logits >= 0)[metric])
    return float(single_label_metrics(y, logits.argmax(1), logits.shape[1])[metric])


def fit_probe(
    X: np.ndarray,
    y,
    X_dev: np.ndarray | None,
    y_dev,
    *,
    k: int,
    multi_label: bool,
    metric: str = "accuracy",
    Cs=C_GRID,
    class_weight=None,
    seed: int = 0,
    show_progress: bool | None = False,
) -> ProbeFit:
    """Fit one logistic regression per C on (X, y), in increasing C, each warm-started from the previous
    solution; keep the best on (X_dev, y_dev) by ``metric`` (ties: the smaller C). Without dev data,
    the smallest C only. ``y``: label indices (single-label) or a 0/1 matrix [n, k] (multi-label).
    ``show_progress``: a bar over the C values, with each one's dev score."""
    import time

    from ...runtime.threads import progress_enabled

    t0 = time.perf_counter()
    Cs = sorted(Cs) if X_dev is not None and len(X_dev) else [min(Cs)]
    best: ProbeFit | None = None
    scores: dict = {}
    single = logistic_regression(Cs[0], class_weight, seed, warm_start=True)
    per_label: dict = {}
    bar = None
    if progress_enabled(show_progress) and len(Cs) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(Cs), desc="choosing C on dev", unit="C")
    for C in Cs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes at large C: the dev score judges the fit
            if multi_label:
                w, b = _multi_head(X, np.asarray(y), C, class_weight, seed, per_label)
            else:
                w, b = single_head(single.set_params(C=C).fit(X, np.asarray(y)), k, X.shape[1])
        score = dev_metric(logits_of(X_dev, w, b), y_dev, multi_label, metric) if len(Cs) > 1 else float("nan")
        scores[str(C)] = score
        if best is None or score > best.scores[str(best.C)] + 1e-12:
            best = ProbeFit(w, b, float(C), metric, scores)
        if bar is not None:
            bar.set_postfix_str(f"C={C:g} dev {metric} {score:.4f}, best C={best.C:g}")
            bar.update(1)
    if bar is not None:
        bar.close()
    best.scores = scores
    best.fit_seconds = round(time.perf_counter() - t0, 2)
    return best
