"""Mention preprocessing for entity linking (encoderkit.tasks.link.mentions): the published examples, the
docstrings' doctests, and, where the NCBI disease corpus is in the shared data folder, how often a
Schwartz & Hearst expansion of an annotated abbreviation is itself annotated with the same concept."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from encoderkit.tasks.link import mentions
from encoderkit.tasks.link.mentions import (
    abbreviations,
    apply_spelling,
    expand_abbreviations,
    normalize_name,
    spelling_fixes,
    split_composite,
)

NCBI = SHARED_DATA / "ncbi_disease"


def test_doctests():
    result = doctest.testmod(mentions, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- abbreviations ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("Wilson disease (WD) is an inherited disorder.", {"WD": "Wilson disease"}),
        ("a model of copper toxicosis (CT) in dogs", {"CT": "copper toxicosis"}),
        ("mutations in the gene encoding adenomatous polyposis coli (APC), a protein", {"APC": "adenomatous polyposis coli"}),
        (
            "families with hereditary nonpolyposis colorectal cancer (HNPCC) were studied",
            {"HNPCC": "hereditary nonpolyposis colorectal cancer"},
        ),
        ("Familial Mediterranean fever (FMF; MIM 249100) is recessive", {"FMF": "Familial Mediterranean fever"}),
        ("patients with DMD (Duchenne muscular dystrophy) and BMD", {"DMD": "Duchenne muscular dystrophy"}),
        ("spinocerebellar ataxia type 1 (SCA1) is common", {"SCA1": "spinocerebellar ataxia type 1"}),
        ("dentatorubral-pallidoluysian atrophy (DRPLA)", {"DRPLA": "dentatorubral-pallidoluysian atrophy"}),
        # letters out of order: Schwartz & Hearst find no long form (a known limit of the algorithm)
        ("myotonic dystrophy type 1 (DM1) is common", {}),
        # no valid long form: 'A' of ATM must start a word before the parenthesis
        ("the gene (ATM) is", {}),
        ("Hex A activity (i. e., pseudodeficient)", {}),  # Latin, not a definition
        ("in 5 (12%) of the cases (n = 40)", {}),  # no letter / no capital in the short form
        ("a protein C2 (C2D) variant", {}),  # the long form may not contain the short form
        ("breast cancer (a)", {}),  # one character is too short
    ],
)
def test_abbreviations(text, pairs):
    assert abbreviations(text) == pairs


def test_abbreviations_several_in_a_document_first_definition_wins():
    text = "Wilson disease (WD) and copper toxicosis (CT). Later, Wilson's disorder (WD) again."
    assert abbreviations(text) == {"WD": "Wilson disease", "CT": "copper toxicosis"}


def test_abbreviations_long_form_stays_in_its_sentence_and_window():
    # the long form may not reach back into the previous sentence
    assert abbreviations("It is caused by Wilson. Disease (WD) is rare.") == {}
    # at most min(|SF| + 5, 2 |SF|) = 4 words for a 2-letter short form
    assert abbreviations("Wilson and his many other colleagues described the disease (WD)") == {}


def test_expand_abbreviations():
    pairs = {"WD": "Wilson disease", "CT": "copper toxicosis"}
    assert expand_abbreviations("WD", pairs) == "Wilson disease"
    assert expand_abbreviations("CT patients", pairs) == "copper toxicosis patients"
    assert expand_abbreviations("WD, CT and (CT)", pairs) == "Wilson disease, copper toxicosis and (copper toxicosis)"
    assert expand_abbreviations("CTX and pCT and wd", pairs) == "CTX and pCT and wd"  # whole words, case-sensitive
    assert expand_abbreviations("Wilson disease (WD) patients", pairs) == "Wilson disease (WD) patients"
    assert expand_abbreviations("WD", {}) == "WD"
    # one pass: a long form that contains another short form is not expanded again
    assert expand_abbreviations("A", {"A": "B form", "B": "x"}) == "B form"


# --- composite mentions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mention", "parts"),
    [
        ("breast and ovarian cancer", ["breast cancer", "ovarian cancer"]),
        ("breast or ovarian cancers", ["breast cancers", "ovarian cancers"]),
        ("breast and/or ovarian cancer", ["breast cancer", "ovarian cancer"]),
        ("colorectal, endometrial, and ovarian cancers", ["colorectal cancers", "endometrial cancers", "ovarian cancers"]),
        ("type 1 and type 2 diabetes", ["type 1 diabetes", "type 2 diabetes"]),
        ("deficiency of C5 and C6", ["deficiency of C5", "deficiency of C6"]),
        ("cancer of the breast and ovaries", ["cancer of breast", "cancer of ovaries"]),
        ("Duchenne and Becker muscular dystrophy", ["Duchenne muscular dystrophy", "Becker muscular dystrophy"]),
        ("Duchenne/Becker muscular dystrophy", ["Duchenne muscular dystrophy", "Becker muscular dystrophy"]),
        ("cleft lip/palate", ["cleft lip", "cleft palate"]),
        ("C6 and C7 deficiencies", ["C6 deficiencies", "C7 deficiencies"]),
        ("subtotal C6 and complete C6 deficiency", ["subtotal C6 deficiency", "complete C6 deficiency"]),
        ("spinocerebellar ataxias 1 and 2", ["spinocerebellar ataxias 1", "spinocerebellar ataxias 2"]),
        ("pits and/or sinuses of the lower lip", ["pits of the lower lip", "sinuses of the lower lip"]),
        ("colon and some other cancers", ["colon cancers", "cancers"]),
        ("complement deficiencies (C2 and C7)", ["complement deficiencies C2", "complement deficiencies C7"]),
        ("breast cancer and ovarian cancer", ["breast cancer", "ovarian cancer"]),  # complete conjuncts kept
        ("breast cancer and leukemia", ["breast cancer", "leukemia"]),  # no shared head
        # no split
        ("ataxia-telangiectasia", ["ataxia-telangiectasia"]),
        ("breast-ovarian cancer", ["breast-ovarian cancer"]),
        ("Alzheimer disease, familial", ["Alzheimer disease, familial"]),
        ("hereditary hemochromatosis", ["hereditary hemochromatosis"]),
        ("and", ["and"]),
        ("breast and", ["breast and"]),
    ],
)
def test_split_composite(mention, parts):
    assert split_composite(mention) == parts


def test_split_composite_documented_limits():
    # a shared modifier in front is not distributed, and a multi-word modifier is cut to one word
    assert split_composite("hereditary breast and ovarian cancer") == ["hereditary breast cancer", "ovarian cancer"]
    assert split_composite("craniofacial and central nervous system defects")[0] == "craniofacial nervous system defects"


# --- normalisation and spelling --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Alzheimer&apos;s Disease, Familial", "alzheimer s disease familial"),
        ("Stevens-Johnson Syndrome", "stevens johnson syndrome"),
        ("  Breast   Neoplasms (BRCA1/2) ", "breast neoplasms brca1 2"),
        ("Sjögren&#39;s syndrome", "sjögren s syndrome"),
        ("HbS_beta&amp;thal.", "hbs beta thal"),
        ("", ""),
    ],
)
def test_normalize_name(text, normal):
    assert normalize_name(text) == normal


def test_spelling_fixes_and_apply(tmp_path):
    path = tmp_path / "typos.txt"
    path.write_text("pnuemonia||pneumonia\n\nsmallbowel||small bowel\nfist||first\n", encoding="utf-8")
    fixes = spelling_fixes(path)
    assert fixes == {"pnuemonia": "pneumonia", "smallbowel": "small bowel", "fist": "first"}
    assert apply_spelling("pnuemonia, smallbowel; fistula fist", fixes) == "pneumonia, small bowel; fistula first"
    assert apply_spelling("Pnuemonia", fixes) == "Pnuemonia"  # case-sensitive: apply after lower-casing
    assert apply_spelling("text", {}) == "text"
    path.write_text("no separator here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="wrong"):
        spelling_fixes(path)


def test_spelling_fixes_ncbi_list():
    path = NCBI / "ncbi-spell-check.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    fixes = spelling_fixes(path)
    assert len(fixes) >= 30 and fixes["pnuemonia"] == "pneumonia"
    assert apply_spelling(normalize_name("Severe Pnuemonia with illeus"), fixes) == "severe pneumonia with ileus"


# --- the NCBI disease corpus -----------------------------------------------------------------------------------------


def _pubtator(path: Path, limit: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(pmid, title + " " + abstract, [(mention, concept ids)]) of the first ``limit`` documents."""
    documents: list[tuple[str, str, list[tuple[str, str]]]] = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8").strip()):
        lines = block.splitlines()
        pmid, _, title = lines[0].split("|", 2)
        abstract = lines[1].split("|", 2)[2]
        labels = [(fields[3], fields[5]) for fields in (line.split("\t") for line in lines[2:]) if len(fields) >= 6]
        documents.append((pmid, f"{title} {abstract}", labels))
        if len(documents) == limit:
            break
    return documents


