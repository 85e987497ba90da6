"""Masking for MLM pretraining: rates, the 80/10/10 split, specials/padding, static vs dynamic, whole words, spans."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.errors import EncoderkitError
from encoderkit.training.pretrain.masking import (
    IGNORE,
    MaskSpec,
    example_rng,
    mask_draw,
    mask_example,
    select_positions,
    target_count,
    truncated_geometric,
    word_units,
)

MASK, CLS, SEP = 103, 101, 102
RANDOM_IDS = np.arange(1000, 30000)


def sequence(rng, n_words=40, pair=False):
    """[CLS] w w ... [SEP] (w ... [SEP]) with words of 1-4 pieces; returns ids, special, word_start."""
    ids, special, ws = [CLS], [True], [True]
    for _seg in range(2 if pair else 1):
        for _ in range(n_words):
            pieces = int(rng.integers(1, 5))
            for k in range(pieces):
                ids.append(int(rng.integers(1000, 30000)))
                special.append(False)
                ws.append(k == 0)
        ids.append(SEP)
        special.append(True)
        ws.append(True)
    return np.array(ids), np.array(special), np.array(ws)


def draw_many(spec, n=400, seed=0, pair=False):
    gen = np.random.default_rng(seed)
    for i in range(n):
        ids, special, ws = sequence(gen, n_words=int(gen.integers(5, 60)), pair=pair)
        masked, labels = mask_example(ids, special, ws, spec, example_rng(seed, i, 0), mask_id=MASK, random_ids=RANDOM_IDS)
        yield ids, special, ws, masked, labels


@pytest.mark.parametrize("strategy", ["token", "whole-word", "span"])
def test_rate_split_and_specials(strategy):
    spec = MaskSpec(prob=0.15, strategy=strategy)
    cand = sel = n_mask = n_rand = n_same = 0
    for ids, special, _ws, masked, labels in draw_many(spec, n=600, pair=True):
        selected = labels != IGNORE
        assert not selected[special].any(), "a special token was selected"
        assert (masked[special] == ids[special]).all(), "a special token was changed"
        assert (masked[~selected] == ids[~selected]).all(), "an unselected token was changed"
        assert (labels[selected] == ids[selected]).all()
        cand += int((~special).sum())
        sel += int(selected.sum())
        n_mask += int((masked[selected] == MASK).sum())
        n_same += int((masked[selected] == ids[selected]).sum())
        n_rand += int(((masked[selected] != MASK) & (masked[selected] != ids[selected])).sum())
    rate = sel / cand
    if strategy == "token":  # stochastic rounding: the expected rate is exactly 15%
        assert abs(rate - 0.15) < 0.003, rate
    else:  # whole words / spans that would overshoot the budget are skipped, so slightly under
        assert 0.13 < rate <= 0.1505, rate
    tol = 0.015 if strategy != "span" else 0.04  # per-span draws: fewer independent decisions
    assert abs(n_mask / sel - 0.8) < tol and abs(n_rand / sel - 0.1) < tol and abs(n_same / sel - 0.1) < tol, (
        n_mask / sel,
        n_rand / sel,
        n_same / sel,
    )


def test_target_count_is_unbiased_for_short_sequences():
    rng = np.random.default_rng(0)
    counts = [target_count(5, 0.15, rng) for _ in range(20000)]  # 0.75 expected per sequence
    assert set(counts) == {0, 1}
    assert abs(np.mean(counts) - 0.75) < 0.02


def test_padding_never_masked_in_batches():
    from encoderkit.training.pretrain.collate import MaskingCollator
    from encoderkit.training.pretrain.data import Example

    gen = np.random.default_rng(1)
    examples = []
    for n in (5, 30, 12, 60, 8, 45):
        ids, special, ws = sequence(gen, n_words=n)
        examples.append(Example(ids, special, ws, np.zeros(len(ids), np.int8)))
    coll = MaskingCollator(MaskSpec(prob=0.5), mask_id=MASK, pad_id=0, random_ids=RANDOM_IDS, seed=3)
    for epoch in range(20):
        b = coll(examples, list(range(len(examples))), epoch)
        pad = b["attention_mask"] == 0
        assert pad.any()
        assert (b["labels"][pad] == IGNORE).all() and (b["input_ids"][pad] == 0).all()
        assert not b["candidates"][pad].any()
        assert ((b["labels"] != IGNORE) <= b["candidates"]).all()


def test_static_masks_repeat_and_dynamic_masks_change():
    from encoderkit.training.pretrain.collate import MaskingCollator
    from encoderkit.training.pretrain.data import Example

    gen = np.random.default_rng(2)
    examples = [Example(*sequence(gen, n_words=30), token_type_ids=np.zeros(1, np.int8)) for _ in range(50)]
    for e in examples:
        e.token_type_ids = np.zeros(len(e), np.int8)
    idx = list(range(50))
    static = MaskingCollator(MaskSpec(), mask_id=MASK, pad_id=0, random_ids=RANDOM_IDS, static=True, seed=5)
    dynamic = MaskingCollator(MaskSpec(), mask_id=MASK, pad_id=0, random_ids=RANDOM_IDS, static=False, seed=5)
    s = [static(examples, idx, e) for e in range(4)]
    d = [dynamic(examples, idx, e) for e in range(4)]
    for e in range(1, 4):
        assert (s[e]["input_ids"] == s[0]["input_ids"]).all() and (s[e]["labels"] == s[0]["labels"]).all()
        same_rows = [(d[e]["labels"][r] == d[0]["labels"][r]).all() for r in range(50)]
        assert sum(bool(x) for x in same_rows) <= 2, "dynamic masking should redraw (almost) every example"
    # the same epoch twice gives the same dynamic masks: reproducible and resumable
    assert (dynamic(examples, idx, 2)["input_ids"] == d[2]["input_ids"]).all()
    # static masks depend on the example index, not on the batch it lands in
    shuffled = idx[::-1]
    s_shuf = static([examples[i] for i in shuffled], shuffled, 7)
    assert (s_shuf["labels"].flip(0) == s[0]["labels"]).all()
    assert [mask_draw(e, static=True, copies=3) for e in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [mask_draw(e, static=False) for e in range(3)] == [0, 1, 2]


def test_whole_word_masks_cover_whole_words():
    spec = MaskSpec(prob=0.2, strategy="whole-word")
    n_multi = 0
    for _ids, special, ws, _masked, labels in draw_many(spec, n=300):
        selected = labels != IGNORE
        for unit in word_units(special, ws):
            assert selected[unit].all() or not selected[unit].any(), "a word was partly masked"
            n_multi += int(len(unit) > 1 and selected[unit].all())
    assert n_multi > 100  # multi-piece words were masked as wholes


def test_whole_word_uses_tokenizer_word_ids(tiny_model_dir):
    from transformers import AutoTokenizer

    from encoderkit.training.pretrain.data import tokenize_documents

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    doc = tokenize_documents(["Unbelievably, photosynthesis transmogrified everything."], tok)[0]
    pieces = tok.convert_ids_to_tokens(doc.ids.tolist())
    for p, start in zip(pieces, doc.word_start):
        assert start == (not p.startswith("##")), (p, start)


def test_span_masks_are_contiguous_whole_word_spans():
    spec = MaskSpec(prob=0.15, strategy="span")
    gen = np.random.default_rng(4)
    lengths = []
    for i in range(300):
        ids, special, ws = sequence(gen, n_words=60, pair=True)
        selected, groups = select_positions(special, ws, spec, example_rng(0, i, 0))
        units = word_units(special, ws)
        unit_of = {int(p): j for j, u in enumerate(units) for p in u}
        covered = np.zeros(len(ids), bool)
        for g in groups:
            assert (np.diff(g) == 1).all(), "span is not contiguous"
            assert not special[g[0] : g[-1] + 1].any(), "span crosses a special token"
            words = sorted({unit_of[int(p)] for p in g})
            assert len(g) == sum(len(units[w]) for w in words), "span cuts a word"
            assert len(words) <= 10
            lengths.append(len(words))
            covered[g] = True
        assert (covered == selected).all()
    assert 2.5 < np.mean(lengths) < 4.2, np.mean(lengths)  # budget cuts make observed spans a bit shorter


def test_span_replacement_is_per_span():
    spec = MaskSpec(prob=0.3, strategy="span")
    gen = np.random.default_rng(5)
    kinds = {"mask": 0, "same": 0, "random": 0}
    for i in range(300):
        ids, special, ws = sequence(gen, n_words=50)
        rng = example_rng(1, i, 0)
        selected, groups = select_positions(special, ws, spec, rng)
        from encoderkit.training.pretrain.masking import replace_selected

        out = replace_selected(ids, groups, spec, rng, mask_id=MASK, random_ids=RANDOM_IDS)
        for g in groups:
            if (out[g] == MASK).all():
                kinds["mask"] += 1
            elif (out[g] == ids[g]).all():
                kinds["same"] += 1
            else:
                assert not (out[g] == MASK).any(), "a span mixes [MASK] with other replacements"
                kinds["random"] += 1
    total = sum(kinds.values())
    assert abs(kinds["mask"] / total - 0.8) < 0.04 and kinds["random"] > 0.05 * total and kinds["same"] > 0.05 * total


def test_truncated_geometric_matches_spanbert():
    x = truncated_geometric(np.random.default_rng(0), 0.2, 10, size=200_000)
    assert x.min() == 1 and x.max() == 10
    assert abs(x.mean() - 3.797) < 0.03  # SpanBERT reports a mean span length of 3.8 words


def test_electra_generator_masking_has_no_random_tokens():
    from encoderkit.training.pretrain.electra import generator_spec

    spec = generator_spec(0.15)
    n_sel = n_mask = n_rand = 0
    for ids, _special, _ws, masked, labels in draw_many(spec, n=300):
        sel = labels != IGNORE
        n_sel += sel.sum()
        n_mask += (masked[sel] == MASK).sum()
        n_rand += ((masked[sel] != MASK) & (masked[sel] != ids[sel])).sum()
    assert n_rand == 0 and abs(n_mask / n_sel - 0.85) < 0.02


def test_invalid_specs_are_user_errors():
    with pytest.raises(EncoderkitError):
        MaskSpec(prob=0.0)
    with pytest.raises(EncoderkitError):
        MaskSpec(strategy="ngram")
    with pytest.raises(EncoderkitError):
        MaskSpec(mask_frac=0.9, random_frac=0.2)
