"""The passage of a hit to show: whole sentences that best match the query, the heading they sit under,
the matched words highlighted.

Sentences come from syntok's segmenter (Leitner's segtok successor, rule-based: it knows abbreviations
such as "e.g." and "Dr.", numbers such as "2.80GHz" and "3.11.4", URLs and dotted identifiers such as
``os.path.join``), run inside blocks found here by hand (no library knows Markdown/RST blocks as
sentences): headings, list items and code lines are units of their own, paragraphs end at blank
lines. A passage is one or two consecutive sentences, scored by how many distinct query terms it
holds (compared after the analysis BM25 uses: lower-case, stop words dropped, stemmed). A passage
longer than ``width`` is cut at word boundaries around its first match, marked with "…"; a chunk
that begins inside a word (a token window can) never shows that partial word.

>>> best_passage("Cats sleep a lot. Dogs bark at night. Birds sing.", "why do dogs bark", width=60)
(18, 37, 'Dogs bark at night.')
>>> best_passage("See https://github.com/x/y/issues for the tracker. Then wait.", "github issues")[2]
'See https://github.com/x/y/issues for the tracker.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..data.chunking import split_sections

_WORD = re.compile(r"\w\w+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6}\s+\S|=+\s*$|-{3,}\s*$|([=\-`:'\"~^_*+#])\2{2,}\s*$)")
_LIST = re.compile(r"^\s*([-*+]|\d{1,3}[.)])\s+\S")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
ELLIPSIS = "…"


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


# ---------------------------------------------------------------------------- sentences
def _blocks(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the text's blocks: "unit" (heading, list item line, code line) or "para"."""
    out: list[tuple[int, int, str]] = []
    pos, para, in_code = 0, None, False
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        fence = bool(_FENCE.match(line))
        if fence or in_code or not stripped or _HEADING.match(line) or _LIST.match(line):
            if para is not None:
                out.append((para, start - 1, "para"))
                para = None
            if fence:
                in_code = not in_code
            if stripped and not fence and not re.fullmatch(r"([=\-`:'\"~^_*+#])\1{2,}", stripped):
                if _LIST.match(line) and not in_code:
                    para = start  # a list item is a paragraph of its own (it may continue on the next lines)
                else:
                    out.append((start, end, "unit"))
            continue
        if para is None:
            para = start
    if para is not None:
        out.append((para, len(text), "para"))
    return out


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence of ``text``: Markdown/RST blocks, then syntok inside paragraphs.

    >>> t = "Version 2.0 (e.g. on Python 3.11.4) works. Call os.path.join() next.\\n\\n# Usage\\n- one item"
    >>> [t[s:e] for s, e in sentences(t)]
    ['Version 2.0 (e.g. on Python 3.11.4) works.', 'Call os.path.join() next.', '# Usage', '- one item']
    """
    import syntok.segmenter as segmenter

    out: list[tuple[int, int]] = []
    for start, end, kind in _blocks(text):
        block = text[start:end]
        if kind == "unit" or not block.strip():
            s = start + len(block) - len(block.lstrip())
            out.append((s, start + len(block.rstrip())))
            continue
        spans = []
        for paragraph in segmenter.analyze(block):
            for sent in paragraph:
                if sent:
                    spans.append(start + sent[0].offset)
        spans = sorted(set(spans)) or [start]
        for i, s in enumerate(spans):
            e = spans[i + 1] if i + 1 < len(spans) else end
            piece = text[s:e].rstrip()
            if piece.strip():
                out.append((s, s + len(piece)))
    return out


# ---------------------------------------------------------------------------- passages
def _first_word_start(text: str) -> int:
    """Offset of the first whole word of a text that begins inside a word."""
    m = re.search(r"\W", text)
    if m is None:
        return 0
    m2 = re.search(r"\w", text[m.start() :])
    return m.start() + (m2.start() if m2 else 0)


def best_passage(
    text: str, query: str, width: int = 240, *, mid_word: bool = False, mid_line: bool = False, code: bool = False
) -> tuple[int, int, str]:
    """(start, end, passage) of the best window of ``text`` (offsets into ``text``): 1-2 sentences of prose,
    whole lines of code (``code``); a passage longer than ``width`` is cut at word boundaries (``…`` marks a
    cut). ``mid_word``: ``text`` begins inside a word (that partial word is never shown); ``mid_line``: it
    begins inside a line, so its first sentence (or line) is a fragment, shown (after "…") only when nothing
    else holds a query term.

    >>> best_passage("b The amount of disk space used. Sizes are in blocks.", "disk space", mid_line=True)[2]
    '…The amount of disk space used.'
    >>> best_passage("rest of it. Disk space is counted in blocks.", "disk space", mid_line=True)[2]
    'Disk space is counted in blocks.'
    >>> best_passage("it:\\n    k = key(elem)\\n    out.append(k)\\n", "key elem", code=True, mid_line=True)[2]
    'k = key(elem)'
    """
    q = terms(query)
    if code:
        return _code_passage(text, q, width, mid_line)
    skip = _first_word_start(text) if mid_word and text[:1].isalnum() else 0
    sents = [(max(s, skip), e) for s, e in sentences(text) if e > skip]
    sents = [(s, e) for s, e in sents if text[s:e].strip()]
    fragment = -1  # where the partial first sentence starts, when it is kept
    if mid_line and sents and sents[0][0] <= skip:  # the chunk's first "sentence" is a fragment of one
        if len(sents) > 1 and any(terms(text[a:b]) & q for a, b in sents[1:]):
            sents = sents[1:]  # the query is met elsewhere: start at a whole sentence
        else:  # only the fragment has it: never show the partial token it begins with, and mark the cut
            gap = re.search(r"\s+\S", text[sents[0][0] : sents[0][1]])
            if gap:
                sents[0] = (sents[0][0] + gap.end() - 1, sents[0][1])
            fragment = sents[0][0]
    if not sents:
        return _cut(text, skip, len(text), q, width)
    best, best_score = sents[0], -1.0
    for i in range(len(sents)):
        for j in (i, i + 1):
            if j >= len(sents):
                continue
            s, e = sents[i][0], sents[j][1]
            found = terms(text[s:e]) & q
            score = len(found) - 0.01 * (j - i) - (0.5 if e - s > 2 * width else 0.0)  # prefer one sentence on ties
            if score > best_score:
                best, best_score = (s, e), score
    return _marked(_cut(text, best[0], best[1], q, width), fragment)


def _marked(cut: tuple[int, int, str], fragment: int) -> tuple[int, int, str]:
    """A passage that starts at a fragment (the chunk began inside its sentence or line) shows the cut: "…"."""
    s, e, passage = cut
    if s <= fragment and not passage.startswith(ELLIPSIS):
        passage = ELLIPSIS + passage
    return s, e, passage


def _code_passage(text: str, q: set[str], width: int, mid_line: bool) -> tuple[int, int, str]:
    """The best run of up to three whole lines of code (the one with most query terms), from a line start."""
    lines = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            lines.append((pos + len(line) - len(line.lstrip()), pos + len(line.rstrip())))
        pos += len(line) + 1
    fragment = -1
    if mid_line and lines and lines[0][0] == 0 and text[:1].strip():  # the chunk began inside a line
        if len(lines) > 1 and any(terms(text[a:b]) & q for a, b in lines[1:]):
            lines = lines[1:]  # the query is met on whole lines: the partial one is not a start
        else:
            fragment = 0  # only the partial line has it: show it, marked as cut
    if not lines:
        return _cut(text, 0, len(text), q, width)
    best, best_score = (lines[0][0], lines[0][1]), -1.0
    for i in range(len(lines)):
        for j in range(i, min(i + 3, len(lines))):
            s, e = lines[i][0], lines[j][1]
            if e - s > width and j > i:
                break
            score = len(terms(text[s:e]) & q) - 0.01 * (j - i)
            if score > best_score:
                best, best_score = (s, e), score
    return _marked(_cut(text, best[0], best[1], q, width), fragment)


def _cut(text: str, s: int, e: int, q: set[str], width: int) -> tuple[int, int, str]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e - s <= width:
        return s, e, text[s:e]
    hit = next((m.start() for m in _WORD.finditer(text, s, e) if terms(m.group()) & q), s)
    lo = max(s, hit - width // 3)
    hi = min(e, lo + width)
    lo = max(s, hi - width)
    if lo > s:  # start at a word boundary
        m = re.search(r"\s\S", text[lo - 1 : hi])
        lo = lo - 1 + m.start() + 1 if m else lo
    if hi < e:  # end at a word boundary
        cut = text.rfind(" ", lo, hi)
        hi = cut if cut > lo else hi
    passage = (ELLIPSIS if lo > s else "") + text[lo:hi].strip() + (ELLIPSIS if hi < e else "")
    return lo, hi, passage


@dataclass(frozen=True)
class Snippet:
    """What to show for a hit: the passage, its offsets in the document, the heading it sits under and
    the matched words (offsets into ``text``)."""

    text: str
    start: int
    end: int
    section: str
    highlights: list


def section_at(chunk_text: str, offset: int, fmt: str, chunk_section: str) -> str:
    """The heading ``offset`` of a chunk sits under: the last heading inside the chunk before it, else
    the heading in effect where the chunk begins (``chunk_section``)."""
    heading = chunk_section
    for s, _, h in split_sections(chunk_text, fmt or "text"):
        if s <= offset and h:
            heading = h
    return heading


def snippet(hit, query: str, width: int = 240) -> Snippet:
    """The snippet of a :class:`~encoderkit.retrieval.ranking.Hit` for ``query``."""
    s, e, passage = best_passage(
        hit.text,
        query,
        width,
        mid_word=getattr(hit, "mid_word", False),
        mid_line=getattr(hit, "mid_line", False),
        code=getattr(hit, "fmt", "") == "code",
    )
    q = terms(query)
    marks = [[m.start(), m.end()] for m in _WORD.finditer(passage) if terms(m.group()) & q]
    section = section_at(hit.text, s, getattr(hit, "fmt", ""), hit.section)
    return Snippet(passage, hit.start + s, hit.start + e, section, marks)


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


HIT_FIELDS = ("rank", "doc_id", "chunk_id", "score", "title", "path", "start", "end", "section", "stages", "meta", "annotations")
ALL_FIELDS = HIT_FIELDS + ("text", "snippet", "snippet_start", "snippet_end", "highlights")
DEFAULT_FIELDS = tuple(f for f in ALL_FIELDS if f != "text")


def hit_row(hit, query: str, fields=None) -> dict:
    """A hit as a JSON-ready dict: the one shape the CLI's ``--json`` and the server return. ``snippet``
    is the best-matching passage (document offsets ``snippet_start``/``snippet_end``, ``highlights`` =
    [start, end] of matched words in it), ``section`` the heading it sits under. ``fields`` picks keys
    (default: everything but the chunk's full ``text``)."""
    sn = snippet(hit, query)
    row = {
        **hit.to_dict(),
        "section": sn.section,
        "snippet": sn.text,
        "snippet_start": sn.start,
        "snippet_end": sn.end,
        "highlights": sn.highlights,
    }
    if fields is None:
        return row
    return {k: row[k] for k in fields if k in row}
