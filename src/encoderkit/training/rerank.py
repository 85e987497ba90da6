"""`encoderkit train rerank`: a cross-encoder reranker from an encoder backbone.

The backbone (by default the bundled MiniLM bi-encoder) gets a one-output classification head and
reads query and passage together. Training data: (query, relevant passage) pairs plus mined hard
negatives. Losses: pointwise binary cross-entropy (monoBERT, Nogueira & Cho 2019) or listwise
(ListNet, Cao et al. 2007: softmax cross-entropy over each query's positive + negatives), both from
sentence-transformers' cross-encoder losses.

>>> train_rerank("default", "../shared/data/scifact", "runs/scifact-reranker")   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.corpora.pairs import Pair, TrainingData, load_training_data, split_validation
from ..errors import EncoderkitError
from .loop import TrainConfig, Trainer, split_by_name
from .mining import MiningConfig, cache_dir, mine_hard_negatives, save_negatives

RERANK_LOSSES = ("bce", "listwise")
HEAD = ("classifier.", "pooler.")  # parameter-name fragments of the (new) classification head


class RerankObjective:
    """A cross-encoder on (query, passage) examples: ``examples[i]`` is (query, passage, label) for the
    pointwise loss, (query, [positive, negatives...]) for the listwise one."""

    name = "rerank"
    metric = "ndcg@10"

    def __init__(
        self,
        model,
        loss_fn,
        examples: list,
        *,
        listwise: bool,
        validator=None,
        card: dict | None = None,
        model_name: str = "cross-encoder",
    ):
        self.module = model
        self.loss_fn = loss_fn
        self.examples = examples
        self.listwise = listwise
        self.validator = validator
        self.card = card or {}
        self.model_name = model_name
        self.n_examples = len(examples)

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), HEAD)

    def loss(self, batch: list[int], epoch: int):
        import torch

        ex = [self.examples[i] for i in batch]
        texts = [[e[0] for e in ex], [e[1] for e in ex]]
        if self.listwise:
            labels = [torch.tensor([1.0] + [0.0] * (len(e[1]) - 1)) for e in ex]
        else:
            labels = torch.tensor([e[2] for e in ex])
        return self.loss_fn(texts, labels), {}

    def evaluate(self) -> dict:
        return self.validator() if self.validator is not None else {}

    def export(self, folder: Path) -> None:
        self.module.save(str(folder))
        (folder / "encoderkit_model.json").write_text(json.dumps({"name": self.model_name, **self.card}, indent=1))


def load_cross_encoder(spec: str, max_length: int):
    from sentence_transformers import CrossEncoder
    from transformers.utils import logging as hf_logging

    from ..models.ref import resolve_model
    from ..runtime import configure_torch
    from ..runtime.devices import resolve_device

    configure_torch()
    ref = resolve_model(spec)
    hf_logging.set_verbosity_error()  # "classifier newly initialised" is expected here
    hf_logging.disable_progress_bar()
    model = CrossEncoder(str(ref.path), num_labels=1, max_length=max_length, device=resolve_device())
    return model, ref


def mined_training_set(
    train: TrainingData, mining: MiningConfig, *, model_path: str, max_length: int, cache_dir: Path, show_progress: bool | None
) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Negatives per query id (mined with the base bi-encoder and/or BM25) and positives per query."""
    queries = {p.query_id: p.query for p in train.pairs}
    positives: dict[str, set[str]] = {}
    for p in train.pairs:
        positives.setdefault(p.query_id, set()).add(p.positive_id)
    enc = None
    if mining.method in ("dense", "both"):
        from ..models.heads.encoder import Encoder

        enc = Encoder.load(model_path)
    negs = mine_hard_negatives(
        queries, positives, train.corpus, mining, encoder=enc, cache_dir=cache_dir, show_progress=show_progress
    )
    return negs, positives


def train_rerank(
    model: str = "default",
    data: str | Path = "",
    out: str | Path = "reranker",
    *,
    loss: str = "bce",
    mining: MiningConfig | None = None,
    extra_pairs: list[Pair] | None = None,
    val_fraction: float = 0.1,
    max_length: int = 256,
    val_depth: int = 20,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Train a cross-encoder; the best checkpoint by validation nDCG@10 (reranking BM25's top
    ``val_depth`` for held-out queries) is saved to ``out`` (sentence-transformers CrossEncoder format)."""
    import torch

    if loss not in RERANK_LOSSES:
        raise EncoderkitError(f"unknown reranker loss '{loss}'", hint=f"use one of: {', '.join(RERANK_LOSSES)}")
    cfg = train_config or TrainConfig(lr=3e-5, batch_size=16, head_lr_mult=20.0)
    mining = mining or MiningConfig(method="both", n_negatives=8, rank_min=0, rank_max=30)
    out = Path(out)
    labelled = load_training_data(data)
    if labelled.kind != "pairs" or labelled.corpus is None:
        raise EncoderkitError(
            f"{data}: reranker training needs a BEIR folder (queries, qrels, corpus)",
            hint="hard negatives are mined from its corpus",
        )
    train, val = split_validation(labelled, val_fraction, cfg.seed)
    if extra_pairs:  # unlabeled extras (e.g. inverse-cloze) get mined negatives like the labelled pairs
        train = TrainingData(
            "pairs",
            train.source,
            pairs=train.pairs + list(extra_pairs),
            corpus=train.corpus,
            qrels=train.qrels,
            queries=train.queries,
        )
    ce, ref = load_cross_encoder(model, max_length)
    negs, positives = mined_training_set(
        train, mining, model_path=str(ref.path), max_length=max_length, cache_dir=cache_dir(), show_progress=show_progress
    )
    out.mkdir(parents=True, exist_ok=True)
    save_negatives(out / "negatives.json", negs, mining)
    corpus = train.corpus
    by_query: dict[str, list[Pair]] = {}
    for p in train.pairs:
        by_query.setdefault(p.query_id, []).append(p)
    if loss == "bce":  # one example per (query, passage, label)
        examples = [(p.query, p.positive, 1.0) for p in train.pairs]
        for qid, ps in by_query.items():
            examples += [(ps[0].query, corpus[d], 0.0) for d in negs.get(qid, [])]
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

        n_pos = len(train.pairs)
        pos_weight = torch.tensor((len(examples) - n_pos) / max(1, n_pos))  # balance the two classes
        loss_fn = BinaryCrossEntropyLoss(ce, pos_weight=pos_weight)
    else:  # listwise: one example per (query, positive) with that query's negatives
        examples = [(p.query, [p.positive] + [corpus[d] for d in negs.get(p.query_id, [])]) for p in train.pairs]
        from sentence_transformers.cross_encoder.losses import ListNetLoss

        loss_fn = ListNetLoss(ce)

    from .validate import rerank_validator

    def score(pairs):
        return ce.predict(pairs, batch_size=32, show_progress_bar=False, convert_to_numpy=True)

    evaluate = rerank_validator(val, corpus, score, depth=val_depth) if val is not None else None
    card = {
        "task": "rerank",
        "base_model": ref.name,
        "loss": loss,
        "data": str(data),
        "mining": mining.to_dict(),
        "n_train_examples": len(examples),
        "extra_pairs": len(extra_pairs or []),
        "max_length": max_length,
    }

    objective = RerankObjective(
        ce, loss_fn, examples, listwise=loss == "listwise", validator=evaluate, card=card, model_name=f"{ref.name} cross-encoder"
    )
    return Trainer(objective, cfg, out, show_progress, {"card": card}).run(resume=resume)
