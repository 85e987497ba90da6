"""Cross-encoder reranking: query and passage read together, one relevance score per pair (a
one-output sequence-classification head on the backbone).

Loads any cross-encoder in sentence-transformers / transformers format: models trained with
``encoderkit train rerank`` and published ones such as ``cross-encoder/ms-marco-MiniLM-L6-v2``
alike. Scores are the model's logit passed through its configured activation (sigmoid by default
for one-output models, as sentence-transformers does); ranking is unaffected by it.

>>> rr = Reranker.load("runs/scifact-reranker")                                  # doctest: +SKIP
>>> rr.score("vitamin D lowers fracture risk", ["passage one", "passage two"])   # doctest: +SKIP
array([0.91, 0.07], dtype=float32)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from ..backbone import HEADS, RUNTIMES, Backbone, describe_model
from ..layout import activation_of, read_json, transformer_dir
from ..ref import ModelRef, resolve_model

HEAD = HEADS["sequence-classification"]


class Reranker:
    """A loaded cross-encoder. Build with :meth:`load`; call :meth:`score`."""

    kind = "cross-encoder"

    def __init__(self, backbone: Backbone, ref: ModelRef, *, max_length: int, activation: str = "sigmoid"):
        self.backbone = backbone
        self.ref = ref
        self.max_length = max_length
        self.activation = activation

    @classmethod
    def load(
        cls,
        spec: str | Path,
        *,
        max_length: int | None = None,
        trust_remote_code: bool = False,
        backend: str = "torch",
        device: str | None = None,
    ) -> Reranker:
        """Load a cross-encoder from a local folder or a hub id (one relevance output).
        ``backend``: torch | onnx | onnx-int8 (ONNX Runtime; needs `encoderkit export onnx` first)."""
        if backend not in RUNTIMES:
            raise EncoderkitError(f"unknown backend '{backend}'", hint=f"use one of: {', '.join(RUNTIMES)}")
        ref = resolve_model(spec)
        if (ref.path / "colbert_config.json").is_file():
            raise EncoderkitError(
                f"{ref.name} is a ColBERT model, not a cross-encoder",
                hint="load it with encoderkit.models.load_reranker (or ColBERT.load); `--rerank DIR` accepts both",
            )
        labels = read_json(transformer_dir(ref.path) / "config.json").get("id2label") or {}
        backbone = Backbone.load(
            ref, head="sequence-classification", runtime=backend, trust_remote_code=trust_remote_code, device=device
        )
        n_out = len(backbone.config.get("id2label") or labels or {"0": 0})
        if n_out != 1:
            raise EncoderkitError(
                f"{ref.name} has {n_out} outputs, a reranker needs 1", hint="pass a relevance cross-encoder (one output per pair)"
            )
        if max_length is None:
            max_length = read_json(ref.path / "sentence_bert_config.json").get("max_seq_length") or min(
                backbone.config.get("tokenizer_model_max_length") or 512, 512
            )
        return cls(backbone, ref, max_length=int(max_length), activation=activation_of(ref.path))

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def backend(self) -> str:
        return self.backbone.runtime

    @property
    def fingerprint(self) -> str:
        return self.backbone.fingerprint

    def describe(self) -> dict:
        return describe_model(
            self.ref,
            self.fingerprint,
            kind=self.kind,
            max_length=self.max_length,
            activation=self.activation,
            backend=self.backend,
        )

    def score(self, query: str, passages: Sequence[str], *, batch_size: int = 16) -> np.ndarray:
        """Relevance of each passage to ``query`` (float32, higher is more relevant)."""
        return self.score_pairs([(query, p) for p in passages], batch_size=batch_size)

    def score_pairs(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 16, raw: bool = False) -> np.ndarray:
        """Scores for (query, passage) pairs; pairs are length-sorted into batches, returned in order.
        ``raw``: the logits, without the activation (what distillation regresses)."""
        out = np.zeros(len(pairs), dtype=np.float32)
        if not pairs:
            return out
        order = np.argsort([-(len(q) + len(p)) for q, p in pairs], kind="stable")
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            feats = self.backbone.features([pairs[j] for j in idx], self.max_length)
            logits = self.backbone.forward(feats)[:, 0].astype(np.float32)
            out[idx] = 1 / (1 + np.exp(-logits)) if self.activation == "sigmoid" and not raw else logits
        return out

    def __repr__(self) -> str:
        return f"Reranker({self.name!r}, max_length={self.max_length})"


CrossEncoder = Reranker
