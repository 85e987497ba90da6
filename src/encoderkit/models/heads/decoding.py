"""Decoding tag sequences from per-word scores (numpy only, so ONNX serving needs no torch).

* :func:`argmax_decode`: the best tag per word, then :func:`encoderkit.data.corpora.conll.repair` (an I-X that
  does not continue an X starts one, conlleval's reading); confidence = the tag's softmax probability.
* :func:`viterbi`: the best *sequence* under a linear-chain CRF (Lafferty et al., 2001) with learned
  transition scores, restricted to valid IOB2 sequences (no O -> I-X, no B-X -> I-Y); confidence = the
  tag's posterior marginal from the forward-backward algorithm (:func:`crf_marginals`).

Written here because pytorch-crf decodes on torch tensors only and has no BIO constraints or marginals.

>>> labels = ["O", "B-PER", "I-PER"]
>>> allowed = bio_allowed(labels)
>>> allowed[0].tolist(), start_allowed(labels).tolist()
([True, True, False], [True, True, False])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NEG = -1e4  # log-score of a forbidden transition (finite: keeps the forward-backward sums stable)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _split(label: str) -> tuple[str, str]:
    return ("O", "") if label == "O" else (label[0], label[2:])


def bio_allowed(labels: Sequence[str]) -> np.ndarray:
    """[L, L] boolean matrix: may tag ``j`` follow tag ``i`` in IOB2 (I-X only after B-X or I-X)."""
    parts = [_split(x) for x in labels]
    out = np.ones((len(labels), len(labels)), dtype=bool)
    for j, (pj, tj) in enumerate(parts):
        if pj == "I":
            for i, (pi, ti) in enumerate(parts):
                out[i, j] = pi in "BI" and ti == tj and pi != "O"
    return out


def start_allowed(labels: Sequence[str]) -> np.ndarray:
    """[L] boolean: may a sequence start with this tag (not with I-X)."""
    return np.array([_split(x)[0] != "I" for x in labels])


def argmax_decode(emissions: np.ndarray, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(repaired tags, confidence per word) from [n, L] emission scores.

    >>> tags, conf = argmax_decode(np.array([[0.0, 0.0, 5.0], [5.0, 0.0, 0.0]]), ["O", "B-PER", "I-PER"])
    >>> tags, round(float(conf[0]), 3)
    (['B-PER', 'O'], 0.987)
    """
    from ...data.corpora.conll import repair

    if len(emissions) == 0:
        return [], np.zeros(0, dtype=np.float32)
    probs = softmax(emissions.astype(np.float64))
    best = probs.argmax(-1)
    tags = repair([labels[i] for i in best])
    return tags, probs[np.arange(len(best)), best].astype(np.float32)


def constrained_scores(
    transitions: np.ndarray, start: np.ndarray, end: np.ndarray, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CRF transition/start/end scores with forbidden IOB2 moves set to :data:`NEG`."""
    trans = np.where(bio_allowed(labels), transitions, NEG)
    st = np.where(start_allowed(labels), start, NEG)
    return trans.astype(np.float64), st.astype(np.float64), np.asarray(end, dtype=np.float64)


def viterbi(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[int]:
    """The highest-scoring label path of a linear-chain CRF.

    >>> e = np.array([[0.0, 1.0], [0.0, 1.0]]); t = np.array([[0.0, 0.0], [0.0, -5.0]])
    >>> viterbi(e, t, np.zeros(2), np.zeros(2))
    [1, 0]
    """
    n, n_labels = emissions.shape
    if n == 0:
        return []
    score = start + emissions[0]
    back = np.zeros((n, n_labels), dtype=np.int64)
    for i in range(1, n):
        cand = score[:, None] + transitions  # [prev, cur]
        back[i] = cand.argmax(0)
        score = cand.max(0) + emissions[i]
    score = score + end
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def crf_marginals(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """[n, L] posterior probability of each label at each position (forward-backward in log space).

    >>> m = crf_marginals(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(2), np.zeros(2))
    >>> np.allclose(m, 0.5)
    True
    """
    n, n_labels = emissions.shape
    if n == 0:
        return np.zeros((0, n_labels))
    alpha = np.zeros((n, n_labels))
    beta = np.zeros((n, n_labels))
    alpha[0] = start + emissions[0]
    for i in range(1, n):
        alpha[i] = _logsumexp(alpha[i - 1][:, None] + transitions, 0) + emissions[i]
    beta[-1] = end
    for i in range(n - 2, -1, -1):
        beta[i] = _logsumexp(transitions + (emissions[i + 1] + beta[i + 1])[None, :], 1)
    log_z = _logsumexp(alpha[-1] + end, 0)
    return np.exp(alpha + beta - log_z)


def crf_decode(emissions: np.ndarray, crf: dict, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(tags, confidence per word) under a CRF (``crf``: transitions, start, end arrays) with IOB2
    constraints; confidence = the marginal probability of the chosen tag."""
    if len(emissions) == 0:
        return [], np.zeros(0, dtype=np.float32)
    trans, st, en = constrained_scores(crf["transitions"], crf["start"], crf["end"], labels)
    em = emissions.astype(np.float64)
    path = viterbi(em, trans, st, en)
    marg = crf_marginals(em, trans, st, en)
    return [labels[i] for i in path], marg[np.arange(len(path)), path].astype(np.float32)
