"""Objectives of classifier training on the one loop (:mod:`.loop`):

- :class:`ClassifyObjective`: cross-entropy (single-label) or binary cross-entropy per label
  (multi-label) on a :class:`~encoderkit.models.heads.torch_modules.ClassifierModule`; optional class
  weights, label smoothing, dropout on the pooled embedding; the head is its own parameter group (a
  higher learning rate than the encoder); validation on dev data for model selection and early
  stopping. With ``lora`` the encoder is wrapped in LoRA adapters (Hu et al. 2021, via peft): only the
  adapters and the head train, and exports merge the adapters into plain weights.
- :class:`PairObjective`: SetFit's contrastive phase (Tunstall et al. 2022, "Efficient Few-Shot
  Learning Without Prompts"): pairs of examples with the same label are pulled to cosine 1, pairs
  with different labels pushed to cosine 0 (mean squared error on the cosine, SetFit's default
  CosineSimilarityLoss, written here on our module in three lines).

>>> setfit_pairs([("a",), ("a",), ("b",)], iterations=1, seed=0)
[(0, 1, 1.0), (0, 2, 0.0), (1, 0, 1.0), (1, 2, 0.0), (2, 2, 1.0), (2, 1, 0.0)]
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..batching import length_batches
from ..loop import split_by_name

HEAD = ("head.",)


def class_weights(targets: np.ndarray, k: int, mode: str, multi_label: bool) -> np.ndarray | None:
    """Loss weights for imbalanced data. ``balanced``: n / (k * count) per class (multi-label: the
    positive weight n_neg / n_pos per label, capped at 100); ``auto``: balanced when the largest class is
    at least 3x the smallest; ``none``: no weights.

    >>> [round(float(x), 3) for x in class_weights(np.array([0, 0, 0, 1]), 2, "balanced", False)]
    [0.667, 2.0]
    >>> class_weights(np.array([0, 1]), 2, "auto", False) is None
    True
    """
    if mode == "none":
        return None
    if multi_label:
        pos = np.asarray(targets).sum(0).astype(float)
        neg = len(targets) - pos
        ratio = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
        if mode == "auto" and ratio.max() < 3:
            return None
        return np.clip(ratio, 1.0, 100.0).astype(np.float32)
    counts = np.bincount(np.asarray(targets, dtype=int), minlength=k).astype(float)
    present = counts[counts > 0]
    if mode == "auto" and present.max() < 3 * present.min():
        return None
    w = np.where(counts > 0, len(targets) / (k * np.maximum(counts, 1)), 0.0)
    return w.astype(np.float32)


def setfit_pairs(labels: Sequence[tuple[str, ...]], iterations: int, seed: int) -> list[tuple[int, int, float]]:
    """SetFit's pair generation: per iteration and example, one positive pair (an example sharing a
    label; another one when the class has several) and one negative pair (no shared label)."""
    rng = random.Random(seed)
    n = len(labels)
    sets = [set(lab) for lab in labels]
    pairs: list[tuple[int, int, float]] = []
    for _ in range(iterations):
        for i in range(n):
            same = [j for j in range(n) if j != i and sets[i] & sets[j]] or [i]
            other = [j for j in range(n) if not sets[i] & sets[j]]
            pairs.append((i, rng.choice(same), 1.0))
            if other:
                pairs.append((i, rng.choice(other), 0.0))
    return pairs


def wrap_lora(body, rank: int, alpha: float | None = None, dropout: float = 0.1):
    """The body with LoRA adapters on every linear layer of the transformer (the pooler, unused by our
    head, is left out); returns (peft model, settings)."""
    import torch

    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:  # pragma: no cover - peft is a declared extra
        from ...errors import EncoderkitError

        raise EncoderkitError("--lora needs peft", hint="pip install 'encoderkit[lora]' (peft)") from None
    targets = [n for n, m in body.named_modules() if isinstance(m, torch.nn.Linear) and "pooler" not in n]
    settings = {"r": int(rank), "lora_alpha": float(alpha or 2 * rank), "lora_dropout": dropout, "target_modules": len(targets)}
    cfg = LoraConfig(r=int(rank), lora_alpha=settings["lora_alpha"], lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(body, cfg), settings


def count_params(module) -> dict:
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {"total": int(total), "trainable": int(trainable), "trainable_share": round(trainable / max(1, total), 6)}


class ClassifyObjective:
    """Supervised classification. ``targets``: label indices [n] or a 0/1 matrix [n, k] (multi-label);
    ``features(texts)`` tokenizes a batch (numpy inputs); ``validator()`` returns dev metrics;
    ``exporter(folder)`` saves the model."""

    name = "classify"

    def __init__(
        self,
        module,
        features: Callable[[list[str]], dict],
        texts: list[str],
        targets: np.ndarray,
        *,
        multi_label: bool,
        weights: np.ndarray | None = None,
        label_smoothing: float = 0.0,
        validator: Callable[[], dict] | None = None,
        metric: str = "accuracy",
        exporter: Callable[[Path], None] | None = None,
    ):
        self.module = module
        self.features = features
        self.texts = texts
        self.targets = targets
        self.multi_label = multi_label
        self.weights = weights
        self.label_smoothing = label_smoothing
        self.validator = validator
        self.metric = metric if validator is not None else None
        self.exporter = exporter
        self.n_examples = len(texts)
        self.lengths = [len(t) for t in texts]

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), HEAD)

    def batches(self, epoch: int, batch_size: int, seed: int) -> list[list[int]]:
        return length_batches(self.lengths, batch_size, seed, epoch)

    def loss(self, batch: list[int], epoch: int):
        import torch
        import torch.nn.functional as F

        feats = {k: torch.as_tensor(v) for k, v in self.features([self.texts[i] for i in batch]).items()}
        logits = self.module(**feats).logits.float()
        w = torch.as_tensor(self.weights) if self.weights is not None else None
        if self.multi_label:
            y = torch.as_tensor(self.targets[batch].astype(np.float32))
            loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=w)
        else:
            y = torch.as_tensor(self.targets[batch].astype(np.int64))
            loss = F.cross_entropy(logits, y, weight=w, label_smoothing=self.label_smoothing)
        return loss, {"examples": len(batch)}

    def evaluate(self) -> dict:
        return self.validator() if self.validator is not None else {}

    def export(self, folder: Path) -> None:
        if self.exporter is not None:
            self.exporter(folder)


class PairObjective:
    """SetFit's contrastive phase on the body of a :class:`ClassifierModule`: ``pairs`` are (i, j, target
    cosine) over ``texts``. Nothing is exported by the loop: the head is fitted afterwards."""

    name = "setfit"
    metric = None

    def __init__(self, module, features: Callable[[list[str]], dict], texts: list[str], pairs: list[tuple[int, int, float]]):
        self.module = module
        self.features = features
        self.texts = texts
        self.pairs = pairs
        self.n_examples = len(pairs)

    def named_groups(self) -> dict:
        return {"head": [], "encoder": [(n, p) for n, p in self.module.named_parameters() if not n.startswith("head.")]}

    def _embed(self, idx: list[int]):
        import torch
        import torch.nn.functional as F

        feats = {k: torch.as_tensor(v) for k, v in self.features([self.texts[i] for i in idx]).items()}
        return F.normalize(self.module.embed(**feats).float(), dim=-1)

    def loss(self, batch: list[int], epoch: int):
        import torch

        a = self._embed([self.pairs[i][0] for i in batch])
        b = self._embed([self.pairs[i][1] for i in batch])
        target = torch.tensor([self.pairs[i][2] for i in batch], dtype=torch.float32)
        return torch.nn.functional.mse_loss((a * b).sum(-1), target), {"pairs": len(batch)}

    def export(self, folder: Path) -> None:  # the head is fitted after the contrastive phase
        return None