def test_ncbi_abbreviation_expansions_are_annotated_long_forms():
    """For the first 50 training abstracts: every annotated mention that is a short form found by Schwartz &
    Hearst in its abstract expands to a long form that is annotated in the same abstract with the same
    concept id (compared after normalize_name) in at least 80% of the cases."""
    path = NCBI / "NCBItrainset_corpus.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    documents = _pubtator(path, 50)
    assert len(documents) == 50
    checked, agreed, misses = 0, 0, []
    for pmid, text, annotated_mentions in documents:
        pairs = abbreviations(text)
        annotated = {(normalize_name(mention), concept) for mention, concept in annotated_mentions}
        for mention, concept in annotated_mentions:
            if mention not in pairs:
                continue
            checked += 1
            if (normalize_name(expand_abbreviations(mention, pairs)), concept) in annotated:
                agreed += 1
            else:
                misses.append(f"{pmid}: {mention} -> {pairs[mention]} ({concept})")
    rate = agreed / checked
    print(f"abbreviation expansions annotated with the same concept: {agreed}/{checked} = {rate:.3f}")
    assert checked >= 40  # the measure rests on enough mentions
    assert rate >= 0.8, f"{agreed}/{checked} = {rate:.3f}; misses: {sorted(set(misses))}"


def test_ncbi_composite_mentions_split_into_as_many_parts_as_concepts():
    """Every CompositeMention of the training set with several concept ids: the share that split_composite
    splits into exactly as many parts as there are ids (the count only, not the parts' wording)."""
    path = NCBI / "NCBItrainset_corpus.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    counts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) == 6 and fields[4] == "CompositeMention" and len(ids := re.split(r"[|+]", fields[5])) > 1:
            counts.append(len(split_composite(fields[3])) == len(ids))
    rate = sum(counts) / len(counts)
    print(f"composite mentions split into as many parts as concept ids: {sum(counts)}/{len(counts)} = {rate:.3f}")
    assert len(counts) >= 50 and rate >= 0.9
