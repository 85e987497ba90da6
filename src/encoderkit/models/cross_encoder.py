"""Cross-encoder reranking: query and passage read together, one relevance score per pair.

Loads any cross-encoder in sentence-transformers / transformers format (a sequence-classification
model with one output) through ``transformers.AutoModelForSequenceClassification``: models trained
with ``encoderkit train rerank`` and published ones such as ``cross-encoder/ms-marco-MiniLM-L6-v2``
alike. Scores are the model's logit passed through its configured activation (sigmoid by default
for one-output models, as sentence-transformers does); ranking is unaffected by it.

>>> rr = Reranker.load("runs/scifact-reranker")                                  # doctest: +SKIP
>>> rr.score("vitamin D lowers fracture risk", ["passage one", "passage two"])   # doctest: +SKIP
array([0.91, 0.07], dtype=float32)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError
from .ref import ModelRef, resolve_model, weights_fingerprint
from ..runtime import configure_torch


def _activation(path: Path) -> str:
    cfg = path / "config_sentence_transformers.json"
    if cfg.is_file():
        name = json.loads(cfg.read_text()).get("activation_fn") or ""
        if name.endswith("Identity"):
            return "identity"
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    st = config.get("sentence_transformers") or {}
    if str(st.get("activation_fn", "")).endswith("Identity"):
        return "identity"
    return "sigmoid"


class Reranker:
    """A loaded cross-encoder. Build with :meth:`load`; call :meth:`score` or :meth:`rerank`."""

    def __init__(self, model, tokenizer, ref: ModelRef, *, max_length: int, activation: str = "sigmoid",
                 onnx=None, backend: str = "torch"):
        self.model = model
        self.tokenizer = tokenizer
        self.ref = ref
        self.max_length = max_length
        self.activation = activation
        self._onnx = onnx
        self.backend = backend
        self._fingerprint: str | None = None

    @classmethod
    def load(cls, spec: str | Path, *, max_length: int | None = None, trust_remote_code: bool = False,
             backend: str = "torch") -> "Reranker":
        """Load a cross-encoder from a local folder or a hub id (one relevance output).
        ``backend``: torch | onnx | onnx-int8 (ONNX Runtime; exported on first use)."""
        ref = resolve_model(spec)
        if backend in ("onnx", "onnx-int8"):
            return cls._load_onnx(ref, max_length, quantize="int8" if backend == "onnx-int8" else None)
        if backend != "torch":
            raise EncoderkitError(f"unknown backend '{backend}'", hint="use torch, onnx or onnx-int8")
        configure_torch()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(ref.path, trust_remote_code=trust_remote_code)
            model = AutoModelForSequenceClassification.from_pretrained(ref.path, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as exc:
            raise EncoderkitError(f"could not load cross-encoder from {ref.path}: {str(exc).splitlines()[0]}",
                                  hint="pass a folder saved by `encoderkit train rerank` or a cross-encoder hub id") from None
        if model.config.num_labels != 1:
            raise EncoderkitError(f"{ref.name} has {model.config.num_labels} outputs, a reranker needs 1",
                                  hint="pass a relevance cross-encoder (one output per pair)")
        model.eval()
        if max_length is None:
            sb = ref.path / "sentence_bert_config.json"
            max_length = (json.loads(sb.read_text()).get("max_seq_length") if sb.is_file() else None) or \
                min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
        return cls(model, tokenizer, ref, max_length=int(max_length), activation=_activation(ref.path))

    @classmethod
    def _load_onnx(cls, ref: ModelRef, max_length: int | None, quantize: str | None) -> "Reranker":
        from .export import OnnxRunner, export_dir, export_onnx

        _, folder, _ = export_dir(ref.path, "cross-encoder", quantize)
        if not (folder / "model.onnx").is_file():
            folder = export_onnx(ref.path, kind="cross-encoder", quantize=quantize)
        if max_length is None:
            sb = ref.path / "sentence_bert_config.json"
            max_length = (json.loads(sb.read_text()).get("max_seq_length") if sb.is_file() else None) or 512
        return cls(None, None, ref, max_length=int(max_length), activation=_activation(ref.path),
                   onnx=OnnxRunner(folder), backend="onnx-int8" if quantize else "onnx")

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.ref.path)
        return self._fingerprint

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.ref.path), "fingerprint": self.fingerprint,
                "max_length": self.max_length, "activation": self.activation, "backend": self.backend}

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
        if self._onnx is not None:
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                logits = self._onnx.run_pairs([pairs[j] for j in idx], self.max_length)[:, 0].astype(np.float32)
                out[idx] = 1 / (1 + np.exp(-logits)) if self.activation == "sigmoid" and not raw else logits
            return out
        import torch

        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            feats = self.tokenizer([pairs[j][0] for j in idx], [pairs[j][1] for j in idx], padding=True,
                                   truncation="longest_first", max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                logits = self.model(**feats).logits[:, 0].float()
            if self.activation == "sigmoid" and not raw:
                logits = torch.sigmoid(logits)
            out[idx] = logits.numpy()
        return out

    def __repr__(self) -> str:
        return f"Reranker({self.name!r}, max_length={self.max_length})"
