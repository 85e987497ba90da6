"""Training building blocks on a tiny random BERT: losses, mining, batching, checkpoints, resume."""

import json

import numpy as np
import pytest
import torch

from conftest import write
from encoderkit.data.corpora.pairs import Pair, load_training_data, split_validation
from encoderkit.errors import DataError, EncoderkitError
from encoderkit.training.embed import BiEncoderObjective
from encoderkit.training.ict import ict_pairs
from encoderkit.training.loop import TrainConfig, Trainer, epoch_batches, lr_at
from encoderkit.training.losses import make_loss
from encoderkit.training.mining import MiningConfig, mine_hard_negatives

TOPICS = [
    "apple banana cherry",
    "violin cello piano",
    "python java rust",
    "saturn jupiter mars",
    "tennis soccer rugby",
    "oak pine birch",
    "salmon tuna trout",
    "paris rome madrid",
]


def toy_pairs():
    pairs = []
    for t, words in enumerate(TOPICS):
        w = words.split()
        for i in range(3):
            pairs.append(
                Pair(
                    f"{w[i]} question {i}",
                    f"{words} passage",
                    [f"{TOPICS[(t + 1) % 8]} passage"],
                    query_id=f"q{t}-{i}",
                    positive_id=f"d{t}",
                )
            )
    return pairs


@pytest.fixture
def st_model(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    return SentenceTransformer(str(tiny_model_dir), device="cpu")


@pytest.mark.parametrize("name", ["mnrl", "mnrl-symmetric", "cached-mnrl", "triplet", "cosent", "margin-mse"])
def test_each_loss_decreases_and_gradients_flow(st_model, name, tmp_path):
    pairs = toy_pairs()
    loss_fn = make_loss(name, st_model, mini_batch_size=4, triplet_margin=1.0, student_scale=5.0)
    if name == "cosent":
        cols = [
            [p.query for p in pairs] + [p.query for p in pairs],
            [p.positive for p in pairs] + [p.negatives[0] for p in pairs],
        ]
        labels = torch.tensor([5.0] * len(pairs) + [0.0] * len(pairs))
    elif name in ("triplet", "margin-mse"):
        cols = [[p.query for p in pairs], [p.positive for p in pairs], [p.negatives[0] for p in pairs]]
        labels = torch.full((len(pairs),), 3.0)  # teacher margin: positive clearly above negative
    else:
        cols = [[p.query for p in pairs], [p.positive for p in pairs]]
        labels = torch.zeros(len(pairs))
    n = len(cols[0])
    params = [p for p in st_model.parameters()]
    opt = torch.optim.AdamW(params, lr=3e-3)
    st_model.train()
    losses = []
    for step in range(20):
        batch = epoch_batches(n, 8, 0, step, keys=cols[1] if name.startswith(("mnrl", "cached")) else None)[0]
        feats = [st_model.preprocess([c[i] for i in batch]) for c in cols]
        loss = loss_fn(feats, labels[batch])
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad = st_model[0].auto_model.embeddings.word_embeddings.weight.grad
            assert grad is not None and float(grad.abs().sum()) > 0
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) * 0.8, losses


def test_mining_never_returns_positives_or_near_duplicates():
    long = (
        "vitamin d supplements reduce fracture risk in older adults according to a randomised trial "
        "of calcium intake bone mineral density falls hip vertebral outcomes across twelve european centres"
    )
    corpus = {
        "pos": long,
        "dup": long.upper().replace(" ", "   "),
        "near": long + " overall",
        **{f"n{i}": f"vitamin d study number {i} on bone density and calcium" for i in range(20)},
        **{f"x{i}": f"unrelated text about football match {i}" for i in range(20)},
    }
    queries = {"q": "vitamin d fracture risk"}
    for method in ("bm25",):
        cfg = MiningConfig(method=method, rank_min=0, rank_max=10, n_negatives=10, sampling="top")
        negs = mine_hard_negatives(queries, {"q": {"pos"}}, corpus, cfg)["q"]
        assert negs and not {"pos", "dup", "near"} & set(negs)
        assert all(n.startswith("n") for n in negs)  # the hard ones, not the unrelated
        skip = mine_hard_negatives(
            queries, {"q": {"pos"}}, corpus, MiningConfig(method, rank_min=3, rank_max=6, n_negatives=10, sampling="top")
        )["q"]
        assert skip == negs[3:6]
    with pytest.raises(EncoderkitError, match="unknown mining method"):
        mine_hard_negatives(queries, {}, corpus, MiningConfig("sparse"))


