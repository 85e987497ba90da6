"""The shared backbone: a fast tokenizer plus a transformer on one runtime (torch or ONNX Runtime).

Every model head (bi-encoder pooling, cross-encoder relevance, and the heads still to come) sits on a
:class:`Backbone`: it turns texts or text pairs into model inputs (with character offsets when asked)
and runs the network, returning numpy arrays whatever the runtime. Loading never exports anything:
the ONNX runtimes need an export made beforehand (``encoderkit export onnx`` or
:func:`encoderkit.models.export.export_onnx`).

>>> from encoderkit.models.ref import resolve_model                       # doctest: +SKIP
>>> bb = Backbone.load(resolve_model("default"))                          # doctest: +SKIP
>>> feats = bb.features(["a cat", "a kitten on a mat"], max_length=16)    # doctest: +SKIP
>>> bb.forward(feats).shape                                               # doctest: +SKIP
(2, 7, 384)
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError
from ..runtime import configure_torch
from ..runtime.onnx import OnnxRunner, export_folder
from .layout import read_json, transformer_dir
from .ref import ModelRef, weights_fingerprint

RUNTIMES = ("torch", "torch-bf16", "onnx", "onnx-int8")
HEADS = {
    "base": ("encoder", "last_hidden_state"),
    "sequence-classification": ("cross-encoder", "logits"),
    "classifier": ("classifier", "logits"),  # encoderkit's own head (models.classifier): ONNX exports or a wrapped module
}


def _pad_token(tokenizer_config: dict, fallback: str = "[PAD]") -> str:
    pad = tokenizer_config.get("pad_token", fallback)
    return pad.get("content", fallback) if isinstance(pad, dict) else (pad or fallback)


class Backbone:
    """Tokenizer + transformer on a runtime. Build with :meth:`load`."""

    def __init__(self, ref: ModelRef, tokenizer, runner, *, config: dict, pad_token: str, runtime: str, head: str):
        self.ref = ref
        self.runner = runner
        self.config = config
        self.runtime = runtime
        self.head = head
        self._tokenizer = tokenizer  # tokenizers.Tokenizer; copies per max length are made for encoding
        self._pad_token = pad_token
        self._pad_id = tokenizer.token_to_id(pad_token) or 0
        self._by_length: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        ref: ModelRef,
        *,
        head: str = "base",
        runtime: str = "torch",
        trust_remote_code: bool = False,
        onnx_folder: Path | None = None,
    ) -> Backbone:
        """Load the transformer under ``ref`` for ``head`` ("base": token states; "sequence-classification":
        logits) on ``runtime`` (torch | torch-bf16 | onnx | onnx-int8)."""
        if runtime not in RUNTIMES:
            raise EncoderkitError(f"unknown backend '{runtime}'", hint=f"use one of: {', '.join(RUNTIMES)}")
        kind, output = HEADS[head]
        if runtime.startswith("onnx"):
            return cls._load_onnx(ref, head, kind, runtime, onnx_folder)
        if head == "classifier":
            raise EncoderkitError("a classifier's torch module is built by Classifier.load", hint="use Classifier.load(folder)")
        configure_torch()
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every load are noise
        tpath = transformer_dir(ref.path)
        auto = AutoModelForSequenceClassification if head == "sequence-classification" else AutoModel
        try:
            hf_tok = AutoTokenizer.from_pretrained(tpath, trust_remote_code=trust_remote_code)
            model = auto.from_pretrained(tpath, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as exc:
            raise EncoderkitError(
                f"could not load model from {tpath}: {str(exc).splitlines()[0]}",
                hint="pass a sentence-transformers or transformers model directory, 'default' or a hub id",
            ) from None
        if not getattr(hf_tok, "is_fast", False):
            raise EncoderkitError(
                f"{ref.name} has no fast tokenizer (tokenizer.json)",
                hint="save the model with a fast tokenizer (transformers' AutoTokenizer, use_fast=True)",
            )
        model.eval()
        from tokenizers import Tokenizer

        from ..runtime.torch import TorchRunner

        tok = Tokenizer.from_str(hf_tok.backend_tokenizer.to_str())
        config = model.config.to_dict()
        config["tokenizer_model_max_length"] = getattr(hf_tok, "model_max_length", None)
        pad = hf_tok.pad_token or _pad_token(read_json(tpath / "tokenizer_config.json"))
        runner = TorchRunner(model, output, bf16=runtime == "torch-bf16")
        return cls(ref, tok, runner, config=config, pad_token=pad, runtime=runtime, head=head)

    @classmethod
    def _load_onnx(cls, ref: ModelRef, head: str, kind: str, runtime: str, folder: Path | None) -> Backbone:
        quantize = "int8" if runtime == "onnx-int8" else None
        folder = Path(folder) if folder else export_folder(weights_fingerprint(ref.path), kind, quantize)
        if not (folder / "model.onnx").is_file():
            raise EncoderkitError(
                f"no ONNX export ({runtime}) of {ref.name} yet",
                hint=f"run `encoderkit export onnx --model {ref.spec}"
                f"{' --quantize int8' if quantize else ''}` first, or use the torch backend",
            )
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok_cfg = read_json(folder / "tokenizer_config.json")
        config = read_json(folder / "config.json")
        config["tokenizer_model_max_length"] = tok_cfg.get("model_max_length")
        return cls(ref, tok, OnnxRunner(folder), config=config, pad_token=_pad_token(tok_cfg), runtime=runtime, head=head)

    # ------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def pad_id(self) -> int:
        """Id of the padding token."""
        return self._pad_id

    @property
    def hidden_size(self) -> int:
        return int(self.config["hidden_size"])

    @property
    def fingerprint(self) -> str:
        """Short sha256 of the weight files: equal fingerprints, equal outputs."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.ref.path)
        return self._fingerprint

    @property
    def torch_module(self):
        """The transformers model (torch runtime only; None on ONNX Runtime)."""
        return getattr(self.runner, "module", None)

    def with_module(
        self, module, *, ref: ModelRef | None = None, fingerprint: str | None = None, head: str | None = None
    ) -> Backbone:
        """The same tokenizer on another torch module (e.g. a freshly initialised copy of the architecture,
        or a head wrapped around this backbone's transformer: ``head="classifier"``)."""
        from ..runtime.torch import TorchRunner

        head = head or self.head
        config = module.config.to_dict()
        config.setdefault("tokenizer_model_max_length", self.config.get("tokenizer_model_max_length"))
        out = Backbone(
            ref or self.ref,
            self._tokenizer,
            TorchRunner(module, HEADS[head][1]),
            config=config,
            pad_token=self._pad_token,
            runtime="torch",
            head=head,
        )
        out._fingerprint = fingerprint
        return out

    @classmethod
    def for_module(cls, ref: ModelRef, module, *, head: str, fingerprint: str | None = None) -> Backbone:
        """``ref``'s tokenizer on a torch module built elsewhere (e.g. a model being trained), without
        loading ``ref``'s weights."""
        from tokenizers import Tokenizer

        from ..runtime.torch import TorchRunner

        tpath = transformer_dir(ref.path)
        if not (tpath / "tokenizer.json").is_file():
            raise EncoderkitError(f"{ref.name} has no tokenizer.json", hint="save the model with a fast tokenizer")
        tok_cfg = read_json(tpath / "tokenizer_config.json")
        config = module.config.to_dict()
        config["tokenizer_model_max_length"] = tok_cfg.get("model_max_length")
        out = cls(
            ref,
            Tokenizer.from_file(str(tpath / "tokenizer.json")),
            TorchRunner(module, HEADS[head][1]),
            config=config,
            pad_token=_pad_token(tok_cfg),
            runtime="torch",
            head=head,
        )
        out._fingerprint = fingerprint
        return out

    # ------------------------------------------------------------------ tokenizing
    def raw_tokenizer(self):
        """A private ``tokenizers.Tokenizer`` with truncation and padding off (chunking, token counts)."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(self._tokenizer.to_str())
        tok.no_truncation()
        tok.no_padding()
        return tok

    def _tokenizer_for(self, max_length: int):
        key = (max_length,)
        with self._lock:
            tok = self._by_length.get(key)
            if tok is None:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(self._tokenizer.to_str())
                tok.enable_truncation(max_length, strategy="longest_first")
                tok.enable_padding(pad_id=self._pad_id, pad_token=self._pad_token)
                self._by_length[key] = tok
        return tok

    def features(
        self, inputs: Sequence[str] | Sequence[tuple[str, str]], max_length: int, *, offsets: bool = False
    ) -> dict[str, np.ndarray]:
        """Model inputs for texts (or (a, b) pairs), padded to the longest and truncated to ``max_length``.
        With ``offsets``, ``"offsets"`` holds [batch, tokens, 2] character offsets (0, 0 for special tokens)."""
        batch = [tuple(x) if isinstance(x, (tuple, list)) else x for x in inputs]
        enc = self._tokenizer_for(max_length).encode_batch(batch)
        feats = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        if offsets:
            feats["offsets"] = np.array([e.offsets for e in enc], dtype=np.int64).reshape(len(enc), -1, 2)
        return feats

    def forward(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """Run the network: token states [batch, tokens, hidden] ("base") or logits [batch, labels]."""
        return self.runner.run(feats)

    def __repr__(self) -> str:
        return f"Backbone({self.name!r}, head={self.head!r}, runtime={self.runtime!r})"


def describe_model(ref: ModelRef, fingerprint: str, **extra) -> dict:
    """The fields every saved-model description shares (manifests, /info, model cards)."""
    return {
        "spec": ref.spec,
        "name": ref.name,
        "path": str(ref.path),
        "revision": ref.revision,
        "source": ref.source,
        "fingerprint": fingerprint,
        **extra,
    }


def config_json(path: Path) -> dict:
    return json.loads((transformer_dir(path) / "config.json").read_text())
