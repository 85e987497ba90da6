"""Word-shape (casing) features for uncased encoders.

The bundled backbones lower-case their input (all-MiniLM-L6-v2, all-mpnet-base-v2), which throws away
the strongest single cue for names in English. The tagger gives each word one of :data:`CASES` and adds a
learned embedding of it to the input embeddings of every sub-token of the word (zero-initialised, so
training starts from the unchanged encoder), in the spirit of the capitalisation features of classic
CRF taggers and of Lample et al. (2016) / Ma & Hovy (2016), where a casing embedding is concatenated
to word embeddings.

>>> [CASES[case_id(w)] for w in ["the", "Paris", "NATO", "McDonald", "1996", "-", "A"]]
['lower', 'title', 'upper', 'mixed', 'digit', 'other', 'title']
"""

from __future__ import annotations

CASES = ("none", "lower", "upper", "title", "mixed", "digit", "other")  # "none": special tokens, padding


def case_id(word: str) -> int:
    """Index in :data:`CASES` of a word's shape."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return CASES.index("digit") if any(c.isdigit() for c in word) else CASES.index("other")
    if all(c.islower() for c in letters):
        return CASES.index("lower")
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return CASES.index("title")
    if all(c.isupper() for c in letters):
        return CASES.index("upper")
    return CASES.index("mixed")
