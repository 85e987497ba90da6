"""Token classification for named entities: a BIO tagger head on the shared backbone.

* Words, not sub-tokens, carry labels: a word's label sits on its first sub-token (Devlin et al., 2019,
  section 5.3); the other sub-tokens are ignored in training and in decoding.
* Documents of any length: the sub-tokens of a whole document are read as overlapping windows of
  ``max_length`` tokens sharing ``stride`` tokens (:mod:`.windows`); each word takes its scores from the
  one window where it is farthest from an edge. No text is truncated, no word is dropped or counted twice.
* Character offsets: raw text is split into words with exact offsets (:func:`encoderkit.data.words.words`),
  so every entity's ``start``/``end`` index the original string: ``text[start:end] == entity["text"]``.
* Casing: the backbones here are uncased; a learned embedding of each word's shape (:mod:`.casing`) is
  added to its sub-tokens' input embeddings (``case_features``).
* Decoding (:mod:`.sequence`): argmax + BIO repair, or Viterbi under a CRF with IOB2 constraints; an
  entity's confidence is the lowest probability of its words' tags (softmax, or CRF marginals).

Runs on torch or on an ONNX export (``encoderkit export onnx --model runs/ner [--quantize int8]``).

>>> tagger = Tagger.load("runs/ner")                                         # doctest: +SKIP
>>> tagger.extract(["Angela Merkel met Emmanuel Macron in Paris."])[0][0]    # doctest: +SKIP
{'type': 'PER', 'text': 'Angela Merkel', 'start': 0, 'end': 13, 'confidence': 0.998}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...data.corpora.conll import entity_spans
from ...data.words import words as split_words
from ...errors import EncoderkitError
from ..backbone import Backbone, Head
from ..card import head_card, head_fingerprint, load_head_tensors, special_ids
from ..ref import resolve_model
from .casing import case_id
from .decoding import argmax_decode, crf_decode
from .windows import owned_ranges, plan_windows

KIND = "tagger"
INPUTS = ["input_ids", "attention_mask", "token_type_ids", "case_ids"]


def _build(body, folder: Path):
    """The saved tagger's torch module around a loaded transformer body."""
    from .torch_modules import TaggerModule

    card = head_card(folder, KIND)
    module = TaggerModule(body, len(card["labels"]), case_features=card["case_features"], crf=card.get("crf"))
    module.load_state_dict(load_head_tensors(folder), strict=False)
    return module


HEAD = Head(KIND, output=None, build=_build, fingerprint=head_fingerprint)


@dataclass
class EncodedDoc:
    """A document's sub-tokens: ids, the word of each token, each word's first token (-1: none), and each
    token's case feature."""

    ids: np.ndarray
    word_of: np.ndarray
    first: np.ndarray
    case: np.ndarray


def encode_words(tokenizer, docs: Sequence[Sequence[str]]) -> list[EncodedDoc]:
    """Tokenize pre-split documents without special tokens or truncation."""
    out = []
    encs = tokenizer.encode_batch([list(d) for d in docs], is_pretokenized=True, add_special_tokens=False) if docs else []
    for doc, enc in zip(docs, encs):
        word_of = np.array([-1 if w is None else w for w in enc.word_ids], dtype=np.int64)
        first = np.full(len(doc), -1, dtype=np.int64)
        seen = word_of >= 0
        idx = np.flatnonzero(seen)
        if len(idx):
            is_first = np.ones(len(idx), dtype=bool)
            is_first[1:] = word_of[idx[1:]] != word_of[idx[:-1]]
            first[word_of[idx[is_first]]] = idx[is_first]
        word_cases = np.array([case_id(w) for w in doc] or [0], dtype=np.int64)
        case = np.where(seen, word_cases[np.maximum(word_of, 0)], 0)
        out.append(EncodedDoc(np.array(enc.ids, dtype=np.int64), word_of, first, case))
    return out


