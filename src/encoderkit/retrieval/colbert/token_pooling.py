"""Token pooling: store fewer vectors per document by merging similar ones (Clavié, Chaffin & Adams,
"Reducing the Footprint of Multi-Vector Retrieval with Minimal Performance Impact via Token Pooling",
2024). A document's token vectors are clustered hierarchically (Ward linkage, scipy) into
``ceil(n / factor)`` groups; each group is replaced by its mean, renormalised. The first ``protected``
vectors (the ``[CLS]`` token) are kept as they are. Deterministic: the same vectors always pool the same.

>>> v = np.array([[1, 0, 0], [0, 1, 0], [0, 0.99, 0.14], [0, 0, 1], [0.1, 0, 0.99]], np.float32)
>>> pool_tokens(v, 2).shape
(3, 3)
>>> pool_tokens(v, 1).shape
(5, 3)
"""

from __future__ import annotations

import math

import numpy as np


def pool_tokens(vectors: np.ndarray, factor: int, protected: int = 1) -> np.ndarray:
    """Pool a document's token vectors [n, dim] by ``factor`` (1: unchanged)."""
    vectors = np.asarray(vectors, np.float32)
    rest = vectors[protected:]
    if factor <= 1 or len(rest) <= 2:
        return vectors
    from scipy.cluster.hierarchy import fcluster, linkage

    k = max(1, math.ceil(len(rest) / factor))
    labels = fcluster(linkage(rest.astype(np.float64), method="ward"), t=k, criterion="maxclust") - 1
    pooled = np.zeros((int(labels.max()) + 1, vectors.shape[1]), np.float64)
    np.add.at(pooled, labels, rest)
    pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return np.concatenate([vectors[:protected], pooled.astype(np.float32)])
