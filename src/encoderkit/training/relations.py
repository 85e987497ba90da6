"""`encoderkit train relations`: a span-pair classifier (:mod:`encoderkit.models.heads.span_pair`) on the one loop.

Entity markers are added to the tokenizer (and the embedding matrix grows by their number), each
example is the marked text, and the loss is the cross-entropy of each output head (one head,
``relation``, for relation extraction; several for frame attributes, where an example may leave a head
unlabelled). Validation: the official SemEval-2010 Task 8 macro-F1 (directional, the negative label
excluded) for relations, mean accuracy over heads for attributes; the best model is kept.

>>> train_relations("../shared/data/semeval2010_task8", "runs/re")   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.corpora.semeval import RelationExample, holdout, load_relation_split
from ..errors import EncoderkitError
from ..evaluation.extraction import semeval_scores
from ..models.backbone import Backbone
from ..models.card import save_head_model
from ..models.heads.span_pair import INPUTS, SpanPairClassifier, add_markers
from ..models.ref import resolve_model
from .loop import TrainConfig, Trainer, split_by_name
from .tagging import pad_id_of

HEAD = ("classifier.", "norm.")
IGNORE = -100
NEGATIVES = ("Other", "no_relation", "NA", "None")


@dataclass
class SpanItem:
    """A classification example: (text, e1[, e2]) and a label per head (None: not labelled)."""

    args: tuple
    labels: dict[str, str | None]


def negative_label(labels: list[str]) -> str | None:
    """The "no relation" label among ``labels`` (Other, no_relation, ...), if any.

    >>> negative_label(["A(e1,e2)", "Other"]), negative_label(["A(e1,e2)"])
    ('Other', None)
    """
    return next((x for x in NEGATIVES if x in labels), None)


class SpanPairObjective:
    """Cross-entropy per head over :class:`SpanItem` examples encoded with the model's markers."""

    def __init__(
        self, module, classifier: SpanPairClassifier, items: list[SpanItem], *, dev: list[SpanItem], task: str, card: dict
    ):
        self.name = task
        self.module = module
        self.clf = classifier
        self.task = task
        self.card = card
        self.dev = dev
        self.pair_head = {"relations": "relation", "links": "link"}.get(task)  # one directional pair head
        self.metric = ("macro_f1" if self.pair_head else "accuracy") if dev else None
        self.last_eval: dict = {}
        encoded = [classifier.encode(*it.args) for it in items]
        self.skipped = sum(e is None for e in encoded)
        self.items = [(e, it) for e, it in zip(encoded, items) if e is not None]
        self.n_examples = len(self.items)

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), HEAD)

    def loss(self, batch: list[int], epoch: int):
        import torch

        ex = [self.items[i] for i in batch]
        feats = self.clf.features([e for e, _ in ex])
        logits = self.module(**{k: torch.as_tensor(feats[k]) for k in INPUTS}).float()
        total, col, stats = logits.sum() * 0.0, 0, {}  # stays in the graph if no head is labelled
        for name, labels in self.clf.heads.items():
            index = {x: i for i, x in enumerate(labels)}
            y = torch.tensor([index[it.labels[name]] if it.labels.get(name) is not None else IGNORE for _, it in ex])
            if (y != IGNORE).any():
                total = total + torch.nn.functional.cross_entropy(logits[:, col : col + len(labels)], y, ignore_index=IGNORE)
            col += len(labels)
        return total, stats

    def evaluate(self) -> dict:
        if not self.dev:
            return {}
        pred = self.clf.predict([it.args for it in self.dev], batch_size=64)
        res: dict = {}
        if self.pair_head:
            gold = [it.labels[self.pair_head] for it in self.dev]
            neg = self.card.get("negative_label") or "Other"
            guess = [p[self.pair_head][0] if p else neg for p in pred]
            s = semeval_scores(gold, guess, other=neg)
            res = {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"]}
        else:
            accs = []
            for name in self.clf.heads:
                pairs = [(it.labels.get(name), p[name][0] if p else None) for it, p in zip(self.dev, pred)]
                pairs = [(g, q) for g, q in pairs if g is not None]
                if pairs:
                    res[f"accuracy.{name}"] = round(sum(g == q for g, q in pairs) / len(pairs), 4)
                    accs.append(res[f"accuracy.{name}"])
            res["accuracy"] = round(float(np.mean(accs)), 4) if accs else 0.0
        self.last_eval = res
        return res

    def export(self, folder: Path) -> None:
        settings = {
            "heads": self.clf.heads,
            "n_args": self.clf.n_args,
            "max_length": self.clf.max_length,
            "pad_id": self.clf.pad_id,
        }
        card = {**self.card, **settings, "metrics": {"dev": self.last_eval} if self.last_eval else None}
        save_head_model(folder, self.module, self.clf.tokenizer, card, self.card["base_model_path"])


def build_span_model(model: str, heads: dict[str, list[str]], *, n_args: int, max_length: int, seed: int):
    """(module, classifier, ref): a fresh span-pair model on the backbone ``model`` with markers added."""
    import torch

    from ..models.heads.torch_modules import SpanPairModule

    ref = resolve_model(model)
    base = Backbone.load(ref)
    tokenizer = base.raw_tokenizer()
    add_markers(tokenizer)
    encoder = base.torch_module
    if tokenizer.get_vocab_size(with_added_tokens=True) > encoder.get_input_embeddings().num_embeddings:
        encoder.resize_token_embeddings(tokenizer.get_vocab_size(with_added_tokens=True))
    torch.manual_seed(seed)
    module = SpanPairModule(encoder, {k: len(v) for k, v in heads.items()}, n_args=n_args)
    clf = SpanPairClassifier.from_module(
        module, tokenizer, heads=heads, n_args=n_args, max_length=max_length, pad_id=pad_id_of(tokenizer, ref.path)
    )
    return module, clf, ref


def relation_items(examples: list[RelationExample]) -> list[SpanItem]:
    return [SpanItem((e.text, e.e1, e.e2), {"relation": e.label}) for e in examples]


def train_span_pair(
    items: list[SpanItem],
    dev: list[SpanItem],
    out: str | Path,
    *,
    heads: dict[str, list[str]],
    n_args: int,
    task: str,
    model: str = "default",
    max_length: int = 128,
    card: dict | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Train a span-pair model on prepared items (used by ``train relations`` and ``train extract``)."""
    cfg = train_config or TrainConfig(lr=5e-5, batch_size=32, epochs=5.0, head_lr_mult=10.0)
    module, clf, ref = build_span_model(model, heads, n_args=n_args, max_length=max_length, seed=cfg.seed)
    card = {
        "kind": "span-pair",
        "task": task,
        "name": f"{ref.name} {task}",
        "base_model": ref.name,
        "base_model_path": str(ref.path),
        "negative_label": negative_label(heads.get("relation", heads.get("link", []))),
        **(card or {}),
    }
    objective = SpanPairObjective(module, clf, items, dev=dev, task=task, card=card)
    card["n_train"] = objective.n_examples
    card["skipped_too_long"] = objective.skipped
    return Trainer(objective, cfg, Path(out), show_progress, {"card": card}).run(resume=resume)


def train_relations(
    data: str | Path,
    out: str | Path,
    *,
    model: str = "default",
    max_length: int = 128,
    dev_data: str | Path | None = None,
    val_fraction: float = 0.1,
    max_train: int | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Train a relation classifier on a SemEval-2010 Task 8 folder/file or a head/tail JSONL file.
    Validation: ``dev_data``, else the folder's dev file, else ``val_fraction`` of train (seeded)."""
    cfg = train_config or TrainConfig(lr=5e-5, batch_size=32, epochs=5.0, head_lr_mult=10.0)
    train = load_relation_split(data, "train")
    dev = (
        load_relation_split(dev_data, "dev") if dev_data else (load_relation_split(data, "dev") if Path(data).is_dir() else None)
    )
    if dev is None:
        train, dev = holdout(train, val_fraction, cfg.seed)
    train = train[:max_train] if max_train else train
    if any(e.label is None for e in train):
        raise EncoderkitError(f"training examples in '{data}' without labels", hint="every training example needs a label")
    labels = sorted({e.label for e in train})
    neg = negative_label(labels)
    if neg:  # the negative label first (index 0), the rest sorted
        labels = [neg] + [x for x in labels if x != neg]
    dev = [e for e in dev if e.label in labels]
    card = {"data": str(data), "n_dev": len(dev), "labels": labels}
    return train_span_pair(
        relation_items(train),
        relation_items(dev),
        out,
        heads={"relation": labels},
        n_args=2,
        task="relations",
        model=model,
        max_length=max_length,
        card=card,
        train_config=cfg,
        resume=resume,
        show_progress=show_progress,
    )