def window_features(
    pieces: list[tuple[np.ndarray, np.ndarray]], prefix: list[int], suffix: list[int], pad_id: int
) -> dict[str, np.ndarray]:
    """Model inputs for windows given as (token ids, case ids): specials added, padded to the longest."""
    n = max(len(ids) for ids, _ in pieces) + len(prefix) + len(suffix)
    b = len(pieces)
    input_ids = np.full((b, n), pad_id, dtype=np.int64)
    case = np.zeros((b, n), dtype=np.int64)
    mask = np.zeros((b, n), dtype=np.int64)
    for i, (ids, cs) in enumerate(pieces):
        row = np.concatenate([prefix, ids, suffix]).astype(np.int64)
        input_ids[i, : len(row)] = row
        case[i, len(prefix) : len(prefix) + len(cs)] = cs
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids), "case_ids": case}


class Tagger:
    """A loaded tagger: build with :meth:`load` (or :meth:`from_module` while training)."""

    kind = KIND

    def __init__(
        self,
        backbone: Backbone,
        *,
        labels: list[str],
        case_features: bool,
        crf: dict | None,
        max_length: int,
        stride: int,
        pad_id: int,
        path: Path | None = None,
        card: dict | None = None,
    ):
        self.backbone = backbone
        self.tokenizer = backbone.raw_tokenizer()
        self.run: Callable[[dict], np.ndarray] = backbone.forward
        self.labels = list(labels)
        self.case_features = case_features
        self.crf = crf
        self.max_length = int(max_length)
        self.stride = int(stride)
        self.pad_id = int(pad_id)
        self.path = path
        self.backend = backbone.runtime
        self.card = card or {}
        self.prefix, self.suffix = special_ids(self.tokenizer)
        self.window = self.max_length - len(self.prefix) - len(self.suffix)
        if not 0 <= self.stride < self.window:
            raise EncoderkitError(f"stride {stride} must be below the window of {self.window} tokens")

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, spec: str | Path, *, backend: str = "torch", device: str | None = None) -> Tagger:
        """Load a tagger folder (``encoderkit train ner``) on torch | onnx | onnx-int8."""
        ref = resolve_model(spec)
        card = head_card(ref.path, KIND)
        crf = None
        if card.get("crf"):
            t = load_head_tensors(ref.path, numpy=True)
            crf = {"transitions": t["crf.transitions"], "start": t["crf.start_transitions"], "end": t["crf.end_transitions"]}
        if backend not in ("torch", "onnx", "onnx-int8"):
            raise EncoderkitError(f"unknown backend '{backend}'", hint="use torch, onnx or onnx-int8")
        return cls(
            Backbone.load(ref, head=HEAD, runtime=backend, device=device),
            labels=card["labels"],
            case_features=card["case_features"],
            crf=crf,
            max_length=card["max_length"],
            stride=card["stride"],
            pad_id=card.get("pad_id", 0),
            path=ref.path,
            card=card,
        )

    @classmethod
    def from_module(cls, module, tokenizer, **settings) -> Tagger:
        """A tagger over a live :class:`~.torch_modules.TaggerModule` (validation during training)."""
        crf = None
        if module.crf is not None:
            crf = {
                "transitions": module.crf.transitions.detach().float().cpu().numpy(),
                "start": module.crf.start_transitions.detach().float().cpu().numpy(),
                "end": module.crf.end_transitions.detach().float().cpu().numpy(),
            }
        return cls(Backbone.wrap(tokenizer, module, head=HEAD), crf=crf, **settings)

    @property
    def fingerprint(self) -> str | None:
        """sha256 (16 hex digits) of the saved weights and head (None for a model that is not saved)."""
        if self.path is not None and getattr(self, "_fingerprint", None) is None:
            self._fingerprint = head_fingerprint(self.path)
        return getattr(self, "_fingerprint", None)

    def describe(self) -> dict:
        """Settings and provenance of the model (what ``encoderkit_model.json`` records)."""
        c = self.card
        return {
            "kind": KIND,
            "path": str(self.path) if self.path else None,
            "backend": self.backend,
            "entity_types": sorted({x[2:] for x in self.labels if x != "O"}),
            "labels": self.labels,
            "case_features": self.case_features,
            "crf": self.crf is not None,
            "max_length": self.max_length,
            "stride": self.stride,
            "base_model": c.get("base_model"),
            "fingerprint": self.fingerprint,
            "metrics": c.get("metrics"),
        }

    # ------------------------------------------------------------------ prediction
    def emissions(self, docs: Sequence[Sequence[str]], *, batch_size: int = 16, show_progress: bool | None = None) -> list:
        """[words, labels] scores per document, each word's from the window that owns its first token."""
        from ...runtime import progress_enabled

        encoded = encode_words(self.tokenizer, docs)
        out = [np.zeros((len(d), len(self.labels)), dtype=np.float32) for d in docs]
        jobs = []  # (doc, start, end, own_lo, own_hi)
        for i, enc in enumerate(encoded):
            wins = plan_windows(len(enc.ids), self.window, self.stride)
            for (s, e), (lo, hi) in zip(wins, owned_ranges(wins, len(enc.ids))):
                jobs.append((i, s, e, lo, hi))
        jobs.sort(key=lambda j: j[2] - j[1])
        bar = None
        if progress_enabled(show_progress) and len(jobs) > 4 * batch_size:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs), desc="tag", unit="window")
        for b in range(0, len(jobs), batch_size):
            batch = jobs[b : b + batch_size]
            feats = window_features(
                [(encoded[i].ids[s:e], encoded[i].case[s:e]) for i, s, e, _, _ in batch], self.prefix, self.suffix, self.pad_id
            )
            if not self.case_features:
                feats["case_ids"] = np.zeros_like(feats["case_ids"])
            logits = self.run(feats)
            for row, (i, s, _, lo, hi) in enumerate(batch):
                enc = encoded[i]
                first = enc.first
                words_here = enc.word_of[lo:hi]
                pos = np.arange(lo, hi)
                keep = (words_here >= 0) & (first[np.maximum(words_here, 0)] == pos)
                out[i][words_here[keep]] = logits[row, pos[keep] - s + len(self.prefix)]
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        return out

    def predict_words(
        self, docs: Sequence[Sequence[str]], *, batch_size: int = 16, show_progress: bool | None = None
    ) -> list[tuple[list[str], np.ndarray]]:
        """(IOB2 tags, confidence per word) for each document of words."""
        out = []
        for em in self.emissions(docs, batch_size=batch_size, show_progress=show_progress):
            tags, conf = crf_decode(em, self.crf, self.labels) if self.crf is not None else argmax_decode(em, self.labels)
            out.append((tags, conf))
        return out

    def extract(
        self, texts: Sequence[str], *, min_confidence: float = 0.0, batch_size: int = 16, show_progress: bool | None = None
    ) -> list[list[dict]]:
        """Entities of each text: {type, text, start, end, confidence}, offsets into the original text."""
        split = [split_words(t) for t in texts]
        preds = self.predict_words([[w for w, _ in s] for s in split], batch_size=batch_size, show_progress=show_progress)
        out = []
        for text, sp, (tags, conf) in zip(texts, split, preds):
            ents = []
            for typ, a, b in entity_spans(tags):
                start, end = sp[a][1][0], sp[b - 1][1][1]
                c = float(conf[a:b].min())
                if c >= min_confidence:
                    ents.append({"type": typ, "text": text[start:end], "start": start, "end": end, "confidence": round(c, 4)})
            out.append(ents)
        return out

    def __repr__(self) -> str:
        return f"Tagger({str(self.path)!r}, backend={self.backend!r}, labels={len(self.labels)})"
