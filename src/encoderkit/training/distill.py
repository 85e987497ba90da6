"""`encoderkit train distill`: a fast bi-encoder learns from a slow cross-encoder's scores.

MarginMSE (Hofstätter et al., 2020): for mined (query, positive, negative) triples, the student's
margin ``scale * (cos(q, p) - cos(q, n))`` regresses the teacher's margin ``t(q, p) - t(q, n)``
(teacher logits). The teacher scores, before training, the triples the planned steps use (all of them
for a run of one epoch or more; cached in ``out/teacher_scores.json``).
Extra unlabeled queries (e.g. inverse-cloze sentences from the corpus) can be added: the teacher labels
them, which is how distillation reaches beyond the labelled data (as in GPL, Wang et al. 2022).

>>> train_distill("runs/reranker", "default", "../shared/data/scifact", "runs/distilled")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from ..data.corpora.pairs import Pair, load_training_data, split_validation
from ..errors import EncoderkitError
from .embed import BiEncoderObjective, load_st, st_encoder
from .loop import TrainConfig, Trainer
from .mining import MiningConfig, cache_dir, mine_hard_negatives, save_negatives
from .teachers import triple_scores


def train_distill(
    teacher: str | Path,
    student: str = "default",
    data: str | Path = "",
    out: str | Path = "distilled",
    *,
    mining: MiningConfig | None = None,
    extra_pairs: list[Pair] | None = None,
    student_scale: float = 10.0,
    val_fraction: float = 0.1,
    val_corpus_size: int = 1000,
    max_length: int | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Distil ``teacher`` (a cross-encoder folder or hub id) into ``student`` (a bi-encoder)."""
    import torch

    from ..models.heads.cross_encoder import Reranker
    from ..models.heads.encoder import Encoder

    cfg = train_config or TrainConfig(lr=2e-5, batch_size=32)
    mining = mining or MiningConfig(method="both", n_negatives=4, rank_min=0, rank_max=30)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labelled = load_training_data(data)
    if labelled.kind != "pairs" or labelled.corpus is None:
        raise EncoderkitError(
            f"{data}: distillation needs a BEIR folder (queries, qrels, corpus)", hint="triples are mined from its corpus"
        )
    train, val = split_validation(labelled, val_fraction, cfg.seed)
    tea = Reranker.load(teacher)
    st, ref = load_st(student, max_length)
    corpus = train.corpus
    pairs = list(train.pairs) + list(extra_pairs or [])
    queries = {p.query_id: p.query for p in pairs}
    positives: dict[str, set[str]] = {}
    for p in pairs:
        positives.setdefault(p.query_id, set()).add(p.positive_id)
    enc = Encoder.load(str(ref.path), max_length=max_length) if mining.method in ("dense", "both") else None
    negs = mine_hard_negatives(
        queries, positives, corpus, mining, encoder=enc, cache_dir=cache_dir(), show_progress=show_progress
    )
    save_negatives(out / "negatives.json", negs, mining)
    triples = [(p.query, p.positive, corpus[d]) for p in pairs for d in negs.get(p.query_id, [])]
    if not triples:
        raise EncoderkitError("no (query, positive, negative) triples could be mined", hint="check the data")
    from .losses import make_loss

    loss_fn = make_loss("margin-mse", st, student_scale=student_scale)
    evaluate = None
    if val is not None:
        from .validate import ir_validator

        evaluate = ir_validator(val, val.corpus, st_encoder(st), size=val_corpus_size, seed=cfg.seed)
    card = {
        "task": "distill",
        "base_model": ref.name,
        "teacher": tea.describe(),
        "data": str(data),
        "mining": mining.to_dict(),
        "n_triples": len(triples),
        "extra_pairs": len(extra_pairs or []),
        "student_scale": student_scale,
    }
    columns = [[t[c] for t in triples] for c in range(3)]
    objective = BiEncoderObjective(
        st,
        loss_fn,
        columns,
        validator=evaluate,
        metric="ndcg@10",
        card=card,
        name="distill",
        model_name=f"{ref.name} (distilled)",
    )
    trainer = Trainer(objective, cfg, out, show_progress, {"card": card})
    needed = trainer.planned_examples()  # a short run scores only the triples its steps use
    scores = triple_scores(tea, [triples[i] for i in needed], out / "teacher_scores.json", show_progress)
    margins = torch.full((len(triples),), float("nan"))
    margins[needed] = torch.tensor(scores[:, 0] - scores[:, 1])
    objective.labels = margins
    card.update(  # the same dict as the card in the trainer's log and the exported model's card
        n_teacher_scored=len(needed),
        teacher_margin_mean=float(margins[needed].mean()),
        teacher_margin_std=float(margins[needed].std()),
    )
    return trainer.run(resume=resume)
