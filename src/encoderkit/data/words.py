"""Words and sentences of raw text, with exact character offsets (no model involved).

The taggers label *words* (the first sub-token of each carries the word's label), so raw text is first
split into words whose ``(start, end)`` offsets point into the original string: whatever the spacing,
newlines or unicode, ``text[start:end]`` is the word. The split is close to the Penn-Treebank style of
CoNLL-2003 (abbreviations such as ``U.S.`` and numbers such as ``1996-08-22`` stay whole, punctuation
is split off, clitics such as ``'s`` are their own word), so a model trained on CoNLL sees the same
kind of words on raw text. Written by hand: the libraries that do this (spaCy, NLTK) are heavy
dependencies for a regular expression.

Sentences come from a small rule-based splitter (blank lines, and ``.!?`` followed by space and an
upper-case letter, digit or quote, except after common abbreviations and initials). They serve as
evidence in extraction records and bound relation candidates; they never limit what a tagger reads.

>>> [w for w, _ in words("Mr. Smith  visited the U.S.\\nin 1996-08-22.")]
['Mr.', 'Smith', 'visited', 'the', 'U.S.', 'in', '1996-08-22', '.']
>>> sentences("He left. Then she came!  Dr. No stayed.")
[(0, 8), (9, 23), (25, 39)]
"""

from __future__ import annotations

import bisect
import re

_L = r"(?:[^\W\d_]|[\u0300-\u036f])"  # a letter (with combining accents)
_A = r"(?:[^\W_]|[\u0300-\u036f])"  # a letter or digit
WORD_RE = re.compile(
    rf"(?:{_L}\.){{2,}}(?!{_A})"  # abbreviations: U.S. e.g.
    r"|\d+(?:[.,:/-]\d+)*"  # numbers: 3,000.5 1996-08-22 10:30
    rf"|['’]{_A}+(?<=\w)"  # clitics: 's 're
    rf"|{_A}+(?:[-&]{_A}+)*"  # words, with inner hyphens: Anglo-Dutch AT&T
    r"|\S"  # any other visible character
)
TITLES = frozenset(
    "mr mrs ms dr prof st jr sr inc ltd co corp vs etc gen col lt sgt rep sen gov no fig al approx jan feb mar apr jun "
    "jul aug sep sept oct nov dec".split()
)


def words(text: str) -> list[tuple[str, tuple[int, int]]]:
    """(word, (start, end)) for every word of ``text``; ``text[start:end] == word`` always holds.

    A title abbreviation keeps its period ("Mr.", "Dr.").

    >>> words("Café  au\\tlait's")
    [('Café', (0, 4)), ('au', (6, 8)), ('lait', (9, 13)), ("'s", (13, 15))]
    """
    out: list[tuple[str, tuple[int, int]]] = []
    for m in WORD_RE.finditer(text):
        s, e = m.span()
        if m.group() == "." and out and out[-1][1][1] == s and out[-1][0].lower() in TITLES:
            (w, (ps, _)) = out.pop()
            out.append((text[ps:e], (ps, e)))
            continue
        out.append((m.group(), (s, e)))
    return out


def split_at(spans: list[tuple[int, int]], cuts: list[int]) -> list[tuple[int, int]]:
    """Split word spans at the character positions ``cuts`` (e.g. annotated entity boundaries that fall
    inside a word), so every cut is a word boundary.

    >>> split_at([(0, 7), (8, 10)], [3, 8, 9])
    [(0, 3), (3, 7), (8, 9), (9, 10)]
    """
    cuts = sorted(set(cuts))
    out = []
    for s, e in spans:
        lo = bisect.bisect_right(cuts, s)
        hi = bisect.bisect_left(cuts, e)
        points = [s, *cuts[lo:hi], e]
        out.extend((a, b) for a, b in zip(points, points[1:]) if b > a)
    return out


_END = re.compile(r"[.!?]+['\"’”)\]]*")
_NEXT = re.compile(r"\s+(?=['\"“‘(\[]?[A-Z0-9À-ÖØ-Þ])")
_BLANK = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``, leading/trailing spaces excluded.

    >>> text = "Prices rose 3.5 p.c. in May. J. Smith said so.\\n\\nNew paragraph"
    >>> [text[s:e] for s, e in sentences(text)]
    ['Prices rose 3.5 p.c. in May.', 'J. Smith said so.', 'New paragraph']
    """
    breaks = [(m.start(), m.end()) for m in _BLANK.finditer(text)]  # (sentence end, next start)
    for m in _END.finditer(text):
        nxt = _NEXT.match(text, m.end())
        if nxt is None:
            continue
        before = text[: m.start()].rsplit(None, 1)
        prev = before[-1] if before else ""
        last = re.split(r"[^\w.]", prev)[-1].lower() if prev else ""
        if m.group() == "." and (last.rstrip(".") in TITLES or re.fullmatch(r"\w", last)):
            continue  # "Dr. No", "J. Smith"
        if m.group() == "." and re.fullmatch(r"(?:\w\.)+\w", last):
            continue  # the period that ends an abbreviation such as "U.S"
        breaks.append((m.end(), nxt.end()))
    out, start = [], 0
    for end, nxt in [*sorted(breaks), (len(text), len(text))]:
        if end < start:
            continue
        seg = text[start:end]
        if seg.strip():
            lead = len(seg) - len(seg.lstrip())
            out.append((start + lead, end - (len(seg) - len(seg.rstrip()))))
        start = max(start, nxt)
    return out


def sentence_of(bounds: list[tuple[int, int]], pos: int) -> int:
    """Index of the sentence in ``bounds`` that contains (or, between sentences, precedes) ``pos``.

    >>> sentence_of([(0, 8), (9, 23)], 10), sentence_of([(0, 8), (9, 23)], 8), sentence_of([(0, 8)], 99)
    (1, 0, 0)
    """
    i = bisect.bisect_right([s for s, _ in bounds], pos) - 1
    return max(0, min(i, len(bounds) - 1))
