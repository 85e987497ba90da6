"""The bi-encoder: text in, one L2-normalised vector per text out.

Loads sentence-transformers directories (old and new config layouts) and plain transformers
directories with ``transformers.AutoModel`` directly (importing sentence-transformers costs ~5 s of
start-up, too much for a CLI search); any module layout this fast path does not understand is handed
to sentence-transformers itself, so results are always those of the reference library.

>>> enc = Encoder.load("default")                     # doctest: +SKIP
>>> v = enc.encode(["a cat", "a kitten", "tax law"])  # doctest: +SKIP
>>> v.shape, float(v[0] @ v[1]) > float(v[0] @ v[2])  # doctest: +SKIP
((3, 384), True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderkitError
from .ref import ModelRef, resolve_model, weights_fingerprint
from .pooling import POOLINGS
from ..runtime import configure_torch, progress_enabled

BACKENDS = ("torch", "onnx", "onnx-int8")

# sentence-transformers pooling names -> ours
_ST_POOLING = {
    "mean": "mean",
    "cls": "cls",
    "max": "max",
    "weightedmean": "weighted_mean",
    "lasttoken": "last",
}
_OLD_ST_POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_weightedmean_tokens": "weighted_mean",
    "pooling_mode_lasttoken": "last",
}


def read_st_layout(path: Path) -> dict | None:
    """Read a sentence-transformers directory's modules.json into a plain description.

    Returns None when there is no modules.json (a plain transformers directory). The result has
    ``transformer_path``, ``pooling`` (or None), ``normalize`` and ``unsupported`` (module types the
    fast path does not run, e.g. Dense).
    """
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return None
    modules = json.loads(modules_file.read_text())
    layout = {"transformer_path": path, "pooling": None, "normalize": False, "unsupported": []}
    for mod in modules:
        kind = mod.get("type", "").rsplit(".", 1)[-1]
        sub = path / mod.get("path", "")
        if kind == "Transformer":
            layout["transformer_path"] = sub
        elif kind == "Pooling":
            layout["pooling"] = _read_pooling(sub / "config.json")
        elif kind == "Normalize":
            layout["normalize"] = True
        else:
            layout["unsupported"].append(mod.get("type", "?"))
    return layout


def _read_pooling(config_file: Path) -> str | None:
    cfg = json.loads(config_file.read_text())
    mode = cfg.get("pooling_mode")
    if isinstance(mode, list):
        mode = mode[0] if len(mode) == 1 else None
    if isinstance(mode, str):
        return _ST_POOLING.get(mode)
    on = [ours for key, ours in _OLD_ST_POOLING_KEYS.items() if cfg.get(key)]
    return on[0] if len(on) == 1 else None


def _max_length(path: Path, tokenizer_limit: int | None, positions: int | None, model_type: str) -> int:
    """Max tokens per text: sentence_bert_config, else the tokenizer's limit, capped by positions."""
    limit = None
    sb = path / "sentence_bert_config.json"
    if sb.is_file():
        limit = json.loads(sb.read_text()).get("max_seq_length")
    if not limit:
        limit = tokenizer_limit if tokenizer_limit and tokenizer_limit < 100_000 else None
    positions = positions or 512
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2  # RoBERTa reserves padding_idx + 1 positions
    return int(min(limit or positions, positions))


