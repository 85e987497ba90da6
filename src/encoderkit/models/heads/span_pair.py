"""Span-pair classification: relations between two marked spans (or attributes of one marked span).

Baldini Soares et al. (2019), "Matching the Blanks", best variant for relation classification: the
input text carries entity marker tokens around the arguments (``[E1] head [/E1] ... [E2] tail [/E2]``,
new special tokens added to the tokenizer), and the relation representation is the concatenation of
the final states of the two *start* markers ("entity start" pooling), followed here by layer
normalisation and a linear layer. Labels are directional the SemEval way (``Type(e1,e2)`` /
``Type(e2,e1)``, e1 = the argument that comes first in the text), so one forward pass covers both
orders. With one argument (``n_args=1``) the same model classifies a single marked span, one softmax
per output head (frame attributes such as ``status: active | resolved``).

Markers are inserted as text (:func:`insert_markers`, which returns where the arguments moved to) and
an input longer than ``max_length`` is cropped to a window around the markers; a pair that does not fit
in one window is reported as such, never silently cut.

>>> insert_markers("Smoke from the fire.", (0, 5), (15, 19))
('[E1] Smoke [/E1] from the [E2] fire [/E2].', (5, 10), (31, 35))
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from ..backbone import Backbone, Head
from ..card import head_card, head_fingerprint, load_head_tensors, special_ids
from ..ref import resolve_model
from .decoding import softmax

KIND = "span-pair"
MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")
INPUTS = ["input_ids", "attention_mask", "token_type_ids", "e1_pos", "e2_pos"]


def _build(body, folder: Path):
    """The saved span-pair model's torch module around a loaded transformer body."""
    from .torch_modules import SpanPairModule

    card = head_card(folder, KIND)
    module = SpanPairModule(body, {k: len(v) for k, v in card["heads"].items()}, n_args=card["n_args"])
    module.load_state_dict(load_head_tensors(folder), strict=False)
    return module


HEAD = Head(KIND, output=None, build=_build, fingerprint=head_fingerprint)


def insert_markers(
    text: str, e1: tuple[int, int], e2: tuple[int, int] | None = None, markers: Sequence[str] = MARKERS
) -> tuple[str, tuple[int, int], tuple[int, int] | None]:
    """(marked text, e1 span in it, e2 span in it): ``marked[new_e1] == text[e1]``. ``e1`` must end
    before ``e2`` starts; ``e2=None`` marks one span."""
    (s1, t1) = e1
    if e2 is None:
        a, b = f"{markers[0]} ", f" {markers[1]}"
        marked = text[:s1] + a + text[s1:t1] + b + text[t1:]
        return marked, (s1 + len(a), t1 + len(a)), None
    (s2, t2) = e2
    if not 0 <= s1 < t1 <= s2 < t2 <= len(text):
        raise ValueError(f"spans {e1} and {e2} must be ordered, non-empty, non-overlapping and inside the text")
    a1, b1, a2, b2 = f"{markers[0]} ", f" {markers[1]}", f"{markers[2]} ", f" {markers[3]}"
    marked = text[:s1] + a1 + text[s1:t1] + b1 + text[t1:s2] + a2 + text[s2:t2] + b2 + text[t2:]
    shift2 = len(a1) + len(b1) + len(a2)
    return marked, (s1 + len(a1), t1 + len(a1)), (s2 + shift2, t2 + shift2)


def add_markers(tokenizer, markers: Sequence[str] = MARKERS) -> list[int]:
    """Add the markers to a ``tokenizers.Tokenizer`` as special tokens (never split, never lower-cased);
    returns their ids."""
    from tokenizers import AddedToken

    missing = [m for m in markers if tokenizer.token_to_id(m) is None]
    if missing:
        tokenizer.add_special_tokens([AddedToken(m, special=True, normalized=False) for m in missing])
    return [tokenizer.token_to_id(m) for m in markers]


def crop(n: int, lo: int, hi: int, window: int) -> tuple[int, int] | None:
    """A window [start, start + window) of ``n`` tokens containing [lo, hi], centred on it; None if
    [lo, hi] is longer than the window.

    >>> crop(10, 2, 3, 20), crop(100, 50, 59, 20), crop(100, 0, 40, 20)
    ((0, 10), (45, 65), None)
    """
    if n <= window:
        return 0, n
    if hi - lo + 1 > window:
        return None
    start = lo - (window - (hi - lo + 1)) // 2
    start = max(0, min(start, n - window))
    return start, start + window


