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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import EncoderkitError
from ..runtime import configure_torch
from ..runtime.onnx import OnnxRunner, export_folder
from .card import check_finished
from .layout import read_json, transformer_dir
from .ref import ModelRef, weights_fingerprint

RUNTIMES = ("torch", "torch-bf16", "onnx", "onnx-int8")


@dataclass(frozen=True)
class Head:
    """What sits on the transformer for one model kind, as far as loading and running it goes.

    ``kind`` names the model's ONNX export in the cache; ``output`` is the attribute of the module's
    output to return (None: the module returns the tensor itself); ``auto`` is the transformers auto class
    of the body; ``build(body, folder)`` wraps a loaded body in the trained head's torch module (heads
    saved by encoderkit: classifier, tagger, span-pair); ``fingerprint(folder)`` names the export (the
    weights' by default). Each head module declares its own :class:`Head`, so the backbone imports none.
    """

    kind: str
    output: str | None = "last_hidden_state"
    auto: str = "AutoModel"
    build: Callable | None = None
    fingerprint: Callable[[Path], str] | None = None

    def fingerprint_of(self, path: Path) -> str:
        return self.fingerprint(path) if self.fingerprint is not None else weights_fingerprint(path)


HEADS = {
    "base": Head("encoder"),
    "colbert": Head("colbert"),
    "sequence-classification": Head("cross-encoder", "logits", auto="AutoModelForSequenceClassification"),
}


