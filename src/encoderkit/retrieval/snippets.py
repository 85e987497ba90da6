"""Pick the passage of a chunk that best matches a query, for display.

A passage is one or two consecutive sentences; it scores by how many distinct query terms it holds
(terms compared after the same analysis BM25 uses: lower-case, stop words dropped, stemmed).

>>> best_passage("Cats sleep a lot. Dogs bark at night. Birds sing.", "why do dogs bark", width=60)
(18, 37, 'Dogs bark at night.')
"""

from __future__ import annotations

import re

_SENT = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
_WORD = re.compile(r"\w\w+")


def _analyzer():
    try:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        stem = Stemmer.Stemmer("english").stemWord
        stop = set(STOPWORDS_EN)
    except ImportError:  # pragma: no cover
        return lambda w: w.lower()
    return lambda w: None if w.lower() in stop else stem(w.lower())


_ANALYZE = None


def terms(text: str) -> set[str]:
    """Analyzed terms of a text (stems of the non-stop words)."""
    global _ANALYZE
    if _ANALYZE is None:
        _ANALYZE = _analyzer()
    return {t for t in (_ANALYZE(w) for w in _WORD.findall(text)) if t}


def best_passage(text: str, query: str, width: int = 240) -> tuple[int, int, str]:
    """(start, end, passage) of the best 1-2 sentence window of ``text``, at most ``width`` chars."""
    q = terms(query)
    sents = [(m.start(), m.end()) for m in _SENT.finditer(text) if m.group().strip()]
    if not sents:
        return 0, min(len(text), width), text[:width]
    best, best_score = (sents[0][0], sents[0][1]), -1.0
    for i in range(len(sents)):
        for j in (i, i + 1):
            if j >= len(sents):
                continue
            s, e = sents[i][0], sents[j][1]
            found = terms(text[s:e]) & q
            score = len(found) - (0.01 * (j - i))  # prefer one sentence on ties
            if score > best_score:
                best, best_score = (s, e), score
    s, e = best
    while s < e and text[s].isspace():
        s += 1
    e = min(e, s + width)
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e, text[s:e]


def highlight(passage: str, query: str, style: str = "bold yellow") -> str:
    """Rich markup of ``passage`` with the words matching query terms highlighted."""
    from rich.markup import escape

    q = terms(query)
    out, pos = [], 0
    for m in _WORD.finditer(passage):
        out.append(escape(passage[pos : m.start()]))
        word = m.group()
        out.append(f"[{style}]{escape(word)}[/]" if terms(word) & q else escape(word))
        pos = m.end()
    out.append(escape(passage[pos:]))
    return "".join(out)


def hit_row(hit, query: str) -> dict:
    """A hit as a JSON-ready dict with the best-matching passage (``snippet``) and its offsets in the
    document: the one shape the CLI's ``--json`` and the server return."""
    s, e, passage = best_passage(hit.text, query)
    return {**hit.to_dict(), "snippet": passage, "snippet_start": hit.start + s, "snippet_end": hit.start + e}
