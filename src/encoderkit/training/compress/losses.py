"""Loss terms of :mod:`.compress` as pure torch functions: sentence-embedding terms, token states
(TinyBERT, Jiao et al. 2020) and MiniLMv2 self-attention relations (Wang et al. 2021).
"""

from __future__ import annotations

from typing import Sequence

from ...errors import EncoderkitError

EMBEDDING_LOSSES = ("cosine", "mse", "similarity")


def parse_loss(spec: str) -> list[str]:
    """Embedding-loss terms from "cosine", "mse+similarity", ...

    >>> parse_loss("cosine+similarity")
    ['cosine', 'similarity']
    """
    terms = [t.strip() for t in spec.split("+") if t.strip()]
    if not terms or any(t not in EMBEDDING_LOSSES for t in terms):
        raise EncoderkitError(f"unknown loss '{spec}'", hint=f"use {', '.join(EMBEDDING_LOSSES)}, or several joined by '+'")
    return terms


def embedding_loss(student, teacher, terms: Sequence[str]):
    """Sum of the embedding terms between [B, d] student (already projected) and teacher vectors."""
    import torch.nn.functional as F

    total = student.new_zeros(())
    parts = {}
    for t in terms:
        if t == "cosine":
            v = (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()
        elif t == "mse":
            v = F.mse_loss(student, teacher)
        else:  # similarity: in-batch cosine matrices
            s, te = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
            v = F.mse_loss(s @ s.T, te @ te.T)
        parts[t] = float(v.detach())
        total = total + v
    return total, parts


def token_state_loss(student_states, teacher_states, mask, proj=None):
    """Mean over mapped layers of the MSE between real tokens' states (student projected if widths differ)."""
    m = mask.bool()
    losses = []
    for s, t in zip(student_states, teacher_states):
        s = s[m]
        if proj is not None:
            s = proj(s)
        losses.append(((s - t[m]) ** 2).mean())
    return sum(losses) / len(losses)


def relation_kl(student_x, teacher_x, mask, heads: int):
    """MiniLMv2 relation loss for one of Q, K, V: KL(teacher || student) between softmax(X X^T / sqrt(d))
    per relation head, over real query tokens, padding keys masked out.

    >>> import torch
    >>> x = torch.randn(2, 5, 8); m = torch.ones(2, 5, dtype=torch.long)
    >>> float(relation_kl(x, x, m, heads=2)) < 1e-6
    True
    """
    import torch

    def log_rel(x):
        b, t, d = x.shape
        x = x.view(b, t, heads, d // heads).transpose(1, 2)  # [B, R, T, d/R]
        scores = x @ x.transpose(-1, -2) / (d // heads) ** 0.5
        scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
        return torch.log_softmax(scores.float(), dim=-1)

    ls, lt = log_rel(student_x), log_rel(teacher_x)
    kl = (lt.exp() * (lt - ls)).sum(-1)  # [B, R, T]
    keep = mask.bool()[:, None, :].expand_as(kl)
    return kl[keep].mean()


class QKVCapture:
    """Forward hooks that keep the query/key/value projections of one attention layer."""

    def __init__(self, attention_self):
        self.out: dict[str, object] = {}
        self.hooks = [
            getattr(attention_self, name).register_forward_hook(lambda _m, _i, o, name=name: self.out.__setitem__(name, o))
            for name in ("query", "key", "value")
        ]

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()