def _head(head: str | Head) -> Head:
    if isinstance(head, Head):
        return head
    if head not in HEADS:
        raise EncoderkitError(f"unknown head '{head}'", hint=f"use one of: {', '.join(HEADS)}, or a Head")
    return HEADS[head]


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
        head: str | Head = "base",
        runtime: str = "torch",
        trust_remote_code: bool = False,
        onnx_folder: Path | None = None,
        eager: bool = False,
        device: str | None = None,
    ) -> Backbone:
        """The one loader of every model kind: the tokenizer and transformer under ``ref`` with ``head``
        on it ("base": token states; "sequence-classification": logits; or a head module's
        :class:`Head`), on ``runtime`` (torch | torch-bf16 | onnx | onnx-int8). ``eager``: eager attention
        (what the ONNX exporter traces, so ONNX Runtime can fuse attention). ``device``: auto | cpu | cuda |
        cuda:N (None: the process default, :mod:`encoderkit.runtime.devices`); on a GPU the ONNX runtimes
        become torch (ONNX Runtime's CUDA provider is not part of this stack), ``onnx-int8`` as torch-bf16."""
        from ..runtime.devices import is_cuda, runtime_device

        if runtime not in RUNTIMES:
            raise EncoderkitError(f"unknown backend '{runtime}'", hint=f"use one of: {', '.join(RUNTIMES)}")
        device = runtime_device(runtime.startswith("onnx"), device)
        if is_cuda(device) and runtime.startswith("onnx"):
            runtime = "torch-bf16" if runtime == "onnx-int8" else "torch"
        spec = _head(head)
        name = head if isinstance(head, str) else spec.kind
        check_finished(ref.path)
        if runtime.startswith("onnx"):
            return cls._load_onnx(ref, spec, name, runtime, onnx_folder)
        configure_torch()
        import transformers
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # "Loading weights" bars on every load are noise
        tpath = transformer_dir(ref.path)
        auto = getattr(transformers, spec.auto)
        extra = {"attn_implementation": "eager"} if eager else {}
        try:
            hf_tok = AutoTokenizer.from_pretrained(tpath, trust_remote_code=trust_remote_code)
            model = auto.from_pretrained(tpath, trust_remote_code=trust_remote_code, **extra)
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
        config = model.config.to_dict()
        if spec.build is not None:
            model = spec.build(model, ref.path)
        model.eval()
        from tokenizers import Tokenizer

        from ..runtime.torch import TorchRunner

        tok = Tokenizer.from_str(hf_tok.backend_tokenizer.to_str())
        config["tokenizer_model_max_length"] = getattr(hf_tok, "model_max_length", None)
        pad = hf_tok.pad_token or _pad_token(read_json(tpath / "tokenizer_config.json"))
        runner = TorchRunner(model, spec.output, bf16=runtime == "torch-bf16", device=device)
        out = cls(ref, tok, runner, config=config, pad_token=pad, runtime=runtime, head=name)
        if spec.fingerprint is not None:
            out._fingerprint = spec.fingerprint_of(ref.path)
        return out

    @classmethod
    def _load_onnx(cls, ref: ModelRef, spec: Head, name: str, runtime: str, folder: Path | None) -> Backbone:
        quantize = "int8" if runtime == "onnx-int8" else None
        folder = Path(folder) if folder else export_folder(spec.fingerprint_of(ref.path), spec.kind, quantize)
        if not (folder / "model.onnx").is_file():
            raise EncoderkitError(
                f"no ONNX export ({runtime}) of {ref.name} yet",
                hint=f"run `encoderkit export onnx --model {ref.spec}"
                f"{' --quantize int8' if quantize else ''}` first, or use the torch backend",
            )
        from tokenizers import Tokenizer

        # exports made before 0.3 of the extraction heads hold no tokenizer: read the model's own
        tok_dir = folder if (folder / "tokenizer.json").is_file() else transformer_dir(ref.path)
        tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        tok_cfg = read_json(tok_dir / "tokenizer_config.json")
        config = read_json(folder / "config.json") or read_json(transformer_dir(ref.path) / "config.json")
        config["tokenizer_model_max_length"] = tok_cfg.get("model_max_length")
        out = cls(ref, tok, OnnxRunner(folder), config=config, pad_token=_pad_token(tok_cfg), runtime=runtime, head=name)
        if spec.fingerprint is not None:
            out._fingerprint = spec.fingerprint_of(ref.path)
        return out

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
        self, module, *, ref: ModelRef | None = None, fingerprint: str | None = None, head: str | Head | None = None
    ) -> Backbone:
        """The same tokenizer on another torch module (e.g. a freshly initialised copy of the architecture,
        or a head wrapped around this backbone's transformer: ``head="classifier"``)."""
        from ..runtime.torch import TorchRunner

        spec = _head(head or self.head)
        config = module.config.to_dict()
        config.setdefault("tokenizer_model_max_length", self.config.get("tokenizer_model_max_length"))
        out = Backbone(
            ref or self.ref,
            self._tokenizer,
            TorchRunner(module, spec.output),
            config=config,
            pad_token=self._pad_token,
            runtime="torch",
            head=head if isinstance(head, str) else spec.kind,
        )
        out._fingerprint = fingerprint
        return out

    @classmethod
    def for_module(cls, ref: ModelRef, module, *, head: str | Head, fingerprint: str | None = None) -> Backbone:
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
        spec = _head(head)
        out = cls(
            ref,
            Tokenizer.from_file(str(tpath / "tokenizer.json")),
            TorchRunner(module, spec.output),
            config=config,
            pad_token=_pad_token(tok_cfg),
            runtime="torch",
            head=head if isinstance(head, str) else spec.kind,
        )
        out._fingerprint = fingerprint
        return out

    @classmethod
    def wrap(cls, tokenizer, module, *, head: str | Head, pad_token: str = "[PAD]") -> Backbone:
        """A backbone over a live torch module and an in-memory ``tokenizers.Tokenizer`` (a model being
        trained, validated as it will run once saved)."""
        from tokenizers import Tokenizer

        from ..runtime.torch import TorchRunner

        spec = _head(head)
        config = module.config.to_dict()
        config.setdefault("tokenizer_model_max_length", None)
        ref = ModelRef("in-memory", "in-memory", Path("."), None, "memory")
        return cls(
            ref,
            Tokenizer.from_str(tokenizer.to_str()),
            TorchRunner(module, spec.output),
            config=config,
            pad_token=pad_token,
            runtime="torch",
            head=head if isinstance(head, str) else spec.kind,
        )

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
