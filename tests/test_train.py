"""Training building blocks on a tiny random BERT: losses, mining, batching, checkpoints, resume."""

import json

import numpy as np
import pytest
import torch

from conftest import write
from encoderkit.errors import DataError, EncoderkitError
from encoderkit.data.pairs import Pair, TrainingData, load_training_data, split_validation
from encoderkit.training.ict import ict_pairs
from encoderkit.training.loop import FitConfig, epoch_batches, fit, lr_factor
from encoderkit.training.losses import make_loss
from encoderkit.training.mining import MiningConfig, mine_hard_negatives

TOPICS = ["apple banana cherry", "violin cello piano", "python java rust", "saturn jupiter mars",
          "tennis soccer rugby", "oak pine birch", "salmon tuna trout", "paris rome madrid"]


def toy_pairs():
    pairs = []
    for t, words in enumerate(TOPICS):
        w = words.split()
        for i in range(3):
            pairs.append(Pair(f"{w[i]} question {i}", f"{words} passage", [f"{TOPICS[(t + 1) % 8]} passage"],
                              query_id=f"q{t}-{i}", positive_id=f"d{t}"))
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
        cols = [[p.query for p in pairs] + [p.query for p in pairs], [p.positive for p in pairs] + [p.negatives[0] for p in pairs]]
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
    long = ("vitamin d supplements reduce fracture risk in older adults according to a randomised trial "
            "of calcium intake bone mineral density falls hip vertebral outcomes across twelve european centres")
    corpus = {"pos": long,
              "dup": long.upper().replace(" ", "   "),
              "near": long + " overall",
              **{f"n{i}": f"vitamin d study number {i} on bone density and calcium" for i in range(20)},
              **{f"x{i}": f"unrelated text about football match {i}" for i in range(20)}}
    queries = {"q": "vitamin d fracture risk"}
    for method in ("bm25",):
        cfg = MiningConfig(method=method, rank_min=0, rank_max=10, n_negatives=10, sampling="top")
        negs = mine_hard_negatives(queries, {"q": {"pos"}}, corpus, cfg)["q"]
        assert negs and not {"pos", "dup", "near"} & set(negs)
        assert all(n.startswith("n") for n in negs)  # the hard ones, not the unrelated
        skip = mine_hard_negatives(queries, {"q": {"pos"}}, corpus, MiningConfig(method, rank_min=3, rank_max=6,
                                                                                n_negatives=10, sampling="top"))["q"]
        assert skip == negs[3:6]
    with pytest.raises(EncoderkitError, match="unknown mining method"):
        mine_hard_negatives(queries, {}, corpus, MiningConfig("sparse"))


def test_dense_mining_excludes_cosine_duplicates(tiny_encoder):
    # the uncased tokenizer strips accents: identical tokens, identical vector, different text
    corpus = {"pos": "alpha beta gamma delta", "same": "alphá béta gamma delta", **{f"d{i}": f"text {i} alpha" for i in range(10)}}
    negs = mine_hard_negatives({"q": "alpha beta"}, {"q": {"pos"}}, corpus,
                               MiningConfig("dense", rank_min=0, rank_max=11, n_negatives=11, dup_jaccard=2.0),
                               encoder=tiny_encoder)["q"]
    assert "pos" not in negs and "same" not in negs


def test_epoch_batches_unique_keys_and_deterministic():
    keys = ["a", "a", "b", "c", "c", "c", "d", "e"]
    batches = epoch_batches(len(keys), 3, seed=1, epoch=0, keys=keys)
    assert sorted(i for b in batches for i in b) == list(range(8))
    for b in batches:
        assert len({keys[i] for i in b}) == len(b)
    assert batches == epoch_batches(len(keys), 3, seed=1, epoch=0, keys=keys)
    assert epoch_batches(8, 3, 1, 1) != epoch_batches(8, 3, 1, 0)
    assert lr_factor(0, 100, 10) == pytest.approx(0.1) and lr_factor(10, 100, 10) == 1.0 and lr_factor(100, 100, 10) == 0


def test_ict_pairs():
    docs = [("d1", "Title", "First sentence is long enough here. Second sentence also has words. Third one ends it."),
            ("d2", "", "Only one sentence in this document here.")]
    pairs = ict_pairs(docs, seed=0, keep_prob=0.0)
    assert len(pairs) == 1 and pairs[0].positive.startswith("Title\n")
    assert pairs[0].query not in pairs[0].positive and pairs[0].positive_id == "d1"


