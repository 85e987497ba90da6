"""Split documents into chunks the encoder can read: heading sections first, then token windows.

Token counts come from the model's own tokenizer (``Encoder.raw_tokenizer()``: a private copy of
its fast tokenizer, truncation off), so a chunk of ``size`` tokens fits the model exactly. Every chunk keeps character
offsets into the document text, so snippets and highlights point at the original.

Markdown (ATX ``#`` and setext headings, code fences respected), reStructuredText (adorned titles)
and extracted HTML headings split into sections; consecutive small sections are packed together up
to ``size``; a section longer than ``size`` becomes windows of ``size`` tokens with ``overlap``.

>>> from tokenizers import Tokenizer                       # doctest: +SKIP
>>> chunks = chunk_text("# A\\nalpha beta\\n# B\\ngamma", tok, size=3, overlap=1, fmt="markdown")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .files.convert import atx_heading  # linear time: a backtracking heading regex can take minutes on one line

DEFAULT_SIZE = 256
DEFAULT_OVERLAP = 32
TITLE_MAX_TOKENS = 48


@dataclass(frozen=True)
class Chunk:
    """A span of a document: ``text == document_text[start:end]``."""

    ord: int
    start: int
    end: int
    text: str
    n_tokens: int
    section: str = ""


# ---------------------------------------------------------------------------- sections
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RST_ADORN = re.compile(r"^([=\-`:'\"~^_*+#])\1{2,}\s*$")


def split_sections(text: str, fmt: str) -> list[tuple[int, int, str]]:
    """(start, end, heading) spans that tile ``text``; one span when the format has no headings."""
    if fmt in ("markdown", "html"):
        starts = _markdown_heading_starts(text)
    elif fmt == "rst":
        starts = _rst_heading_starts(text)
    else:
        starts = []
    if not starts or starts[0][0] != 0:
        starts.insert(0, (0, ""))
    spans = []
    for i, (s, heading) in enumerate(starts):
        e = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        if e > s:
            spans.append((s, e, heading))
    return spans


def _lines_with_offsets(text: str):
    pos = 0
    for line in text.split("\n"):  # Markdown/RST lines end at "\n" (CRLF handled); U+2028 etc. do not end a line
        yield pos, line.rstrip("\r")
        pos += len(line) + 1


def _markdown_heading_starts(text: str) -> list[tuple[int, str]]:
    starts, in_fence, prev = [], False, None
    for pos, line in _lines_with_offsets(text):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            h = atx_heading(line)
            if h:
                starts.append((pos, h[1]))
            elif prev is not None and prev[1].strip() and _SETEXT.match(line) and not atx_heading(prev[1]):
                if not starts or starts[-1][0] != prev[0]:
                    starts.append((prev[0], prev[1].strip()))
        prev = (pos, line)
    return starts


def _rst_heading_starts(text: str) -> list[tuple[int, str]]:
    lines = list(_lines_with_offsets(text))
    starts = []
    for i in range(1, len(lines)):
        pos, line = lines[i]
        title_pos, title = lines[i - 1]
        if _RST_ADORN.match(line) and title.strip() and not _RST_ADORN.match(title) and len(line.strip()) >= len(title.strip()):
            start = title_pos
            if i >= 2 and _RST_ADORN.match(lines[i - 2][1]):  # overline + title + underline
                start = lines[i - 2][0]
            if not starts or starts[-1][0] != start:
                starts.append((start, title.strip()))
    return starts


# ---------------------------------------------------------------------------- windows
def chunk_text(
    text: str,
    tokenizer,
    *,
    size: int = DEFAULT_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    fmt: str = "text",
    encoding=None,
    sections: list[tuple[int, int, str]] | None = None,
) -> list[Chunk]:
    """Chunk one document. ``tokenizer`` is a ``tokenizers.Tokenizer`` (``Encoder.raw_tokenizer()``);
    pass ``encoding`` if the text was already tokenized (batch use). ``sections``: explicit (start, end,
    label) spans tiling the text (PDF pages, code symbols), never packed together, instead of headings."""
    if size < 1:
        raise ValueError("chunk size must be at least 1 token")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, size); got overlap={overlap}, size={size}")
    enc = encoding if encoding is not None else tokenizer.encode(text, add_special_tokens=False)
    offsets = [o for o in enc.offsets if o[1] > o[0]]
    if not offsets:
        return []
    pack = not sections
    sections = list(sections) if sections else split_sections(text, fmt)
    # assign tokens to sections by their start offset
    sec_tokens: list[list[tuple[int, int]]] = [[] for _ in sections]
    j = 0
    for off in offsets:
        while j + 1 < len(sections) and off[0] >= sections[j + 1][0]:
            j += 1
        sec_tokens[j].append(off)
    pieces: list[tuple[list[tuple[int, int]], str]] = []  # token offsets of each chunk + its heading
    pending: list[tuple[int, int]] = []
    pending_heading = ""
    for (_, _, heading), toks in zip(sections, sec_tokens):
        if not toks:
            continue
        if pending and pack and len(pending) + len(toks) <= size:
            pending.extend(toks)
            continue
        if pending:
            pieces.append((pending, pending_heading))
            pending = []
        if len(toks) <= size:
            pending, pending_heading = list(toks), heading
        else:
            step = size - overlap
            for i in range(0, len(toks), step):
                pieces.append((toks[i : i + size], heading))
                if i + size >= len(toks):
                    break
    if pending:
        pieces.append((pending, pending_heading))
    chunks = []
    for k, (toks, heading) in enumerate(pieces):
        start, end = toks[0][0], toks[-1][1]
        chunks.append(Chunk(ord=k, start=start, end=end, text=text[start:end], n_tokens=len(toks), section=heading))
    return chunks


def clip_title(title: str, tokenizer, max_tokens: int = TITLE_MAX_TOKENS) -> tuple[str, int]:
    """Title cut to at most ``max_tokens`` tokens; returns (title, its token count)."""
    if not title:
        return "", 0
    enc = tokenizer.encode(title, add_special_tokens=False)
    if len(enc.ids) <= max_tokens:
        return title, len(enc.ids)
    return title[: enc.offsets[max_tokens - 1][1]], max_tokens


TITLE_MODES = ("auto", "prefix", "none")
WHOLE_DOCUMENT_TEXT = "title + ' ' + text"  # the BEIR / MTEB protocol, recorded in manifests


def index_text(title: str, chunk_body: str, *, titles: str = "auto", whole_document: bool = False) -> str:
    """The text that is embedded and BM25-indexed for a chunk.

    Whole documents (chunk size 0): ``title + " " + text`` (the text alone without a title), exactly
    as BEIR's and MTEB's evaluation code joins them; ``titles="none"`` indexes the text alone.

    Chunks (``titles``): ``auto`` puts the document title on a header line before the chunk unless the
    chunk's opening already holds it (within its first ``len(title) + 200`` characters, e.g. a Markdown
    page whose first heading is the title); ``prefix`` always puts it there; ``none`` never does.

    >>> index_text("Cats", "Cats sleep a lot.", whole_document=True)
    'Cats Cats sleep a lot.'
    >>> index_text("Cats", "Cats sleep a lot."), index_text("Cats", "They sleep.")
    ('Cats sleep a lot.', 'Cats\\nThey sleep.')
    >>> index_text("Cats", "Cats sleep a lot.", titles="prefix")
    'Cats\\nCats sleep a lot.'
    """
    if titles not in TITLE_MODES:
        raise ValueError(f"unknown title mode {titles!r}: use one of {', '.join(TITLE_MODES)}")
    if not title or titles == "none":
        return chunk_body
    if whole_document:
        return f"{title} {chunk_body}".strip()
    if titles == "auto" and title in chunk_body[: len(title) + 200]:
        return chunk_body
    return f"{title}\n{chunk_body}"
