"""`encoderkit train ner`: a BIO tagger (:mod:`encoderkit.models.heads.tagger`) trained on the one loop.

Training examples are windows of whole documents (``context="document"``, the default: each sentence
is read with its neighbours, as Devlin et al., 2019 did for CoNLL-2003) or of single sentences. A
word's label sits on its first sub-token; the loss is cross-entropy over those positions, or a CRF's
negative log-likelihood over the word sequence of each window (``crf=True``, pytorch-crf). Validation
is entity F1 on the dev split (CoNLL-2003: ``eng.testa``) read exactly as at inference time (sliding
windows over whole documents); the best model by dev F1 is what ends up in ``out``.

>>> train_ner("../shared/data/conll2003", "runs/ner")   # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.corpora.conll import TaggedDoc, entity_types, load_ner_split, split_file
from ..data.corpora.semeval import holdout
from ..errors import EncoderkitError
from ..evaluation.extraction import ner_scores
from ..models.backbone import Backbone
from ..models.card import save_head_model, special_ids
from ..models.heads.tagger import INPUTS, Tagger, encode_words, window_features
from ..models.heads.windows import plan_windows
from ..models.ref import resolve_model
from .loop import TrainConfig, Trainer, split_by_name

HEAD = ("classifier.", "case_embeddings.", "crf.")
IGNORE = -100


@dataclass
class TagWindow:
    ids: np.ndarray
    case: np.ndarray
    labels: np.ndarray  # label index at first sub-tokens, IGNORE elsewhere


def label_list(docs: list[TaggedDoc]) -> list[str]:
    """["O", "B-T", "I-T", ...] for every entity type in ``docs`` (sorted).

    >>> label_list([TaggedDoc(["a", "b"], ["B-PER", "O"])])
    ['O', 'B-PER', 'I-PER']
    """
    return ["O"] + [f"{p}-{t}" for t in entity_types(d.tags for d in docs) for p in "BI"]


def units(docs: list[TaggedDoc], context: str) -> list[tuple[list[str], list[str]]]:
    """(words, tags) of each training unit: whole documents, or single sentences."""
    if context == "document":
        return [(d.words, d.tags) for d in docs]
    if context == "sentence":
        return [(d.words[s:e], d.tags[s:e]) for d in docs for s, e in d.sentences()]
    raise EncoderkitError(f"unknown context '{context}'", hint="use document or sentence")


def tag_windows(tokenizer, docs: list[TaggedDoc], labels: list[str], window: int, stride: int, context: str) -> list[TagWindow]:
    """Training windows with first-sub-token labels."""
    index = {x: i for i, x in enumerate(labels)}
    us = units(docs, context)
    out = []
    for (_words, tags), enc in zip(us, encode_words(tokenizer, [u[0] for u in us])):
        lab = np.full(len(enc.ids), IGNORE, dtype=np.int64)
        has = enc.first >= 0
        lab[enc.first[has]] = [index.get(t, 0) for t, h in zip(tags, has) if h]
        for s, e in plan_windows(len(enc.ids), window, stride):
            if (lab[s:e] != IGNORE).any():
                out.append(TagWindow(enc.ids[s:e], enc.case[s:e], lab[s:e]))
    return out


class TaggingObjective:
    """Token classification on :class:`TagWindow` examples (see the module docstring)."""

    name = "ner"

    def __init__(self, module, tokenizer, examples: list[TagWindow], *, settings: dict, dev: list[TaggedDoc] | None, card: dict):
        self.module = module
        self.tokenizer = tokenizer
        self.examples = examples
        self.settings = settings  # labels, case_features, max_length, stride, pad_id
        self.dev = dev
        self.card = card
        self.metric = "f1" if dev else None
        self.n_examples = len(examples)
        self.prefix, self.suffix = special_ids(tokenizer)
        self.last_eval: dict = {}

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), HEAD)

    def loss(self, batch: list[int], epoch: int):
        import torch

        ex = [self.examples[i] for i in batch]
        feats = window_features([(e.ids, e.case) for e in ex], self.prefix, self.suffix, self.settings["pad_id"])
        labels = np.full(feats["input_ids"].shape, IGNORE, dtype=np.int64)
        for row, e in enumerate(ex):
            labels[row, len(self.prefix) : len(self.prefix) + len(e.labels)] = e.labels
        if not self.settings["case_features"]:
            feats["case_ids"] = np.zeros_like(feats["case_ids"])
        logits = self.module(**{k: torch.as_tensor(feats[k]) for k in INPUTS})
        y = torch.as_tensor(labels)
        n_words = int((y != IGNORE).sum())
        if self.module.crf is None:
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), ignore_index=IGNORE
            )
            return loss, {"words": n_words}
        # CRF over the labelled (first sub-token) positions of each window
        rows = [torch.nonzero(y[r] != IGNORE).squeeze(-1) for r in range(len(ex))]
        width = max(len(r) for r in rows)
        em = logits.new_zeros((len(ex), width, logits.shape[-1]))
        tags = torch.zeros((len(ex), width), dtype=torch.long)
        mask = torch.zeros((len(ex), width), dtype=torch.bool)
        for r, pos in enumerate(rows):
            em[r, : len(pos)] = logits[r, pos]
            tags[r, : len(pos)] = y[r, pos]
            mask[r, : len(pos)] = True
        loss = -self.module.crf(em.float(), tags, mask=mask, reduction="token_mean")
        return loss, {"words": n_words}

    def evaluate(self) -> dict:
        if not self.dev:
            return {}
        tagger = Tagger.from_module(self.module, self.tokenizer, **self.settings)
        t0 = time.perf_counter()
        pred = tagger.predict_words([d.words for d in self.dev], batch_size=32, show_progress=False)
        secs = time.perf_counter() - t0
        s = ner_scores([d.tags for d in self.dev], [p[0] for p in pred])
        n_words = sum(len(d.words) for d in self.dev)
        self.last_eval = {"f1": s["f1"], "precision": s["precision"], "recall": s["recall"]}
        return {**self.last_eval, "dev_words_per_s": round(n_words / max(secs, 1e-9), 1)}

    def export(self, folder: Path) -> None:
        card = {**self.card, **self.settings, "metrics": {"dev": self.last_eval} if self.last_eval else None}
        save_head_model(folder, self.module, self.tokenizer, card, self.card["base_model_path"])


def pad_id_of(tokenizer, path: Path) -> int:
    """The padding token's id (tokenizer_config's pad_token, else [PAD] / <pad>, else 0)."""
    from ..models.layout import read_json, transformer_dir

    pad = read_json(transformer_dir(path) / "tokenizer_config.json").get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    for name in (pad, "[PAD]", "<pad>"):
        if name and tokenizer.token_to_id(name) is not None:
            return int(tokenizer.token_to_id(name))
    return 0


def train_ner(
    data: str | Path,
    out: str | Path,
    *,
    scheme: str = "auto",
    dev_data: str | Path | None = None,
    val_fraction: float = 0.1,
    max_train_docs: int | None = None,
    max_dev_docs: int | None = None,
    train_config: TrainConfig | None = None,
    **options,
) -> dict:
    """Train a tagger on ``data`` (a CoNLL-2003-style folder, a CoNLL file or a span JSONL file).

    Validation: ``dev_data``, else the folder's dev split, else ``val_fraction`` of the training
    documents. ``max_train_docs`` / ``max_dev_docs``: use only the first N documents (quick runs).
    ``options``: see :func:`train_tagger`."""
    cfg = train_config or default_config()
    train_docs = load_ner_split(data, "train", scheme=scheme)
    if dev_data is not None:
        dev_docs = load_ner_split(dev_data, "dev", scheme=scheme)
    elif Path(data).is_dir() and split_file(data, "dev") is not None:
        dev_docs = load_ner_split(data, "dev", scheme=scheme)
    else:
        train_docs, dev_docs = holdout(train_docs, val_fraction, cfg.seed)
    train_docs = train_docs[:max_train_docs] if max_train_docs else train_docs
    dev_docs = dev_docs[:max_dev_docs] if max_dev_docs else dev_docs
    card = {"data": str(data), "scheme_in": scheme}
    return train_tagger(train_docs, dev_docs, out, train_config=cfg, card=card, **options)


MIN_STEPS = 500  # the full CoNLL-2003 train set at the defaults runs ~460 steps: a small set gets as many
PATIENCE = 4  # validations without a better dev F1 end a run (the best one is what is kept)


def default_config() -> TrainConfig:
    """5 epochs, but at least :data:`MIN_STEPS` optimizer steps with early stopping on dev F1: 2,000
    sentences at 5 epochs were only 65 steps (test F1 0.44, still rising)."""
    return TrainConfig(
        lr=8e-5, batch_size=16, epochs=5.0, head_lr_mult=10.0, warmup_ratio=0.1, min_steps=MIN_STEPS, patience=PATIENCE
    )


def train_tagger(
    train_docs: list[TaggedDoc],
    dev_docs: list[TaggedDoc],
    out: str | Path,
    *,
    model: str = "default",
    labels: list[str] | None = None,
    case_features: bool = True,
    crf: bool = False,
    max_length: int = 256,
    stride: int = 32,
    context: str = "document",
    card: dict | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Train a tagger on tagged documents; the best model by dev F1 is saved to ``out``.
    ``labels``: the tag set (default: every type in ``train_docs``)."""
    import torch

    from ..models.heads.torch_modules import TaggerModule

    cfg = train_config or default_config()
    labels = labels or label_list(train_docs)
    if len(labels) < 3:
        raise EncoderkitError("no entities in the training data", hint="check the tag column and the scheme")
    ref = resolve_model(model)
    base = Backbone.load(ref)
    tokenizer = base.raw_tokenizer()
    prefix, suffix = special_ids(tokenizer)
    window = max_length - len(prefix) - len(suffix)
    if not 0 <= stride < window:
        raise EncoderkitError(f"--stride {stride} must be below the window of {window} tokens", hint="lower --stride")
    settings = {
        "labels": labels,
        "case_features": case_features,
        "max_length": max_length,
        "stride": stride,
        "pad_id": pad_id_of(tokenizer, ref.path),
    }
    examples = tag_windows(tokenizer, train_docs, labels, window, stride, context)
    encoder = base.torch_module
    torch.manual_seed(cfg.seed)  # the new head's initialisation
    module = TaggerModule(encoder, len(labels), case_features=case_features, crf=crf)
    card = {
        "kind": "tagger",
        "task": "ner",
        "name": f"{ref.name} tagger",
        "base_model": ref.name,
        "base_model_path": str(ref.path),
        "crf": crf,
        "context": context,
        **(card or {}),
        "n_train_docs": len(train_docs),
        "n_train_windows": len(examples),
        "n_dev_docs": len(dev_docs),
    }
    objective = TaggingObjective(module, tokenizer, examples, settings=settings, dev=dev_docs, card=card)
    return Trainer(objective, cfg, Path(out), show_progress, {"card": card}).run(resume=resume)
