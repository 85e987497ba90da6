"""`encoderkit train embed`: adapt a bi-encoder to your data (contrastive fine-tuning).

>>> train_embed("default", "../shared/data/scifact", "runs/scifact-embed", loss="mnrl", hard_negatives="bm25")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.corpora.pairs import Pair, TrainingData, load_training_data, split_validation
from ..errors import EncoderkitError
from .loop import TrainConfig, Trainer, epoch_batches, split_by_name
from .losses import LOSSES, PAIR_LOSSES, make_loss
from .mining import MiningConfig, cache_dir, mine_hard_negatives, save_negatives


def load_st(spec: str, max_length: int | None = None):
    """A sentence-transformers model for training, from "default", a folder or a hub id."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    from ..models.ref import resolve_model
    from ..runtime import configure_torch
    from ..runtime.devices import resolve_device

    configure_torch()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar at every save
    ref = resolve_model(spec)
    model = SentenceTransformer(str(ref.path), device=resolve_device())
    if max_length:
        model.max_seq_length = max_length
    return model, ref


def st_encoder(model):
    """Encode function (L2-normalised float32) over a sentence-transformers model, for validation."""

    def encode(texts):
        return model.encode(list(texts), batch_size=32, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)

    return encode


def save_st(model, folder: Path, card: dict, name: str) -> None:
    """Save a sentence-transformers model with its ``encoderkit_model.json`` card."""
    model.save(str(folder))
    (Path(folder) / "encoderkit_model.json").write_text(json.dumps({"name": name, **card}, indent=1))


class BiEncoderObjective:
    """A sentence-transformers bi-encoder trained with one of :mod:`.losses` on columns of texts.

    ``columns``: lists of texts, one entry per example (query, positive, negatives...); ``labels``: one
    number per example (CoSENT scores, distillation margins) or None; ``keys``: per example, what must
    not repeat inside a batch (in-batch negatives). ``validator()`` returns the validation metrics.
    """

    def __init__(
        self,
        model,
        loss_fn,
        columns: list[list[str]],
        *,
        labels=None,
        keys=None,
        validator=None,
        metric: str | None = None,
        card: dict | None = None,
        name: str = "embed",
        model_name: str = "fine-tuned",
    ):
        self.name = name
        self.module = model
        self.loss_fn = loss_fn
        self.columns = columns
        self.labels = labels
        self.keys = keys
        self.validator = validator
        self.metric = metric if validator is not None else None
        self.card = card or {}
        self.model_name = model_name
        self.n_examples = len(columns[0])

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), ())  # no head: everything is the encoder

    def batches(self, epoch: int, batch_size: int, seed: int) -> list[list[int]]:
        return epoch_batches(self.n_examples, batch_size, seed, epoch, keys=self.keys)

    def loss(self, batch: list[int], epoch: int):
        import torch

        feats = [self.module.preprocess([col[i] for i in batch]) for col in self.columns]
        y = self.labels[batch] if self.labels is not None else torch.zeros(len(batch))
        return self.loss_fn(feats, y), {}

    def evaluate(self) -> dict:
        return self.validator() if self.validator is not None else {}

    def export(self, folder: Path) -> None:
        save_st(self.module, folder, self.card, self.model_name)


def attach_negatives(
    pairs: list[Pair], corpus: dict[str, str], negatives: dict[str, list[str]], n: int, seed: int = 0
) -> list[Pair]:
    """Give every pair exactly ``n`` negative texts (mined ones first, then random corpus passages
    that are not positives of that query), so all examples have the same columns."""
    import random

    rng = random.Random(seed)
    ids = list(corpus)
    positives: dict[str, set[str]] = {}
    for p in pairs:
        positives.setdefault(p.query_id or p.query, set()).add(p.positive_id)
    out = []
    for p in pairs:
        key = p.query_id or p.query
        negs = [corpus[d] for d in negatives.get(key, [])][:n]
        while len(negs) < n:
            d = rng.choice(ids)
            if d not in positives[key] and corpus[d] != p.positive:
                negs.append(corpus[d])
        out.append(Pair(p.query, p.positive, negs, p.query_id, p.positive_id))
    return out


def unsupervised_pairs(data: TrainingData | None, corpus_paths, seed: int) -> tuple[list[Pair], dict[str, str]]:
    """ICT pairs from a BEIR corpus or from text files; returns (pairs, corpus for mining)."""
    from ..data.files.sources import SourceDoc, walk
    from .ict import ict_pairs

    paths = list(corpus_paths or [])
    if data is not None and data.corpus is not None:
        paths.append(Path(data.source) / "corpus.jsonl")
    docs = [(item.doc_id, item.title, item.text) for item in walk(paths) if isinstance(item, SourceDoc)]
    if not docs:
        raise EncoderkitError("--unsupervised needs a corpus", hint="pass a BEIR folder as --data or text files with --corpus")
    pairs = ict_pairs(docs, seed=seed)
    if not pairs:
        raise EncoderkitError(
            "no inverse-cloze pairs could be built from the corpus", hint="documents need at least two sentences"
        )
    from ..data.corpora.pairs import doc_text

    return pairs, {d: doc_text(t, b) for d, t, b in docs}


