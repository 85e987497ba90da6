"""The bi-encoder: text in, one L2-normalised vector per text out (a pooling head on the backbone).

Loads sentence-transformers directories (old and new config layouts) and plain transformers
directories through :class:`~encoderkit.models.backbone.Backbone` (importing sentence-transformers
costs ~5 s of start-up, too much for a CLI search); any module layout the backbone does not cover
(e.g. a Dense layer after pooling) is handed to sentence-transformers itself, so results are always
those of the reference library.

>>> enc = Encoder.load("default")                     # doctest: +SKIP
>>> v = enc.encode(["a cat", "a kitten", "tax law"])  # doctest: +SKIP
>>> v.shape, float(v[0] @ v[1]) > float(v[0] @ v[2])  # doctest: +SKIP
((3, 384), True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from ...runtime import batch_done, configure_torch, progress_enabled
from ..backbone import HEADS, RUNTIMES, Backbone, describe_model
from ..layout import max_length_for, read_st_layout, transformer_dir
from ..ref import ModelRef, resolve_model
from .pooling import POOLINGS, pool_numpy

BACKENDS = RUNTIMES
HEAD = HEADS["base"]

__all__ = ["Encoder", "BACKENDS", "read_st_layout"]


def token_budget_batches(lengths: Sequence[int], budget: int, *, max_batch: int = 256) -> list[np.ndarray]:
    """Positions grouped into batches, longest first, each batch's padded size (its longest text times
    its count) within ``budget`` tokens and at most ``max_batch`` texts (a text longer than the budget
    gets a batch of its own).

    >>> [b.tolist() for b in token_budget_batches([10, 100, 12, 90, 11], 200)]
    [[1, 3], [2, 4, 0]]
    """
    order = np.argsort([-n for n in lengths], kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = max(1, int(lengths[order[start]]))
        size = max(1, min(max_batch, budget // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


class Encoder:
    """A loaded bi-encoder. Build with :meth:`Encoder.load`; call :meth:`encode`."""

    kind = "encoder"

    def __init__(
        self, backbone: Backbone | None, ref: ModelRef, *, pooling: str, max_length: int, st_model=None, dim: int | None = None
    ):
        self.backbone = backbone
        self.ref = ref
        self.pooling = pooling
        self.max_length = max_length
        self._st_model = st_model  # set only when the layout needs sentence-transformers itself
        self._dim = dim
        self._fingerprint: str | None = None

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
        device: str | None = None,
    ) -> Encoder:
        """Load "default" (bundled all-MiniLM-L6-v2), a local directory, or a hub id.

        ``pooling`` overrides the model's configured pooling; ``max_length`` its token limit.
        ``backend``: torch | onnx (ONNX Runtime, same vectors to ~1e-6) | onnx-int8 (per-channel int8:
        faster, cosine to fp32 ~0.99); the ONNX backends need an export (`encoderkit export onnx`).
        ``trust_remote_code`` stays off unless you pass True for a repository you trust. ``device``: auto |
        cpu | cuda | cuda:N (None: the process default, see :mod:`encoderkit.runtime.devices`).
        """
        if pooling is not None and pooling not in POOLINGS:
            raise EncoderkitError(f"unknown pooling '{pooling}'", hint=f"use one of: {', '.join(POOLINGS)}")
        if backend not in BACKENDS:
            raise EncoderkitError(f"unknown backend '{backend}'", hint=f"use one of: {', '.join(BACKENDS)}")
        ref = resolve_model(spec, revision=revision)
        layout = read_st_layout(ref.path)
        if backend == "torch" and layout is not None and layout["unsupported"]:
            return cls._load_with_sentence_transformers(ref, layout, pooling, max_length, trust_remote_code, device)
        backbone = Backbone.load(ref, runtime=backend, trust_remote_code=trust_remote_code, device=device)
        cfg = backbone.config
        limit = max_length or max_length_for(
            ref.path if layout else transformer_dir(ref.path),
            cfg.get("tokenizer_model_max_length"),
            cfg.get("max_position_embeddings"),
            cfg.get("model_type", ""),
        )
        chosen = pooling or (layout or {}).get("pooling") or "mean"
        return cls(backbone, ref, pooling=chosen, max_length=limit)

    @classmethod
    def from_backbone(cls, backbone: Backbone, like: Encoder) -> Encoder:
        """The same head (pooling, token limit) as ``like`` on another backbone (e.g. its ONNX export)."""
        return cls(backbone, like.ref, pooling=like.pooling, max_length=like.max_length)

    @classmethod
    def _load_with_sentence_transformers(cls, ref, layout, pooling, max_length, trust_remote_code, device=None):
        from ..card import check_finished

        check_finished(ref.path)
        configure_torch()
        from sentence_transformers import SentenceTransformer

        from ...runtime.devices import resolve_device

        device = resolve_device(device)
        st = SentenceTransformer(str(ref.path), device=device, trust_remote_code=trust_remote_code)
        own = layout.get("pooling") or "mean"
        if pooling and pooling != own:
            raise EncoderkitError(
                f"model {ref.name} has extra modules ({', '.join(layout['unsupported'])}) after pooling",
                hint="its pooling cannot be changed; leave --pooling unset",
            )
        if max_length:
            st.max_seq_length = max_length
        from tokenizers import Tokenizer

        from ...runtime.torch import TorchRunner

        tok = Tokenizer.from_str(st.tokenizer.backend_tokenizer.to_str())
        model = st[0].auto_model
        backbone = Backbone(
            ref,
            tok,
            TorchRunner(model, "last_hidden_state", device=device),
            config=model.config.to_dict(),
            pad_token=st.tokenizer.pad_token or "[PAD]",
            runtime="torch",
            head="base",
        )
        return cls(
            backbone, ref, pooling=own, max_length=st.max_seq_length, st_model=st, dim=int(st.get_sentence_embedding_dimension())
        )

    # ------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def backend(self) -> str:
        return self.backbone.runtime

    @property
    def dim(self) -> int:
        return self._dim if self._dim is not None else self.backbone.hidden_size

    @property
    def fingerprint(self) -> str:
        """Short sha256 of the weight files: two encoders with equal fingerprints give equal vectors."""
        return self.backbone.fingerprint

    @property
    def model(self):
        """The torch module (torch backend), for code that trains or inspects it."""
        return self.backbone.torch_module

    def describe(self) -> dict:
        """What an index must record to reproduce these vectors at query time."""
        return describe_model(
            self.ref, self.fingerprint, pooling=self.pooling, dim=self.dim, max_length=self.max_length, backend=self.backend
        )

    # ------------------------------------------------------------------ encoding
    def raw_tokenizer(self):
        """A private ``tokenizers.Tokenizer`` of this model with truncation and padding off (for
        chunking and token counts; never shares state with the one used for encoding)."""
        return self.backbone.raw_tokenizer()

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
        token_budget: int | None = None,
        desc: str = "encoding",
    ) -> np.ndarray:
        """Encode texts to a float32 array [n, dim]; a single string gives [dim] (``desc``: the progress bar's label).

        Texts are sorted by length before batching (less padding), and results returned in input order.
        ``pooling``: one of mean, cls, max, weighted_mean, last (default: the model's own).
        ``token_budget``: form batches by padded tokens instead of a fixed count (texts sorted by token
        count; a batch holds as many as fit ``token_budget`` tokens, at most 8 x ``batch_size`` texts), so
        short texts run in large batches and long ones in small: less padding, same vectors.
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
        limit = max_length or self.max_length
        if token_budget and self._st_model is None:
            lengths = [min(n + 2, limit) for n in self.count_tokens(items)]
            batches = token_budget_batches(lengths, token_budget, max_batch=8 * batch_size)
        else:
            order = np.argsort([-len(t) for t in items], kind="stable")
            batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        bar = None
        if progress_enabled(show_progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc=desc, unit="text")
        for idx in batches:
            out[idx] = self._encode_batch([items[i] for i in idx], how, normalize, limit)
            batch_done(len(idx))  # e.g. the indexing progress bar: it moves per batch, with an ETA from the first
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return out[0] if single else out

    def _encode_batch(self, batch: list[str], how: str, normalize: bool, limit: int) -> np.ndarray:
        if self._st_model is not None:
            self._st_model.max_seq_length = limit
            return self._st_model.encode(
                batch, batch_size=len(batch), normalize_embeddings=normalize, convert_to_numpy=True, show_progress_bar=False
            ).astype(np.float32)
        feats = self.backbone.features(batch, limit)
        hidden = self.backbone.forward(feats)
        vec = pool_numpy(hidden, feats["attention_mask"], how)
        if normalize:
            vec = vec / np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
        return vec.astype(np.float32)

    def token_vectors(self, texts: Sequence[str], *, max_length: int | None = None, batch_size: int = 32):
        """Per-token hidden states (special tokens included) for each text: a list of [len_i, dim] arrays."""
        res: list[np.ndarray] = []
        texts = list(texts)
        for i in range(0, len(texts), batch_size):
            feats = self.backbone.features(texts[i : i + batch_size], max_length or self.max_length)
            hidden = self.backbone.forward(feats)
            for row, mask in zip(hidden, feats["attention_mask"]):
                res.append(row[mask.astype(bool)].astype(np.float32))
        return res

    def __repr__(self) -> str:
        extra = f", backend={self.backend!r}" if self.backend != "torch" else ""
        return f"Encoder({self.name!r}, pooling={self.pooling!r}, dim={self.dim}, max_length={self.max_length}{extra})"
