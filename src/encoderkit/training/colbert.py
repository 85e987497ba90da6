"""`encoderkit train colbert`: a late-interaction retriever from an encoder backbone, on the one loop.

The model (:mod:`encoderkit.models.heads.colbert`): the backbone (the bundled MiniLM by default) + a linear
projection to ``dim`` (128) dimensions, initialised with the top principal directions of the backbone's
own token states on a sample of the corpus (so training starts near the zero-training MaxSim baseline,
not from a random projection); the ``[Q]``/``[D]`` marker rows start as copies of the embeddings of
"query" and "document".

Losses, per batch of (query, positive, ``negatives`` mined hard negatives):

- contrastive (ColBERT, Khattab & Zaharia 2020): softmax cross-entropy of ``MaxSim / temperature`` over
  every passage of the batch (in-batch negatives + all hard negatives), the query's own positive as
  the target; passages that are judged positives of the query elsewhere in the batch are masked out;
- distillation from teacher scores of (query, positive, its negatives) (:mod:`.teachers`: a
  cross-encoder, another model, or the project's fused first stage): KL divergence between the teacher's
  and the student's softmax (ColBERTv2, Santhanam et al. 2022) or MarginMSE on score margins
  (Hofstätter et al. 2020), weighted by ``distill_weight``.

Hard negatives are mined once (BM25 and the dense model, a rank window that skips the judged positives
and their near-duplicates; saved in ``out/negatives.json``); each epoch takes a different seeded subset
of each query's pool. Validation each epoch: held-out training queries ranked by exact MaxSim over a
1,000-document validation corpus (nDCG@10); the best checkpoint is what ``out`` holds.

>>> train_colbert("default", "../shared/data/scifact", "runs/colbert")   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.corpora.pairs import TrainingData, load_training_data, split_validation
from ..errors import EncoderkitError
from .loop import TrainConfig, Trainer, epoch_batches, split_by_name
from .mining import MiningConfig, cache_dir, mine_hard_negatives, save_negatives
from .teachers import parse_teacher, teacher_scores

DISTILL_LOSSES = ("kl", "margin-mse")


@dataclass
class Example:
    query_id: str
    query: str
    positive_id: str
    pool: list[str]  # mined negatives (corpus ids)
    positive: str | None = None  # the positive's text when it is not the corpus text (e.g. a title pair)


def pca_projection(token_states: np.ndarray, dim: int) -> np.ndarray:
    """[dim, hidden]: the top right-singular vectors of unit-normalised token states (uncentred, so
    inner products between tokens are what is kept best), padded with random orthonormal rows when
    there are fewer samples than ``dim``.

    >>> x = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    >>> w = pca_projection(x, 3); w.shape, np.allclose(w @ w.T, np.eye(3), atol=1e-5)
    ((3, 8), True)
    """
    x = token_states / np.clip(np.linalg.norm(token_states, axis=1, keepdims=True), 1e-12, None)
    _, _, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    w = vt[:dim]
    if len(w) < dim:
        extra = np.random.default_rng(0).normal(size=(dim - len(w), x.shape[1]))
        q, _ = np.linalg.qr(np.concatenate([w, extra]).T)
        w = q.T[:dim]
    return w.astype(np.float32)


def token_states(colbert, texts: list[str], max_length: int) -> np.ndarray:
    """The backbone's token states (skiplist applied) of ``texts``, stacked [tokens, hidden]."""
    feats = colbert.document_features(texts, max_length)
    hidden = colbert.backbone.forward({k: v for k, v in feats.items() if k != "scoring_mask"})
    return hidden[feats["scoring_mask"]]


