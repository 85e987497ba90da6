"""Sentences as context and evidence: which spans may be related, what text a span-pair model reads,
and which sentence backs a value. Pure functions over character offsets.

>>> text = "Ann met Bob. Carl stayed home."
>>> sents = sentences(text)
>>> candidate_pairs([(0, 3), (8, 11), (13, 17)], sents)
[(0, 1)]
>>> context(text, sents, (8, 11), (13, 17))
(0, 30)
"""

from __future__ import annotations

from typing import Sequence

from ...data.words import sentence_of
from ...data.words import sentences as _sentences


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``; a text without any becomes one sentence."""
    return _sentences(text) or [(0, len(text))]


def candidate_pairs(spans: Sequence[tuple[int, int]], sents: list[tuple[int, int]], max_gap: int = 0) -> list[tuple[int, int]]:
    """Index pairs (i, j) of non-overlapping spans, span i first in the text, at most ``max_gap``
    sentences apart (0: the same sentence)."""
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    sent = {i: sentence_of(sents, spans[i][0]) for i in order}
    out = []
    for a, i in enumerate(order):
        for j in order[a + 1 :]:
            if sent[j] - sent[i] > max_gap:
                break
            if spans[j][0] >= spans[i][1]:
                out.append((i, j))
    return out


def context(
    text: str, sents: list[tuple[int, int]], first: tuple[int, int], second: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The character window a span-pair model reads: from the start of the sentence holding ``first``
    to the end of the sentence holding the end of ``second`` (or of ``first``)."""
    last = second or first
    s = sents[sentence_of(sents, first[0])][0]
    e = sents[sentence_of(sents, max(last[0], last[1] - 1))][1]
    return min(s, first[0]), max(e, last[1])


def shifted(span: tuple[int, int], offset: int) -> tuple[int, int]:
    """``span`` moved left by ``offset``.

    >>> shifted((10, 15), 4)
    (6, 11)
    """
    return span[0] - offset, span[1] - offset


def sentence_evidence(
    text: str, sents: list[tuple[int, int]], span: tuple[int, int], other: tuple[int, int] | None = None
) -> dict:
    """{"start", "end", "text"} of the sentence(s) holding ``span`` (and ``other``).

    >>> sentence_evidence("Hi there. Bye now.", [(0, 9), (10, 18)], (10, 13))
    {'start': 10, 'end': 18, 'text': 'Bye now.'}
    """
    a, b = (span, other) if other is None or span[0] <= other[0] else (other, span)
    s, e = context(text, sents, a, b)
    return {"start": s, "end": e, "text": text[s:e]}
