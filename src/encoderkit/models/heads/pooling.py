"""Pooling: turn per-token vectors into one vector per text. Pure functions on torch tensors.

Every function takes ``token_embeddings`` [batch, tokens, dim] and ``attention_mask`` [batch, tokens]
(1 for real tokens, 0 for padding; right padding) and returns [batch, dim].

References: Sentence-BERT (Reimers & Gurevych, 2019) compares CLS, mean and max pooling and finds mean
best; position-weighted mean is from SGPT (Muennighoff, 2022); last-token pooling is for decoder models.

>>> import torch
>>> x = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]])
>>> m = torch.tensor([[1, 1, 0]])
>>> mean_pool(x, m).tolist()
[[2.0, 1.0]]
>>> cls_pool(x, m).tolist(), max_pool(x, m).tolist(), last_pool(x, m).tolist()
([[1.0, 0.0]], [[3.0, 2.0]], [[3.0, 2.0]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions that need it: the ONNX path runs without it
    import torch

POOLINGS = ("mean", "cls", "max", "weighted_mean", "last")


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real tokens' vectors (padding excluded). The Sentence-BERT default."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    summed = (token_embeddings * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def cls_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The first token's vector ([CLS] in BERT-style models)."""
    return token_embeddings[:, 0]


def max_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over the real tokens."""
    import torch

    mask = attention_mask.unsqueeze(-1).bool()
    filled = token_embeddings.masked_fill(~mask, torch.finfo(token_embeddings.dtype).min)
    return filled.max(dim=1).values


def weighted_mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Position-weighted mean: token i (1-based) gets weight i, so later tokens count more (SGPT)."""
    import torch

    positions = torch.arange(1, token_embeddings.shape[1] + 1, device=token_embeddings.device)
    weights = (positions.unsqueeze(0) * attention_mask).unsqueeze(-1).to(token_embeddings.dtype)
    return (token_embeddings * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def last_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The last real token's vector (for right-padded batches)."""
    import torch

    last = attention_mask.sum(dim=1).long().clamp(min=1) - 1
    return token_embeddings[torch.arange(token_embeddings.shape[0]), last]


_POOLERS = {
    "mean": mean_pool,
    "cls": cls_pool,
    "max": max_pool,
    "weighted_mean": weighted_mean_pool,
    "last": last_pool,
}


def pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """Dispatch to one pooling function by name (one of ``POOLINGS``)."""
    try:
        fn = _POOLERS[how]
    except KeyError:
        from ...errors import EncoderkitError

        raise EncoderkitError(f"unknown pooling '{how}'", hint=f"use one of: {', '.join(POOLINGS)}") from None
    return fn(token_embeddings, attention_mask)


def pool_numpy(token_embeddings, attention_mask, how: str):
    """The same poolings on numpy arrays (used by the ONNX Runtime backend, which runs without torch).

    >>> import numpy as np
    >>> pool_numpy(np.array([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]]), np.array([[1, 1, 0]]), "mean").tolist()
    [[2.0, 1.0]]
    """
    import numpy as np

    m = attention_mask.astype(token_embeddings.dtype)[..., None]
    if how == "mean":
        return (token_embeddings * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    if how == "cls":
        return token_embeddings[:, 0]
    if how == "max":
        return np.where(m > 0, token_embeddings, np.finfo(token_embeddings.dtype).min).max(1)
    if how == "weighted_mean":
        w = np.arange(1, token_embeddings.shape[1] + 1, dtype=token_embeddings.dtype)[None, :, None] * m
        return (token_embeddings * w).sum(1) / np.clip(w.sum(1), 1e-9, None)
    if how == "last":
        last = np.clip(attention_mask.sum(1).astype(int), 1, None) - 1
        return token_embeddings[np.arange(token_embeddings.shape[0]), last]
    from ...errors import EncoderkitError

    raise EncoderkitError(f"unknown pooling '{how}'", hint=f"use one of: {', '.join(POOLINGS)}")