class ColBERTObjective:
    """MaxSim contrastive (+ optional distillation) loss over a torch ``ModuleDict(bert, linear)``."""

    name = "colbert"
    metric = "ndcg@10"

    def __init__(
        self,
        colbert,
        module,
        examples: list[Example],
        corpus: dict[str, str],
        positives: dict[str, set[str]],
        *,
        n_negatives: int,
        temperature: float,
        doc_max_length: int,
        teacher: dict[str, dict[str, float]] | None = None,
        distill_weight: float = 1.0,
        distill_loss: str = "kl",
        teacher_temperature: float = 1.0,
        validator=None,
        export=None,
    ):
        self.colbert = colbert  # tokenisation + inference code shared with the trained module
        self.module = module
        self.examples = examples
        self.corpus = corpus
        self.positives = positives
        self.n_negatives = n_negatives
        self.temperature = temperature
        self.doc_max_length = doc_max_length
        self.teacher = teacher or {}
        self.distill_weight = distill_weight
        self.distill_loss = distill_loss
        self.teacher_temperature = teacher_temperature
        self.validator = validator
        self._export = export
        self.n_examples = len(examples)
        self.seed = 0

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), ("linear.",))

    def batches(self, epoch: int, batch_size: int, seed: int) -> list[list[int]]:
        self.seed = seed
        keys = [(e.query_id, e.positive_id) for e in self.examples]
        return epoch_batches(self.n_examples, batch_size, seed, epoch, keys=keys)

    def negatives_of(self, i: int, epoch: int) -> list[str]:
        """This epoch's negatives of example ``i``: a seeded subset of its pool (all of it if smaller)."""
        pool = self.examples[i].pool
        if len(pool) <= self.n_negatives:
            return list(pool)
        rng = np.random.default_rng([int(self.seed) & 0xFFFFFFFF, int(epoch), int(i), 11])
        return [pool[j] for j in sorted(rng.choice(len(pool), self.n_negatives, replace=False))]

    def _encode(self, feats: dict[str, np.ndarray]):
        import torch

        bert, linear = self.module["bert"], self.module["linear"]
        inputs = {k: torch.as_tensor(v) for k, v in feats.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = bert(**inputs).last_hidden_state
        out = linear(hidden.float())
        return torch.nn.functional.normalize(out.float(), dim=-1), torch.as_tensor(feats["scoring_mask"])

    def loss(self, batch: list[int], epoch: int):
        import torch
        import torch.nn.functional as F

        from ..retrieval.colbert.scores import maxsim_torch

        ex = [self.examples[i] for i in batch]
        groups = [[e.positive_id] + self.negatives_of(i, epoch) for i, e in zip(batch, ex)]
        doc_ids = [d for g in groups for d in g]
        texts = [t for e, g in zip(ex, groups) for t in [e.positive or self.corpus[g[0]], *(self.corpus[x] for x in g[1:])]]
        q, q_mask = self._encode(self.colbert.query_features([e.query for e in ex]))
        d, d_mask = self._encode(self.colbert.document_features(texts, self.doc_max_length))
        with torch.autocast(q.device.type, enabled=False):  # sums of cosines need float32
            scores = maxsim_torch(q.float(), q_mask, d.float(), d_mask)  # [B, N]
        starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
        targets = torch.as_tensor(starts, dtype=torch.long)
        blocked = torch.zeros_like(scores, dtype=torch.bool)
        for row, e in enumerate(ex):  # other copies of this query's judged positives are not negatives
            for col, doc in enumerate(doc_ids):
                if col != starts[row] and doc in self.positives.get(e.query_id, ()):
                    blocked[row, col] = True
        logits = (scores / self.temperature).masked_fill(blocked, float("-inf"))
        ce = F.cross_entropy(logits, targets)
        stats = {"ce": float(ce.detach()), "acc": float((logits.argmax(1) == targets).float().mean())}
        total = ce
        if self.teacher and self.distill_weight > 0:
            distill = self._distill(scores, starts, groups, ex)
            if distill is not None:
                total = total + self.distill_weight * distill
                stats["distill"] = float(distill.detach())
        return total, stats

    def _distill(self, scores, starts, groups, ex):
        import torch
        import torch.nn.functional as F

        rows, s_rows = [], []
        for row, (e, g) in enumerate(zip(ex, groups)):
            t = self.teacher.get(e.query_id)
            if t is None or any(d not in t for d in g):
                continue
            rows.append(torch.tensor([t[d] for d in g], dtype=torch.float32))
            s_rows.append(scores[row, starts[row] : starts[row] + len(g)])
        if not rows or len({len(r) for r in rows}) != 1:
            return None
        teacher, student = torch.stack(rows), torch.stack(s_rows)
        if self.distill_loss == "margin-mse":
            return F.mse_loss(student[:, :1] - student[:, 1:], teacher[:, :1] - teacher[:, 1:])
        target = F.softmax(teacher / self.teacher_temperature, dim=1)
        return F.kl_div(F.log_softmax(student / self.temperature, dim=1), target, reduction="batchmean")

    def evaluate(self) -> dict:
        if self.validator is None:
            return {}
        self.colbert.projection = self.module["linear"].weight.detach().float().cpu().numpy().copy()
        return self.validator(self.colbert)

    def export(self, folder: Path) -> None:
        self._export(folder)


def colbert_validator(val: TrainingData, corpus: dict[str, str], *, size: int = 1000, seed: int = 0, doc_max_length: int = 256):
    """nDCG@10 / MRR@10 of held-out queries by exact MaxSim over a reduced corpus, encoded at each call
    with the model as it is (the inference code path)."""
    from ..retrieval.metrics import evaluate
    from .validate import validation_corpus

    sub = validation_corpus(val, corpus, size, seed)
    ids = list(sub)
    qids = sorted({p.query_id for p in val.pairs})
    qrels = {q: {d: g for d, g in val.qrels[q].items() if d in sub} for q in qids}

    def run(colbert) -> dict:
        docs = colbert.encode_documents([sub[i] for i in ids], batch_size=32, max_length=doc_max_length)
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
        tokens = np.concatenate(docs)
        q, mask = colbert.encode_queries([val.queries[x] for x in qids])
        from ..retrieval.colbert.scores import maxsim_packed

        run_ = {}
        for qid, qv, m in zip(qids, q, mask):
            s = maxsim_packed(qv[m], tokens, offsets)
            run_[qid] = [ids[j] for j in np.argsort(-s, kind="stable")[:100]]
        res = evaluate(qrels, run_, metrics=("ndcg@10", "mrr@10", "recall@100"))["mean"]
        return {k: round(v, 4) for k, v in res.items()} | {"val_queries": len(qids), "val_corpus": len(ids)}

    return run


def train_colbert(
    model: str = "default",
    data: str | Path = "",
    out: str | Path = "colbert",
    *,
    dim: int = 128,
    query_length: int = 32,
    doc_length: int = 300,
    doc_max_length: int = 256,
    negatives: int = 3,
    mining: MiningConfig | None = None,
    temperature: float = 1.0,
    teacher: str = "none",
    distill_weight: float = 1.0,
    distill_loss: str = "kl",
    teacher_temperature: float | None = None,
    init_projection: str = "pca",
    extra_pairs: list | None = None,
    val_fraction: float = 0.1,
    val_corpus_size: int = 1000,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Train a ColBERT model from ``model``'s backbone on a BEIR folder's training qrels (plus
    ``extra_pairs``, e.g. title or inverse-cloze pairs from the corpus, with negatives mined the same
    way); the best checkpoint by validation nDCG@10 is saved to ``out`` (loads with :meth:`ColBERT.load`)."""
    import torch

    from ..models.backbone import Backbone
    from ..models.heads.colbert import PROJECTION, ColBERT, ColBERTConfig, is_colbert_folder, read_config, save_colbert
    from ..models.ref import resolve_model
    from ..runtime import configure_torch

    if distill_loss not in DISTILL_LOSSES:
        raise EncoderkitError(f"unknown distillation loss '{distill_loss}'", hint=f"use one of: {', '.join(DISTILL_LOSSES)}")
    if init_projection not in ("pca", "random"):
        raise EncoderkitError(f"unknown projection init '{init_projection}'", hint="use pca or random")
    teacher_kind = parse_teacher(teacher)[0]
    if teacher_temperature is None:  # fused scores live in [0, 1]; logits and MaxSim sums spread wider
        teacher_temperature = 0.1 if teacher_kind == "fused" else 1.0
    if temperature <= 0 or teacher_temperature <= 0:
        raise EncoderkitError("temperatures must be > 0")
    cfg = train_config or TrainConfig(lr=3e-5, batch_size=32, head_lr_mult=10.0, epochs=4)
    mining = mining or MiningConfig(method="both", n_negatives=max(8, negatives), rank_min=0, rank_max=30)
    out = Path(out)
    labelled = load_training_data(data)
    if labelled.kind != "pairs" or labelled.corpus is None:
        raise EncoderkitError(
            f"{data}: ColBERT training needs a BEIR folder (queries, qrels, corpus)", hint="negatives are mined from its corpus"
        )
    train, val = split_validation(labelled, val_fraction, cfg.seed)
    corpus = train.corpus

    configure_torch()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    ref = resolve_model(model)
    backbone = Backbone.load(ref)
    if backbone.torch_module is None:
        raise EncoderkitError(f"{ref.name} did not load as a torch model")
    bert = backbone.torch_module
    continuing = is_colbert_folder(ref.path)  # a ColBERT model trained further keeps its head
    if continuing:
        from safetensors.numpy import load_file

        config = read_config(ref)
        dim = config.dim
    else:
        config = ColBERTConfig(dim=dim, query_length=query_length, doc_length=doc_length)
        config.check()
    colbert = ColBERT(backbone, ref, config, np.zeros((dim, backbone.hidden_size), np.float32))
    tok = backbone.raw_tokenizer()
    if not continuing:
        with torch.no_grad():  # marker rows start as the embeddings of the words they stand for
            emb = bert.get_input_embeddings().weight
            for marker, word in ((config.query_marker, "query"), (config.doc_marker, "document")):
                mid, wid = tok.token_to_id(marker), tok.token_to_id(word)
                if mid is not None and wid is not None:
                    emb[mid] = emb[wid]
    if continuing:
        proj = load_file(str(ref.path / PROJECTION))["weight"].astype(np.float32)
    elif init_projection == "pca":
        rng = np.random.default_rng(cfg.seed)
        sample_ids = rng.choice(list(corpus), min(64, len(corpus)), replace=False)
        proj = pca_projection(token_states(colbert, [corpus[d] for d in sample_ids], doc_max_length), dim)
    else:
        g = np.random.default_rng(cfg.seed).normal(size=(dim, backbone.hidden_size))
        proj = (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)
    colbert.projection = proj
    linear = torch.nn.Linear(backbone.hidden_size, dim, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(proj))
    module = torch.nn.ModuleDict({"bert": bert, "linear": linear})

    pairs = list(train.pairs) + list(extra_pairs or [])
    positives: dict[str, set[str]] = {}
    for p in list(labelled.pairs) + list(extra_pairs or []):
        positives.setdefault(p.query_id, set()).add(p.positive_id)
    queries = {p.query_id: p.query for p in pairs}
    enc = None
    if mining.method in ("dense", "both"):
        from ..models.heads.encoder import Encoder

        enc = Encoder.load(str(ref.path))
    negs = mine_hard_negatives(
        queries,
        {q: positives[q] for q in queries},
        corpus,
        mining,
        encoder=enc,
        cache_dir=cache_dir(),
        show_progress=show_progress,
    )
    out.mkdir(parents=True, exist_ok=True)
    save_negatives(out / "negatives.json", negs, mining)
    examples = [
        Example(
            p.query_id,
            p.query,
            p.positive_id,
            list(negs.get(p.query_id, [])),
            None if p.positive == corpus.get(p.positive_id) else p.positive,
        )
        for p in pairs
    ]
    teacher_map: dict[str, dict[str, float]] = {}
    if teacher_kind != "none":
        groups: dict[str, list[str]] = {}
        for e in examples:  # every document a query's examples can show it: positives and the pool
            groups[e.query_id] = list(dict.fromkeys(groups.get(e.query_id, []) + [e.positive_id, *e.pool]))
        raw = teacher_scores(
            teacher,
            groups,
            queries,
            corpus,
            cache=out / "teacher_scores.json",
            cache_dir=cache_dir(),
            show_progress=show_progress,
        )
        teacher_map = {q: dict(zip(groups[q], s)) for q, s in raw.items()}
    validator = (
        colbert_validator(val, corpus, size=val_corpus_size, seed=cfg.seed, doc_max_length=doc_max_length) if val else None
    )
    card = {
        "task": "colbert",
        "name": f"{ref.name} ColBERT",
        "base_model": ref.name,
        "data": str(data),
        "dim": dim,
        "query_length": query_length,
        "doc_length": doc_length,
        "train_doc_max_length": doc_max_length,
        "negatives_per_example": negatives,
        "mining": mining.to_dict(),
        "temperature": temperature,
        "teacher": teacher,
        "distill_weight": distill_weight if teacher_kind != "none" else 0.0,
        "distill_loss": distill_loss,
        "teacher_temperature": teacher_temperature,
        "init_projection": init_projection,
        "n_train_examples": len(examples),
        "extra_pairs": len(extra_pairs or []),
    }

    def export(folder: Path) -> None:
        save_colbert(
            folder,
            transformer=bert,
            tokenizer_dir=ref.path,
            projection=linear.weight.detach().float().cpu().numpy(),
            config=config,
            card=card,
        )

    objective = ColBERTObjective(
        colbert,
        module,
        examples,
        corpus,
        positives,
        n_negatives=negatives,
        temperature=temperature,
        doc_max_length=doc_max_length,
        teacher=teacher_map,
        distill_weight=distill_weight,
        distill_loss=distill_loss,
        teacher_temperature=teacher_temperature,
        validator=validator,
        export=export,
    )
    torch.manual_seed(cfg.seed)  # dropout: two runs with the same seed take the same steps
    return Trainer(objective, cfg, out, show_progress, {"card": card}).run(resume=resume)