def _fit_run(st_model, out, max_steps, resume=False, fail_at=None):
    pairs = toy_pairs()
    loss_fn = make_loss("mnrl", st_model)
    calls = [0]

    def step_loss(batch):
        calls[0] += 1
        if fail_at is not None and calls[0] == fail_at:
            raise KeyboardInterrupt
        return loss_fn([st_model.preprocess([pairs[i].query for i in batch]),
                        st_model.preprocess([pairs[i].positive for i in batch])], torch.zeros(len(batch)))

    evals = iter(range(1000))
    return fit(st_model, step_loss, len(pairs), FitConfig(max_steps=max_steps, batch_size=6, lr=1e-3, eval_every=2,
                                                          seed=3), out,
               evaluate=lambda: {"score": float(next(evals))}, metric="score",
               export=lambda folder: st_model.save(str(folder)), resume=resume)


def test_save_reload_identical_vectors_and_resume(tiny_model_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from encoderkit import Encoder

    torch.manual_seed(0)
    full = SentenceTransformer(str(tiny_model_dir), device="cpu")
    log = _fit_run(full, tmp_path / "full", 6)
    assert log["step"] == 6 and log["best"]["step"] == 6
    texts = ["apple question", "violin passage here"]
    assert np.allclose(Encoder.load(tmp_path / "full").encode(texts), full.encode(texts, normalize_embeddings=True), atol=1e-6)
    assert not (tmp_path / "full" / "checkpoint").exists()  # finished runs leave only the model

    torch.manual_seed(0)
    broken = SentenceTransformer(str(tiny_model_dir), device="cpu")
    with pytest.raises(KeyboardInterrupt):
        _fit_run(broken, tmp_path / "resumed", 6, fail_at=5)  # dies in step 5; checkpoint at step 4
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4
    torch.manual_seed(123)  # a different process state: everything must come from the checkpoint
    again = SentenceTransformer(str(tiny_model_dir), device="cpu")
    log2 = _fit_run(again, tmp_path / "resumed", 6, resume=True)
    assert log2["step"] == 6
    for (n1, p1), (n2, p2) in zip(full.named_parameters(), again.named_parameters()):
        assert torch.allclose(p1, p2, atol=1e-6), n1
    with pytest.raises(EncoderkitError, match="no checkpoint to resume"):
        _fit_run(again, tmp_path / "fresh", 2, resume=True)


@pytest.mark.parametrize("content,needle", [
    ('{"query": "q", "positive": ""}\n', "pairs.jsonl:1: field 'positive' is missing or empty"),
    ('{"query": "q", "positive": "p"}\n{"positive": "p"}\n', "pairs.jsonl:2: field 'query' is missing or empty"),
    ('{"query": "q", "positive": "p", "negatives": ["", "x"]}\n', "pairs.jsonl:1: field 'negatives[]'"),
    ('{"text1": "a", "text2": "b"}\n', "pairs.jsonl:1: field 'score' is missing"),
    ('{"query": "q", "positive": "p"}\n{"text1": "a", "text2": "b", "score": 1}\n', "pairs.jsonl:2: mixes"),
    ("not json\n", "pairs.jsonl:1: invalid JSON"),
])
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

    pairs = title_pairs([("d1", "Vitamin D and fracture risk in adults", "A trial of 2000 adults."),
                         ("d2", "Short", "text"), ("d3", "A title with no text", "  ")])
    assert [(p.query, p.positive, p.positive_id) for p in pairs] == [
        ("Vitamin D and fracture risk in adults", "A trial of 2000 adults.", "d1")]


def test_head_parameters_learn_faster(tiny_cross_encoder_dir, tmp_path):
    """With head_lr_mult, the classifier moves more than the encoder in the same step."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def step_loss(batch):
        return model(input_ids=torch.tensor([[101, 2000 + i, 102] for i in batch])).logits.pow(2).mean()

    fit(model, step_loss, 4, FitConfig(max_steps=1, batch_size=4, lr=1e-3, warmup_ratio=0.0, head_lr_mult=50),
        tmp_path / "o", evaluate=None, metric="none", export=lambda folder: None)
    moved = {n: float((p.detach() - before[n]).abs().max()) for n, p in model.named_parameters()}
    assert moved["classifier.weight"] > 10 * moved["bert.encoder.layer.0.attention.self.query.weight"]