def train_embed(
    model: str = "default",
    data: str | Path | None = None,
    out: str | Path = "embed-model",
    *,
    loss: str = "mnrl",
    hard_negatives: str = "bm25",
    mining: MiningConfig | None = None,
    unsupervised: bool = False,
    corpus_paths=None,
    val_fraction: float = 0.1,
    val_corpus_size: int = 1000,
    max_length: int | None = None,
    scale: float = 20.0,
    mini_batch_size: int = 16,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Fine-tune a bi-encoder; the best checkpoint by validation is saved to ``out`` in
    sentence-transformers format (loads with ``Encoder.load(out)`` and ``SentenceTransformer(out)``)."""
    import torch

    if loss not in LOSSES or loss == "margin-mse":
        usable = ", ".join(name for name in LOSSES if name != "margin-mse")
        raise EncoderkitError(f"unknown loss '{loss}' for train embed", hint=f"use one of: {usable}")
    cfg = train_config or TrainConfig()
    out = Path(out)
    labelled = load_training_data(data) if data is not None else None
    train, val = split_validation(labelled, val_fraction, cfg.seed) if labelled is not None else (None, None)
    st, ref = load_st(model, max_length)
    encode = st_encoder(st)
    if unsupervised:
        pairs, corpus = unsupervised_pairs(labelled, corpus_paths, cfg.seed)
        train = TrainingData("pairs", f"ict:{data or corpus_paths}", pairs=pairs, corpus=corpus)
    if train is None:
        raise EncoderkitError("no training data", hint="pass --data, or --unsupervised with --corpus")
    if train.kind == "scored" and loss != "cosent":
        raise EncoderkitError(f"{train.source} holds scored pairs: use --loss cosent")
    if train.kind == "pairs" and loss == "cosent":
        raise EncoderkitError(
            f"{train.source} holds (query, positive) pairs: CoSENT needs scored pairs",
            hint=f"use one of: {', '.join(PAIR_LOSSES)}",
        )
    mining = mining or MiningConfig(method=hard_negatives)
    n_neg = 0
    if train.kind == "pairs":
        corpus = train.corpus or {f"p{i}": t for i, t in enumerate(dict.fromkeys(p.positive for p in train.pairs))}
        if not train.corpus:  # plain pairs: positives of other queries are the mining pool
            ids = {t: i for i, t in corpus.items()}
            train.pairs = [Pair(p.query, p.positive, p.negatives, p.query_id or p.query, ids[p.positive]) for p in train.pairs]
        given = min(len(p.negatives) for p in train.pairs)
        if given:
            n_neg = given if loss != "triplet" else 1
            train.pairs = [Pair(p.query, p.positive, p.negatives[:n_neg], p.query_id, p.positive_id) for p in train.pairs]
        elif mining.method != "none" or loss == "triplet":
            n_neg = 1 if loss == "triplet" else mining.n_negatives
            queries = {p.query_id: p.query for p in train.pairs}
            positives: dict[str, set[str]] = {}
            for p in train.pairs:
                positives.setdefault(p.query_id, set()).add(p.positive_id)
            from ..models.heads.encoder import Encoder

            enc = Encoder.load(str(ref.path), max_length=max_length) if mining.method in ("dense", "both") else None
            negs = (
                mine_hard_negatives(
                    queries, positives, corpus, mining, encoder=enc, cache_dir=cache_dir(), show_progress=show_progress
                )
                if mining.method != "none"
                else {}
            )
            out.mkdir(parents=True, exist_ok=True)
            save_negatives(out / "negatives.json", negs, mining)
            train.pairs = attach_negatives(train.pairs, corpus, negs, n_neg, cfg.seed)
    loss_fn = make_loss(loss, st, scale=scale, mini_batch_size=mini_batch_size)
    if val is None:
        evaluate, metric = None, None
    elif val.kind == "scored":
        from .validate import sts_validator

        evaluate, metric = sts_validator(val, encode), "spearman"
    elif val.corpus is not None and val.qrels:
        from .validate import ir_validator

        evaluate, metric = ir_validator(val, val.corpus, encode, size=val_corpus_size, seed=cfg.seed), "ndcg@10"
    else:
        from .validate import pair_validator

        evaluate, metric = pair_validator(val, encode), "mrr@10"

    if train.kind == "pairs":
        columns = [[p.query for p in train.pairs], [p.positive for p in train.pairs]]
        columns += [[p.negatives[j] for p in train.pairs] for j in range(n_neg)]
        keys = [(p.query, p.positive) for p in train.pairs] if loss in ("mnrl", "mnrl-symmetric", "cached-mnrl") else None
        labels = None
    else:
        columns = [[s.a for s in train.scored], [s.b for s in train.scored]]
        keys = None
        labels = torch.tensor([s.score for s in train.scored], dtype=torch.float32)
    card = {
        "task": "embed",
        "base_model": ref.name,
        "base_spec": ref.spec,
        "loss": loss,
        "data": str(data),
        "unsupervised": unsupervised,
        "hard_negatives": mining.to_dict() if n_neg else None,
        "n_train_examples": len(train),
        "n_negatives": n_neg,
        "max_length": st.max_seq_length,
    }
    objective = BiEncoderObjective(
        st,
        loss_fn,
        columns,
        labels=labels,
        keys=keys,
        validator=evaluate,
        metric=metric,
        card=card,
        model_name=f"{ref.name} (fine-tuned)",
    )
    return Trainer(objective, cfg, out, show_progress, {"card": card}).run(resume=resume)
