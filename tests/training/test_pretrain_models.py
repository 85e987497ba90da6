"""MLM heads on head-less encoders, ELECTRA generator/discriminator, and that the objectives learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoderkit.training.pretrain.data import SpecialLayout, pack_segments, tokenize_documents
from encoderkit.training.pretrain.heads import head_parameter_names, is_tied, load_mlm_model, mlm_head, scratch_model
from encoderkit.training.pretrain.masking import IGNORE, MaskSpec
from support.corpus import english_docs


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def examples(tok):
    docs = tokenize_documents(english_docs(40, seed=2), tok)
    return pack_segments(docs, SpecialLayout.of(tok), 48)


def test_attached_head_is_tied_and_survives_save_load(tiny_model_dir, tmp_path):
    from transformers import AutoModelForMaskedLM

    model, info = load_mlm_model(tiny_model_dir)
    assert info["head_initialized"] and any("transform" in k for k in info["new_weights"])
    emb = model.get_input_embeddings().weight
    dec = model.get_output_embeddings().weight
    assert dec is emb and dec.data_ptr() == emb.data_ptr() and is_tied(model)
    # the head's own weights are outside the encoder; the tied decoder counts as the embedding
    heads = head_parameter_names(model)
    assert heads and all(n.startswith("cls.") for n in heads) and not any("decoder.weight" in n for n in heads)
    with torch.no_grad():  # change the head and embeddings so the round trip is not trivially random-equal
        model.cls.predictions.transform.dense.weight.add_(0.5)
        emb[1000].fill_(0.25)
    model.save_pretrained(tmp_path / "m")
    again = AutoModelForMaskedLM.from_pretrained(tmp_path / "m")
    assert is_tied(again)
    assert torch.equal(again.get_output_embeddings().weight[1000], torch.full((32,), 0.25))
    assert torch.equal(again.cls.predictions.transform.dense.weight, model.cls.predictions.transform.dense.weight)
    again2, info2 = load_mlm_model(tmp_path / "m")
    assert not info2["head_initialized"]


def test_head_logits_at_masked_positions_equal_full_forward(tiny_model_dir, examples, tok):
    from encoderkit.training.pretrain.collate import MaskingCollator

    model, _ = load_mlm_model(tiny_model_dir)
    model.eval()
    coll = MaskingCollator.for_tokenizer(tok, MaskSpec(), seed=0)
    batch = coll(examples[:8], list(range(8)), 0)
    sel = batch["labels"] != IGNORE
    with torch.no_grad():
        full = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        ).logits[sel]
        hidden = model.bert(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        ).last_hidden_state
        part = mlm_head(model)(hidden[sel])
    assert torch.allclose(full, part, atol=1e-5)


def _train(objective, examples, steps=30, lr=3e-3, batch=16):
    opt = torch.optim.AdamW([p for _, p in objective.named_groups()["head"] + objective.named_groups()["encoder"]], lr=lr)
    losses = []
    idx = list(range(min(batch, len(examples))))
    fixed = objective.collate([examples[i] for i in idx], idx, 0)  # a fixed batch: loss must go down
    for _ in range(steps):
        loss, stats = objective.batch_loss(fixed)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses


def test_mlm_loss_decreases(tok, examples):
    from encoderkit.training.pretrain.objectives import MLMObjective

    model = scratch_model(tok, "tiny", seed=0)
    obj = MLMObjective(model, tok, MaskSpec(prob=0.15), seed=0)
    losses = _train(obj, examples)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3]), losses


def test_nsp_objective_runs_and_learns(tok):
    from encoderkit.training.pretrain.data import nsp_pairs
    from encoderkit.training.pretrain.objectives import MLMObjective

    docs = tokenize_documents(english_docs(40, seed=3), tok)
    pairs = nsp_pairs(docs, SpecialLayout.of(tok), 48, seed=0)
    model = scratch_model(tok, "tiny", nsp=True, seed=0)
    obj = MLMObjective(model, tok, MaskSpec(), nsp=True)
    loss, stats = obj.batch_loss(obj.collate(pairs[:8], list(range(8)), 0))
    assert "nsp_loss" in stats and stats["nsp_loss"] > 0
    losses = _train(obj, pairs)
    assert losses[-1] < losses[0]
    res = obj.evaluate({"mlm": pairs[:10], "nsp": pairs[:20]})
    assert 0.0 <= res["nsp_accuracy"] <= 1.0 and res["perplexity"] > 1


def _rtd(tok, size="tiny", seed=0):
    from transformers import BertConfig, BertModel

    from encoderkit.training.pretrain.electra import RTDHead, build_generator, generator_spec
    from encoderkit.training.pretrain.objectives import RTDObjective

    torch.manual_seed(seed)
    disc = BertModel(
        BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
        add_pooling_layer=False,
    )
    gen = build_generator(disc, 0.25, seed=seed)
    return RTDObjective(disc, RTDHead(64), gen, tok, generator_spec(0.15), seed=seed)


def test_electra_generator_shares_embeddings(tok):
    obj = _rtd(tok)
    disc, gen = obj.discriminator, obj.generator
    assert gen.electra.embeddings is disc.embeddings
    assert gen.generator_lm_head.weight.data_ptr() == disc.embeddings.word_embeddings.weight.data_ptr()
    assert gen.config.hidden_size == 16 and gen.config.embedding_size == 64  # 1/4 width, projected embeddings
    groups = obj.named_groups()
    enc_ids = {id(p) for _, p in groups["encoder"]}
    assert not any(id(p) in enc_ids for _, p in groups["head"]), "a shared tensor is in both groups"
    n_unique = len({id(p) for p in obj.module.parameters()})
    assert n_unique == len(groups["head"]) + len(groups["encoder"])


def test_rtd_labels_mark_exactly_the_replaced_positions(tok, examples, monkeypatch):
    import encoderkit.training.pretrain.objectives as objectives

    obj = _rtd(tok)
    batch = obj.collate(examples[:8], list(range(8)), 0)
    sel = batch["labels"] != IGNORE
    originals = batch["original_ids"][sel]
    # every other selected position is sampled back to its original token, the rest to token 2000+i
    forced = torch.where(torch.arange(len(originals)) % 2 == 0, originals, 2000 + torch.arange(len(originals)))
    monkeypatch.setattr(objectives, "sample_replacements", lambda logits, gen=None, t=1.0: forced)
    _, _, disc_logits, targets = obj._forward(batch)
    expected = torch.zeros_like(batch["original_ids"], dtype=torch.float)
    expected[sel] = (forced != originals).float()
    cand = batch["candidates"]
    assert torch.equal(targets, expected[cand])
    assert targets.sum() == (torch.arange(len(originals)) % 2 == 1).sum()  # equal samples are "original"
    assert disc_logits.shape == targets.shape and int(cand.sum()) == len(targets)


def test_rtd_loss_decreases(tok, examples):
    obj = _rtd(tok)
    torch.manual_seed(0)
    losses = _train(obj, examples, steps=30, lr=2e-3)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3]), losses
    res = obj.evaluate({"mlm": examples[:16]})
    assert {"gen_mlm_loss", "disc_accuracy", "replaced_recall"} <= set(res)
    again = obj.evaluate({"mlm": examples[:16]})
    assert res == again, "held-out RTD evaluation must be deterministic"


def test_generator_sampling_follows_the_softmax():
    from encoderkit.training.pretrain.electra import sample_replacements

    probs = torch.tensor([0.5, 0.25, 0.15, 0.1, 0.0])
    logits = torch.log(probs.clamp(min=1e-12)).expand(200_000, 5)
    draws = sample_replacements(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=5).float() / len(draws)
    assert torch.allclose(freq, probs, atol=0.005), freq
    again = sample_replacements(logits[:1000], torch.Generator().manual_seed(0))
    assert torch.equal(again, draws[:1000])  # seeded: reproducible held-out evaluation