def test_dense_mining_excludes_cosine_duplicates(tiny_encoder):
    # the uncased tokenizer strips accents: identical tokens, identical vector, different text
    corpus = {
        "pos": "alpha beta gamma delta",
        "same": "alphá béta gamma delta",
        **{f"d{i}": f"text {i} alpha" for i in range(10)},
    }
    negs = mine_hard_negatives(
        {"q": "alpha beta"},
        {"q": {"pos"}},
        corpus,
        MiningConfig("dense", rank_min=0, rank_max=11, n_negatives=11, dup_jaccard=2.0),
        encoder=tiny_encoder,
    )["q"]
    assert "pos" not in negs and "same" not in negs


def test_epoch_batches_unique_keys_and_deterministic():
    keys = ["a", "a", "b", "c", "c", "c", "d", "e"]
    batches = epoch_batches(len(keys), 3, seed=1, epoch=0, keys=keys)
    assert sorted(i for b in batches for i in b) == list(range(8))
    for b in batches:
        assert len({keys[i] for i in b}) == len(b)
    assert batches == epoch_batches(len(keys), 3, seed=1, epoch=0, keys=keys)
    assert epoch_batches(8, 3, 1, 1) != epoch_batches(8, 3, 1, 0)
    assert lr_at(0, 1.0, 0, 100, 0.1) == pytest.approx(0.1) and lr_at(10, 1.0, 0, 100, 0.1) == 1.0
    assert lr_at(100, 1.0, 0, 100, 0.1) == 0


def test_ict_pairs():
    docs = [
        ("d1", "Title", "First sentence is long enough here. Second sentence also has words. Third one ends it."),
        ("d2", "", "Only one sentence in this document here."),
    ]
    pairs = ict_pairs(docs, seed=0, keep_prob=0.0)
    assert len(pairs) == 1 and pairs[0].positive.startswith("Title\n")
    assert pairs[0].query not in pairs[0].positive and pairs[0].positive_id == "d1"


def _train_run(st_model, out, max_steps, resume=False, fail_at=None):
    pairs = toy_pairs()
    evals = iter(range(1000))
    objective = BiEncoderObjective(
        st_model,
        make_loss("mnrl", st_model),
        [[p.query for p in pairs], [p.positive for p in pairs]],
        validator=lambda: {"score": float(next(evals))},
        metric="score",
    )
    calls = [0]
    loss = objective.loss

    def failing_loss(batch, epoch):
        calls[0] += 1
        if fail_at is not None and calls[0] == fail_at:
            raise KeyboardInterrupt
        return loss(batch, epoch)

    objective.loss = failing_loss
    config = TrainConfig(max_steps=max_steps, batch_size=6, lr=1e-3, eval_every=2, seed=3)
    return Trainer(objective, config, out).run(resume=resume)