class Encoder:
    """A loaded bi-encoder. Build with :meth:`Encoder.load`; call :meth:`encode`."""

    def __init__(self, model, tokenizer, ref: ModelRef, *, pooling: str, max_length: int, st_model=None):
        self.model = model
        self.tokenizer = tokenizer
        self.ref = ref
        self.pooling = pooling
        self.max_length = max_length
        self._st_model = st_model  # set only when the layout needs sentence-transformers itself
        self._fingerprint: str | None = None
        self._onnx = None  # OnnxRunner when backend is onnx / onnx-int8
        self._dim: int | None = None
        self.backend = "torch"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        spec: str | Path = "default",
        *,
        revision: str | None = None,
        pooling: str | None = None,
        max_length: int | None = None,
        trust_remote_code: bool = False,
        backend: str = "torch",
    ) -> "Encoder":
        """Load "default" (bundled all-MiniLM-L6-v2), a local directory, or a hub id.

        ``pooling`` overrides the model's configured pooling; ``max_length`` its token limit.
        ``backend``: torch | onnx (ONNX Runtime, same vectors to ~1e-6, exported on first use) |
        onnx-int8 (per-channel int8: faster, cosine to fp32 ~0.99). ``trust_remote_code`` stays off
        unless you pass True for a repository you trust.
        """
        if pooling is not None and pooling not in POOLINGS:
            raise EncoderkitError(f"unknown pooling '{pooling}'", hint=f"use one of: {', '.join(POOLINGS)}")
        if backend not in BACKENDS:
            raise EncoderkitError(f"unknown backend '{backend}'", hint=f"use one of: {', '.join(BACKENDS)}")
        ref = resolve_model(spec, revision=revision)
        if backend != "torch":
            return cls._load_onnx(ref, pooling, max_length, quantize="int8" if backend == "onnx-int8" else None)
        configure_torch()
        import torch  # noqa: F401  (after configure_torch so threads are set first)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every load are noise
        layout = read_st_layout(ref.path)
        if layout is not None and layout["unsupported"]:
            return cls._load_with_sentence_transformers(ref, layout, pooling, max_length, trust_remote_code)
        tpath = layout["transformer_path"] if layout else ref.path
        try:
            tokenizer = AutoTokenizer.from_pretrained(tpath, trust_remote_code=trust_remote_code)
            model = AutoModel.from_pretrained(tpath, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as exc:
            raise EncoderkitError(
                f"could not load model from {tpath}: {str(exc).splitlines()[0]}",
                hint="pass a sentence-transformers or transformers model directory, or 'default'",
            ) from None
        model.eval()
        chosen = pooling or (layout or {}).get("pooling") or "mean"
        limit = max_length or _max_length(ref.path if layout else tpath, getattr(tokenizer, "model_max_length", None),
                                          getattr(model.config, "max_position_embeddings", None),
                                          getattr(model.config, "model_type", ""))
        return cls(model, tokenizer, ref, pooling=chosen, max_length=limit)

    @classmethod
    def _load_onnx(cls, ref, pooling, max_length, quantize):
        from .export import OnnxRunner, export_dir, export_onnx

        _, folder, _ = export_dir(ref.path, "encoder", quantize)
        if not (folder / "model.onnx").is_file():
            folder = export_onnx(ref.path, kind="encoder", quantize=quantize)
        layout = read_st_layout(ref.path) or {}
        config = json.loads((folder / "config.json").read_text())
        tok_file = folder / "tokenizer_config.json"
        tok_cfg = json.loads(tok_file.read_text()) if tok_file.is_file() else {}
        limit = max_length or _max_length(ref.path if layout else folder, tok_cfg.get("model_max_length"),
                                          config.get("max_position_embeddings"), config.get("model_type", ""))
        enc = cls(None, None, ref, pooling=pooling or layout.get("pooling") or "mean", max_length=limit)
        enc._onnx = OnnxRunner(folder)
        enc._dim = int(config["hidden_size"])
        enc.backend = "onnx-int8" if quantize else "onnx"
        return enc

    @classmethod
    def _load_with_sentence_transformers(cls, ref, layout, pooling, max_length, trust_remote_code):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(ref.path), device="cpu", trust_remote_code=trust_remote_code)
        own = layout.get("pooling") or "mean"
        if pooling and pooling != own:
            raise EncoderkitError(
                f"model {ref.name} has extra modules ({', '.join(layout['unsupported'])}) after pooling",
                hint="its pooling cannot be changed; leave --pooling unset",
            )
        if max_length:
            st.max_seq_length = max_length
        return cls(st[0].auto_model, st.tokenizer, ref, pooling=own, max_length=st.max_seq_length, st_model=st)

    # ------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def dim(self) -> int:
        if self._dim is not None:
            return self._dim
        if self._st_model is not None:
            return int(self._st_model.get_sentence_embedding_dimension())
        return int(self.model.config.hidden_size)

    @property
    def fingerprint(self) -> str:
        """Short sha256 of the weight files: two encoders with equal fingerprints give equal vectors."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.ref.path)
        return self._fingerprint

    def describe(self) -> dict:
        """What an index must record to reproduce these vectors at query time."""
        return {
            "spec": self.ref.spec,
            "name": self.ref.name,
            "path": str(self.ref.path),
            "revision": self.ref.revision,
            "source": self.ref.source,
            "fingerprint": self.fingerprint,
            "pooling": self.pooling,
            "dim": self.dim,
            "max_length": self.max_length,
            "backend": self.backend,
        }

    # ------------------------------------------------------------------ encoding
    def raw_tokenizer(self):
        """A private ``tokenizers.Tokenizer`` of this model with truncation and padding off (for
        chunking and token counts; never shares state with the one used for encoding)."""
        from tokenizers import Tokenizer

        if self._onnx is not None:
            tok = Tokenizer.from_file(str(self._onnx.folder / "tokenizer.json"))
        else:
            tok = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
        tok.no_truncation()
        tok.no_padding()
        return tok

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of model tokens per text, without special tokens and without truncation."""
        enc = self.raw_tokenizer().encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in enc]

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        pooling: str | None = None,
        normalize: bool = True,
        batch_size: int = 32,
        max_length: int | None = None,
        show_progress: bool | None = False,
    ) -> np.ndarray:
        """Encode texts to a float32 array [n, dim]; a single string gives [dim].

        Texts are sorted by length before batching (less padding), and results returned in input order.
        ``pooling``: one of mean, cls, max, weighted_mean, last (default: the model's own).
        """
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise EncoderkitError(f"text {i} is {type(t).__name__}, not str", hint="pass a list of strings")
        how = pooling or self.pooling
        if how not in POOLINGS:
            raise EncoderkitError(f"unknown pooling '{how}'", hint=f"use one of: {', '.join(POOLINGS)}")
        if self._st_model is not None and how != self.pooling:
            raise EncoderkitError(f"model {self.name} cannot change its pooling", hint="leave pooling unset")
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out[0] if single else out
        order = np.argsort([-len(t) for t in items], kind="stable")
        limit = max_length or self.max_length
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        bar = None
        if progress_enabled(show_progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc="encoding", unit="text")
        for idx in batches:
            out[idx] = self._encode_batch([items[i] for i in idx], how, normalize, limit)
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return out[0] if single else out

    def _encode_batch(self, batch: list[str], how: str, normalize: bool, limit: int) -> np.ndarray:
        if self._onnx is not None:
            from .pooling import pool_numpy

            hidden, mask = self._onnx.run_texts(batch, limit)
            vec = pool_numpy(hidden.astype(np.float32), mask, how)
            if normalize:
                vec = vec / np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            return vec.astype(np.float32)
        import torch

        if self._st_model is not None:
            self._st_model.max_seq_length = limit
            return self._st_model.encode(batch, batch_size=len(batch), normalize_embeddings=normalize,
                                         convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
        from .pooling import pool

        feats = self.tokenizer(batch, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**feats).last_hidden_state
            vec = pool(hidden, feats["attention_mask"], how)
            if normalize:
                vec = torch.nn.functional.normalize(vec, p=2, dim=-1)
        return vec.float().numpy()

    def token_vectors(self, texts: Sequence[str], *, max_length: int | None = None, batch_size: int = 32):
        """Per-token hidden states (special tokens included) for each text: a list of [len_i, dim] arrays."""
        import torch

        res: list[np.ndarray] = []
        for i in range(0, len(texts), batch_size):
            feats = self.tokenizer(list(texts[i : i + batch_size]), padding=True, truncation=True,
                                   max_length=max_length or self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**feats).last_hidden_state
            for row, mask in zip(hidden, feats["attention_mask"]):
                res.append(row[mask.bool()].float().numpy())
        return res

    def __repr__(self) -> str:
        extra = f", backend={self.backend!r}" if self.backend != "torch" else ""
        return f"Encoder({self.name!r}, pooling={self.pooling!r}, dim={self.dim}, max_length={self.max_length}{extra})"
