"""Helpers for the ColBERT tests: a tiny random ColBERT model (the 2-layer test BERT + a 16-dim
projection; the ``tiny_colbert_dir`` / ``tiny_colbert`` fixtures in conftest use it) and clustered
random token vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_tiny_colbert(directory: Path, base: Path, *, dim: int = 16, seed: int = 0, **config) -> Path:
    from transformers import AutoModel

    from encoderkit.models.heads.colbert import ColBERTConfig, save_colbert

    bert = AutoModel.from_pretrained(base)
    projection = np.random.default_rng(seed).normal(size=(dim, bert.config.hidden_size)).astype(np.float32)
    return save_colbert(
        directory, transformer=bert, tokenizer_dir=base, projection=projection, config=ColBERTConfig(dim=dim, **config)
    )


def clustered_docs(n_docs: int = 60, dim: int = 16, seed: int = 0, topics: int = 8) -> list[np.ndarray]:
    """Random unit token vectors around a few topic directions (so centroids and PLAID have structure)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(topics * 4, dim))
    docs = []
    for _ in range(n_docs):
        n = int(rng.integers(3, 30))
        base = centers[rng.integers(0, len(centers), n)]
        v = base + 0.35 * rng.normal(size=(n, dim))
        docs.append((v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32))
    return docs
