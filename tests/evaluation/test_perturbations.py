"""Perturbations: deterministic for a seed, and they change exactly what their level says."""

import random

import pytest

from encoderkit.errors import DataError, EncoderkitError
from encoderkit.evaluation.perturbations import (
    NEIGHBOURS,
    char_drops,
    keyboard_typos,
    mine_abbreviations,
    parse_perturbations,
    perturb,
    read_swap_table,
    recase,
    rng_for,
    shuffle_words,
    swap_terms,
)

TEXTS = [
    "Vitamin D deficiency increases the risk of multiple sclerosis.",
    "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
    "The quick brown fox jumps over the lazy dog",
    "0-dimensional biomaterials show inductive properties.",
]


def is_deletion_of(short: str, long: str) -> bool:
    it = iter(long)
    return all(c in it for c in short)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_typos_change_exactly_n_letters_with_keyboard_neighbours(level):
    for k, text in enumerate(TEXTS):
        for seed in range(20):
            out = keyboard_typos(text, level, rng_for(seed, "typo", level, k))
            assert len(out) == len(text)
            diff = [(a, b) for a, b in zip(text, out) if a != b]
            assert len(diff) == level
            for a, b in diff:
                assert b.lower() in NEIGHBOURS[a.lower()] and a.isupper() == b.isupper()


@pytest.mark.parametrize("level", [1, 2, 3])
def test_drops_delete_exactly_n_letters(level):
    for k, text in enumerate(TEXTS):
        for seed in range(20):
            out = char_drops(text, level, rng_for(seed, "drop", level, k))
            assert len(out) == len(text) - level and is_deletion_of(out, text)
            removed = list(text)
            for c in out:
                removed.remove(c)
            assert all(c.isalpha() for c in removed)


def test_same_seed_same_output_other_seed_other_output():
    for fam, level in [("typo", 2), ("drop", 3), ("shuffle", "all"), ("case", "random")]:
        a = [perturb(t, fam, level, rng_for(0, fam, level, i)) for i, t in enumerate(TEXTS)]
        b = [perturb(t, fam, level, rng_for(0, fam, level, i)) for i, t in enumerate(TEXTS)]
        c = [perturb(t, fam, level, rng_for(1, fam, level, i)) for i, t in enumerate(TEXTS)]
        assert a == b and a != c, fam


@pytest.mark.parametrize("level", [2, 3, 5])
def test_shuffle_moves_exactly_n_words(level):
    text = "alpha beta gamma delta epsilon zeta eta theta"
    for seed in range(30):
        out = shuffle_words(text, level, random.Random(seed)).split()
        assert sorted(out) == sorted(text.split())
        assert sum(a != b for a, b in zip(text.split(), out)) == level
    full = shuffle_words(text, "all", random.Random(3)).split()
    assert all(a != b for a, b in zip(text.split(), full))
    assert shuffle_words("single", 2, random.Random(0)) == "single"


def test_case_modes():
    t = "Gene X regulates TNF"
    rng = random.Random(0)
    assert recase(t, "lower", rng) == t.lower() and recase(t, "upper", rng) == t.upper()
    assert recase(t, "title", rng) == "Gene X Regulates Tnf"
    mixed = recase(t, "random", random.Random(1))
    assert mixed.lower() == t.lower() and mixed != t
    with pytest.raises(EncoderkitError):
        recase(t, "weird", rng)


def test_level_zero_is_the_identity():
    for fam in ("typo", "drop", "case", "shuffle", "synonym"):
        for t in TEXTS:
            assert perturb(t, fam, 0, random.Random(0), table={"dog": ["hound"]}) == t


def test_term_swaps_count_and_tables(tmp_path):
    table = {"tnf": ["tumor necrosis factor"], "tumor necrosis factor": ["TNF"], "dog": ["hound"]}
    text = "TNF and dog and tnf-alpha and dog"
    one = swap_terms(text, 1, random.Random(0), table)
    assert one.count("hound") + one.count("tumor necrosis factor") == 1
    full = swap_terms(text, "all", random.Random(0), table)
    assert full == "tumor necrosis factor and hound and tnf-alpha and hound"  # tnf-alpha is another word
    assert swap_terms("nothing to swap", "all", random.Random(0), table) == "nothing to swap"
    mined = mine_abbreviations(
        [
            "We measured interleukin 6 (IL-6) levels.",
            "High interleukin 6 (IL-6) predicts outcome.",
            "Magnetic resonance imaging (MRI) was used once.",
        ]
    )
    assert mined["il-6"] == ["interleukin 6"] and mined["interleukin 6"] == ["IL-6"] and "mri" not in mined
    tsv = tmp_path / "swaps.tsv"
    tsv.write_text("# synonyms\nheart attack\tmyocardial infarction\n")
    assert read_swap_table(tsv)["myocardial infarction"] == ["heart attack"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n")
    with pytest.raises(DataError, match="bad.tsv:1"):
        read_swap_table(bad)
    js = tmp_path / "s.json"
    js.write_text('{"BP": ["blood pressure"]}')
    assert read_swap_table(js)["bp"] == ["blood pressure"]


def test_parse_perturbations():
    assert parse_perturbations(["typo:1,2", "shuffle:all", "case"]) == [
        ("typo", [1, 2]),
        ("shuffle", ["all"]),
        ("case", ["lower", "upper", "random"]),
    ]
    assert parse_perturbations(["typo:1 drop:2"]) == [("typo", [1]), ("drop", [2])]
    with pytest.raises(EncoderkitError, match="unknown perturbation"):
        parse_perturbations(["noise:1"])