def test_save_reload_identical_vectors_and_resume(tiny_model_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from encoderkit import Encoder

    torch.manual_seed(0)
    full = SentenceTransformer(str(tiny_model_dir), device="cpu")
    log = _train_run(full, tmp_path / "full", 6)
    assert log["step"] == 6 and log["best"]["step"] == 6
    texts = ["apple question", "violin passage here"]
    assert np.allclose(Encoder.load(tmp_path / "full").encode(texts), full.encode(texts, normalize_embeddings=True), atol=1e-6)
    assert not (tmp_path / "full" / "checkpoint").exists()  # finished runs leave only the model

    torch.manual_seed(0)
    broken = SentenceTransformer(str(tiny_model_dir), device="cpu")
    with pytest.raises(KeyboardInterrupt):
        _train_run(broken, tmp_path / "resumed", 6, fail_at=5)  # dies in step 5; checkpoint at step 4
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4
    torch.manual_seed(123)  # a different process state: everything must come from the checkpoint
    again = SentenceTransformer(str(tiny_model_dir), device="cpu")
    log2 = _train_run(again, tmp_path / "resumed", 6, resume=True)
    assert log2["step"] == 6
    for (n1, p1), (_n2, p2) in zip(full.named_parameters(), again.named_parameters()):
        assert torch.allclose(p1, p2, atol=1e-6), n1
    with pytest.raises(EncoderkitError, match="no checkpoint to resume"):
        _train_run(again, tmp_path / "fresh", 2, resume=True)


@pytest.mark.parametrize(
    "content,needle",
    [
        ('{"query": "q", "positive": ""}\n', "pairs.jsonl:1: field 'positive' is missing or empty"),
        ('{"query": "q", "positive": "p"}\n{"positive": "p"}\n', "pairs.jsonl:2: field 'query' is missing or empty"),
        ('{"query": "q", "positive": "p", "negatives": ["", "x"]}\n', "pairs.jsonl:1: field 'negatives[]'"),
        ('{"text1": "a", "text2": "b"}\n', "pairs.jsonl:1: field 'score' is missing"),
        ('{"query": "q", "positive": "p"}\n{"text1": "a", "text2": "b", "score": 1}\n', "pairs.jsonl:2: mixes"),
        ("not json\n", "pairs.jsonl:1: invalid JSON"),
    ],
)
def test_bad_training_data_names_file_and_line(tmp_path, content, needle):
    with pytest.raises(DataError) as info:
        load_training_data(write(tmp_path / "pairs.jsonl", content))
    assert needle in str(info.value)


def test_beir_training_data_and_unknown_ids(tmp_path):
    root = tmp_path / "beir"
    write(root / "corpus.jsonl", '{"_id": "d1", "title": "T", "text": "one"}\n{"_id": "d2", "text": "two"}\n')
    write(root / "queries.jsonl", '{"_id": "q1", "text": "first"}\n{"_id": "q2", "text": "second"}\n')
    write(root / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td1\t0\n")
    data = load_training_data(root)
    assert [(p.query_id, p.positive_id, p.positive) for p in data.pairs] == [("q1", "d1", "T\none"), ("q2", "d2", "two")]
    train, val = split_validation(data, 0.5, seed=0)
    assert len(train.pairs) + len(val.pairs) == 2 and set(val.qrels) | set(train.qrels) == {"q1", "q2"}
    write(root / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nq1\td9\t1\n")
    with pytest.raises(DataError, match="train.tsv:2: document id 'd9' is not in corpus.jsonl"):
        load_training_data(root)
    with pytest.raises(EncoderkitError, match="does not exist"):
        load_training_data(tmp_path / "nope")


def test_title_pairs_drop_title_from_positive():
    from encoderkit.training.ict import title_pairs

    pairs = title_pairs(
        [
            ("d1", "Vitamin D and fracture risk in adults", "A trial of 2000 adults."),
            ("d2", "Short", "text"),
            ("d3", "A title with no text", "  "),
        ]
    )
    assert [(p.query, p.positive, p.positive_id) for p in pairs] == [
        ("Vitamin D and fracture risk in adults", "A trial of 2000 adults.", "d1")
    ]


class LogitObjective:
    """A tiny sequence-classification model whose loss is the mean squared logit of one-token inputs."""

    name = "toy"
    metric = "score"

    def __init__(self, model, n: int = 4, evaluate=None):
        self.module = model
        self.n_examples = n
        self.seen_dtypes = []
        if evaluate is not None:
            self.evaluate = evaluate

    def named_groups(self):
        from encoderkit.training.loop import split_by_name

        return split_by_name(self.module.named_parameters(), ("classifier.", "pooler."))

    def loss(self, batch, epoch):
        logits = self.module(input_ids=torch.tensor([[101, 2000 + 7 * i, 3000 + i, 102] for i in batch])).logits
        self.seen_dtypes.append(logits.dtype)
        return logits.float().pow(2).mean() + (logits.float() - 1).abs().mean(), {"examples": len(batch)}

    def export(self, folder):
        pass


def _classifier(path, dropout: bool = True):
    from transformers import AutoModelForSequenceClassification

    kw = {} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return AutoModelForSequenceClassification.from_pretrained(path, **kw)


def test_head_parameters_learn_faster(tiny_cross_encoder_dir, tmp_path):
    """With head_lr_mult, the classifier moves more than the encoder in the same step."""
    model = _classifier(tiny_cross_encoder_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    Trainer(
        LogitObjective(model), TrainConfig(max_steps=1, batch_size=4, lr=1e-3, warmup_ratio=0.0, head_lr_mult=50), tmp_path / "o"
    ).run()
    moved = {n: float((p.detach() - before[n]).abs().max()) for n, p in model.named_parameters()}
    assert moved["classifier.weight"] > 10 * moved["bert.encoder.layer.0.attention.self.query.weight"]


def test_gradient_accumulation_equals_one_big_batch(tiny_cross_encoder_dir, tmp_path):
    """2 accumulated batches of 4 = one batch of 8: same losses, gradient norms and weights (dropout off)."""
    logs, weights = [], []
    for batch_size, accum in ((8, 1), (4, 2)):
        model = _classifier(tiny_cross_encoder_dir, dropout=False)
        config = TrainConfig(
            max_steps=3, batch_size=batch_size, grad_accum=accum, lr=1e-3, warmup_ratio=0.0, log_every=1, max_grad_norm=0.0
        )
        logs.append(Trainer(LogitObjective(model, n=24), config, tmp_path / f"b{batch_size}").run())
        weights.append({n: p.detach().clone() for n, p in model.named_parameters()})
    big, small = logs
    assert big["steps_per_epoch"] == small["steps_per_epoch"] == 3
    assert [r["examples"] for r in small["loss_curve"]] == [8, 8, 8]  # the stats of both batches, summed
    assert [r["loss"] for r in small["loss_curve"]] == pytest.approx([r["loss"] for r in big["loss_curve"]], rel=1e-5)
    assert [r["grad_norm"] for r in small["loss_curve"]] == pytest.approx([r["grad_norm"] for r in big["loss_curve"]], rel=1e-4)
    for name, value in weights[0].items():
        assert torch.allclose(value, weights[1][name], atol=1e-6), name
    assert not torch.allclose(weights[0]["classifier.weight"], _classifier(tiny_cross_encoder_dir).classifier.weight)


def test_head_only_phase_and_head_lr_for_a_reranker(tiny_cross_encoder_dir, tmp_path):
    """A non-pretraining objective (the cross-encoder reranker) with a head-only phase: the encoder stays
    bit-identical while the head trains with its own LR, then gets its own warm-up from 0."""
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from encoderkit.training.loop import lr_at
    from encoderkit.training.rerank import RerankObjective

    ce = CrossEncoder(str(tiny_cross_encoder_dir), num_labels=1, max_length=32, device="cpu")
    examples = [(p.query, p.positive, 1.0) for p in toy_pairs()] + [(p.query, p.negatives[0], 0.0) for p in toy_pairs()]
    objective = RerankObjective(ce, BinaryCrossEntropyLoss(ce), examples, listwise=False)
    groups = objective.named_groups()
    head = {n for n, _ in groups["head"]}
    assert any(n.endswith("classifier.weight") for n in head) and not any(".encoder." in n for n in head)
    names = {n.split("model.", 1)[1]: n for n, _ in ce.named_parameters()}  # "bert.pooler..." -> full name
    initial = {n: p.detach().clone() for n, p in ce.named_parameters()}
    at_step: dict[int, dict] = {}

    def snapshot(trainer, step):
        at_step[step] = {n: p.detach().clone() for n, p in ce.named_parameters()}

    config = TrainConfig(max_steps=10, batch_size=8, lr=1e-3, head_lr=5e-3, head_only_steps=4, warmup_ratio=0.35, log_every=1)
    log = Trainer(objective, config, tmp_path / "rr", on_step=snapshot).run()
    curve = log["loss_curve"]
    assert [r["phase"] for r in curve] == ["head"] * 4 + ["full"] * 6
    assert [r["lr_encoder"] for r in curve[:4]] == [0.0] * 4
    assert [r["lr_encoder"] for r in curve[4:6]] == pytest.approx([5e-4, 1e-3])  # own warm-up from 0: 2 steps
    assert [r["lr_head"] for r in curve] == pytest.approx([lr_at(s, 5e-3, 0, 10, 0.35) for s in range(10)])
    assert curve[0]["lr_head"] == pytest.approx(5e-3 / 4) and curve[-1]["lr_head"] == pytest.approx(5e-3 / 6)
    encoder = [n for n, _ in groups["encoder"]]
    for n in encoder:
        assert torch.equal(at_step[4][n], initial[n]), n
    classifier, query = names["classifier.weight"], names["bert.encoder.layer.0.attention.self.query.weight"]
    assert not torch.equal(at_step[4][classifier], initial[classifier])
    assert not torch.equal(at_step[10][query], initial[query])
    assert all(p.requires_grad for p in ce.parameters())  # unfrozen again after the run
    assert (tmp_path / "rr" / "config.json").is_file()  # nothing to validate: exported at the end


def test_head_only_steps_need_a_head(st_model, tmp_path):
    pairs = toy_pairs()
    objective = BiEncoderObjective(st_model, make_loss("mnrl", st_model), [[p.query for p in pairs], [p.positive for p in pairs]])
    with pytest.raises(EncoderkitError, match="no head parameters"):
        Trainer(objective, TrainConfig(max_steps=2, head_only_steps=1), tmp_path / "o")


def test_bf16_autocast_runs(tiny_cross_encoder_dir, tmp_path):
    model = _classifier(tiny_cross_encoder_dir)
    before = model.classifier.weight.detach().clone()
    objective = LogitObjective(model, n=8)
    log = Trainer(objective, TrainConfig(max_steps=2, batch_size=4, lr=1e-3, bf16=True, log_every=1), tmp_path / "o").run()
    assert objective.seen_dtypes == [torch.bfloat16] * 2  # the forward ran in bfloat16
    assert all(np.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in log["loss_curve"])
    assert model.classifier.weight.dtype == torch.float32 and not torch.equal(model.classifier.weight, before)


def test_validation_steps_and_log_names(tiny_cross_encoder_dir, tmp_path):
    """eval_every=0: start, each epoch end and the end; eval_every=N: start, every N steps and the end.
    The best model is exported (select_best), the log has the same names as for every objective."""
    scores = iter([0.5, 0.9, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7])
    exported = []
    model = _classifier(tiny_cross_encoder_dir)
    objective = LogitObjective(model, n=8, evaluate=lambda: {"score": next(scores)})
    objective.export = lambda folder: exported.append(trainer.log["step"])
    trainer = Trainer(objective, TrainConfig(max_steps=5, batch_size=4, log_every=2), tmp_path / "a")
    log = trainer.run()
    assert [e["step"] for e in log["evals"]] == [0, 2, 4, 5] and exported == [0, 2]
    assert log["best"]["step"] == 2 and log["best"]["score"] == 0.9
    assert [r["step"] for r in log["loss_curve"]] == [2, 4, 5] and [r["examples"] for r in log["loss_curve"]] == [8, 8, 4]
    assert {
        "config",
        "objective",
        "metric",
        "total_steps",
        "steps_per_epoch",
        "step",
        "completed",
        "stopped_early",
        "resumed_from_step",
        "loss_curve",
        "evals",
        "best",
        "train_seconds",
        "wall_seconds",
    } <= set(log)
    assert {"step", "epoch", "phase", "lr_head", "lr_encoder", "loss", "grad_norm"} <= set(log["loss_curve"][0])
    assert {"step", "epoch", "score", "eval_seconds"} <= set(log["evals"][1]) and log["evals"][2]["epoch"] == 2.0
    assert log["completed"] and log["objective"] == "toy" and log["metric"] == "score"
    assert json.loads((tmp_path / "a" / "train_log.json").read_text()) == log
    objective = LogitObjective(model, n=8, evaluate=lambda: {"score": 0.0})
    log = Trainer(objective, TrainConfig(max_steps=7, batch_size=4, eval_every=3, select_best=False), tmp_path / "b").run()
    assert [e["step"] for e in log["evals"]] == [0, 3, 6, 7]


def test_min_steps_lengthen_a_small_data_run_with_about_ten_validations(tiny_cross_encoder_dir, tmp_path):
    """5 epochs of 2 steps stopped a small data set half-trained (train ner: 65 steps, F1 0.44, still rising):
    min_steps runs it longer, validated every tenth of the run; patience still ends it early."""
    model = _classifier(tiny_cross_encoder_dir)
    objective = LogitObjective(model, n=8, evaluate=lambda: {"score": 0.5})
    log = Trainer(objective, TrainConfig(epochs=5, batch_size=4, min_steps=40), tmp_path / "a").run()
    assert log["steps_per_epoch"] == 2 and log["total_steps"] == 40 and log["step"] == 40
    assert [e["step"] for e in log["evals"]] == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    rising = iter(range(100))
    objective = LogitObjective(model, n=8, evaluate=lambda: {"score": min(next(rising), 3) / 10})
    log = Trainer(objective, TrainConfig(epochs=5, batch_size=4, min_steps=40, patience=2), tmp_path / "b").run()
    assert log["stopped_early"] and log["step"] == 20 and log["best"]["step"] == 12
    objective = LogitObjective(model, n=8, evaluate=lambda: {"score": 0.5})
    log = Trainer(objective, TrainConfig(epochs=5, batch_size=4, min_steps=4), tmp_path / "c").run()
    assert log["total_steps"] == 10 and [e["step"] for e in log["evals"]] == [0, 2, 4, 6, 8, 10]  # enough data: as before


def test_ctrl_c_checkpoints_and_resume_is_exact(tiny_cross_encoder_dir, tmp_path):
    """A real SIGINT finishes the step, checkpoints and raises TrainingInterrupted; resuming gives the
    weights of an uninterrupted run. A second SIGINT interrupts at once."""
    import os
    import signal

    from encoderkit.training.loop import TrainingInterrupted

    def run(out, signals_at=(), resume=False, **kw):
        torch.manual_seed(0)
        model = _classifier(tiny_cross_encoder_dir)
        torch.manual_seed(11 if resume else 0)  # a resumed run must take its RNG from the checkpoint
        objective = LogitObjective(model, n=12)
        loss, calls = objective.loss, [0]

        def loss_with_signals(batch, epoch):
            calls[0] += 1
            for _ in range(signals_at.count(calls[0])):
                os.kill(os.getpid(), signal.SIGINT)
            return loss(batch, epoch)

        objective.loss = loss_with_signals
        config = TrainConfig(max_steps=6, batch_size=4, lr=1e-3, log_every=1, **kw)
        return model, Trainer(objective, config, out).run(resume=resume)

    full_model, full = run(tmp_path / "full")
    with pytest.raises(TrainingInterrupted) as exc:
        run(tmp_path / "cut", signals_at=(2,))
    assert exc.value.step == 2
    state = json.loads((tmp_path / "cut" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 2 and not state["completed"]
    with pytest.raises(EncoderkitError, match="different settings"):
        run(tmp_path / "cut", resume=True, seed=1)
    model, resumed = run(tmp_path / "cut", resume=True)
    assert resumed["resumed_from_step"] == 2 and resumed["step"] == 6 and resumed["completed"]
    assert [r["loss"] for r in resumed["loss_curve"]] == pytest.approx([r["loss"] for r in full["loss_curve"]], rel=1e-5)
    for (name, a), (_, b) in zip(full_model.named_parameters(), model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert not (tmp_path / "cut" / "checkpoint").exists()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "twice", signals_at=(2, 2))


def test_progress_loss_is_a_number_right_after_a_log_line(tiny_cross_encoder_dir, tmp_path):
    """The bar's loss after a logging step is that log line's loss, not nan (the window was just emptied)."""
    shown = []

    def look(trainer, step):
        shown.append(trainer.window_loss())

    config = TrainConfig(max_steps=4, batch_size=4, lr=1e-3, warmup_ratio=0.0, log_every=2)
    log = Trainer(LogitObjective(_classifier(tiny_cross_encoder_dir), n=16), config, tmp_path / "o", on_step=look).run()
    assert all(np.isfinite(shown)) and len(shown) == 4
    assert shown[1] == pytest.approx(log["loss_curve"][0]["loss"]) and shown[3] == pytest.approx(log["loss_curve"][1]["loss"])