class SpanPairClassifier:
    """A loaded span-pair model: build with :meth:`load` (or :meth:`from_module` while training)."""

    kind = KIND

    def __init__(
        self,
        backbone: Backbone,
        *,
        heads: dict[str, list[str]],
        n_args: int,
        max_length: int,
        pad_id: int,
        path=None,
        card: dict | None = None,
    ):
        self.backbone = backbone
        self.tokenizer = backbone.raw_tokenizer()
        self.run = backbone.forward
        self.heads = {k: list(v) for k, v in heads.items()}
        self.n_args = n_args
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)
        self.path = path
        self.backend = backbone.runtime
        self.card = card or {}
        self.marker_ids = add_markers(self.tokenizer)
        self.prefix, self.suffix = special_ids(self.tokenizer)
        self.window = self.max_length - len(self.prefix) - len(self.suffix)

    @classmethod
    def load(cls, spec: str | Path, *, backend: str = "torch", device: str | None = None) -> SpanPairClassifier:
        """Load a span-pair folder (``encoderkit train relations``) on torch | onnx | onnx-int8."""
        ref = resolve_model(spec)
        card = head_card(ref.path, KIND)
        if backend not in ("torch", "onnx", "onnx-int8"):
            raise EncoderkitError(f"unknown backend '{backend}'", hint="use torch, onnx or onnx-int8")
        return cls(
            Backbone.load(ref, head=HEAD, runtime=backend, device=device),
            heads={k: list(v) for k, v in card["heads"].items()},
            n_args=card["n_args"],
            max_length=card["max_length"],
            pad_id=card.get("pad_id", 0),
            path=ref.path,
            card=card,
        )

    @classmethod
    def from_module(cls, module, tokenizer, **settings) -> SpanPairClassifier:
        """A span-pair model over a live :class:`~.torch_modules.SpanPairModule` (validation in training)."""
        return cls(Backbone.wrap(tokenizer, module, head=HEAD), **settings)

    @property
    def fingerprint(self) -> str | None:
        """sha256 (16 hex digits) of the saved weights and head (None for a model that is not saved)."""
        if self.path is not None and getattr(self, "_fingerprint", None) is None:
            self._fingerprint = head_fingerprint(self.path)
        return getattr(self, "_fingerprint", None)

    def describe(self) -> dict:
        c = self.card
        return {
            "kind": KIND,
            "task": c.get("task"),
            "path": str(self.path) if self.path else None,
            "backend": self.backend,
            "heads": self.heads,
            "n_args": self.n_args,
            "max_length": self.max_length,
            "markers": list(MARKERS),
            "negative_label": c.get("negative_label"),
            "base_model": c.get("base_model"),
            "fingerprint": self.fingerprint,
            "metrics": c.get("metrics"),
        }

    # ------------------------------------------------------------------ encoding
    def encode(self, text: str, e1: tuple[int, int], e2: tuple[int, int] | None = None) -> tuple[np.ndarray, int, int] | None:
        """(token ids without specials, e1 marker index, e2 marker index), cropped to the window around
        the markers; None when the marked arguments do not fit in one window."""
        if self.n_args == 2 and e2 is None:
            raise ValueError("this model classifies span pairs: pass e2")
        marked, _, _ = insert_markers(text, e1, e2 if self.n_args == 2 else None)
        ids = np.array(self.tokenizer.encode(marked, add_special_tokens=False).ids, dtype=np.int64)
        m1s, m1e, m2s, m2e = self.marker_ids
        p1 = int(np.flatnonzero(ids == m1s)[0])
        if self.n_args == 2:
            p2 = int(np.flatnonzero(ids == m2s)[0])
            last = int(np.flatnonzero(ids == m2e)[0])
        else:
            p2, last = p1, int(np.flatnonzero(ids == m1e)[0])
        win = crop(len(ids), p1, last, self.window)
        if win is None:
            return None
        s, e = win
        return ids[s:e], p1 - s, p2 - s

    def features(self, items: list[tuple[np.ndarray, int, int]]) -> dict[str, np.ndarray]:
        n = max(len(ids) for ids, _, _ in items) + len(self.prefix) + len(self.suffix)
        input_ids = np.full((len(items), n), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for i, (ids, _, _) in enumerate(items):
            row = np.concatenate([self.prefix, ids, self.suffix]).astype(np.int64)
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        off = len(self.prefix)
        return {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
            "e1_pos": np.array([p + off for _, p, _ in items], dtype=np.int64),
            "e2_pos": np.array([q + off for _, _, q in items], dtype=np.int64),
        }

    # ------------------------------------------------------------------ prediction
    def probabilities(self, items: Sequence[tuple], *, batch_size: int = 32) -> list[dict[str, np.ndarray] | None]:
        """Per item (text, e1[, e2]): {head: probabilities over its labels}; None for an item whose
        arguments do not fit in one window."""
        encoded = [self.encode(*it) for it in items]
        out: list[dict | None] = [None] * len(items)
        order = sorted((i for i, e in enumerate(encoded) if e is not None), key=lambda i: len(encoded[i][0]))
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            logits = self.run(self.features([encoded[i] for i in idx]))
            col = 0
            probs = {}
            for name, labels in self.heads.items():
                probs[name] = softmax(logits[:, col : col + len(labels)].astype(np.float64))
                col += len(labels)
            for row, i in enumerate(idx):
                out[i] = {name: p[row] for name, p in probs.items()}
        return out

    def predict(self, items: Sequence[tuple], *, batch_size: int = 32) -> list[dict[str, tuple[str, float]] | None]:
        """Per item: {head: (best label, its probability)} (None: did not fit, see :meth:`encode`)."""
        out = []
        for p in self.probabilities(items, batch_size=batch_size):
            if p is None:
                out.append(None)
                continue
            out.append({name: (self.heads[name][int(v.argmax())], float(v.max())) for name, v in p.items()})
        return out

    def __repr__(self) -> str:
        return f"SpanPairClassifier({str(self.path)!r}, backend={self.backend!r}, heads={list(self.heads)})"
