"""Unlabeled text for distillation: documents from files and folders, cut into model-sized passages
and sentences, deduplicated, in a deterministic order.

Documents come from :func:`encoderkit.data.files.sources.walk` (text, Markdown, reST, HTML, BEIR ``.jsonl``);
with ``lines=True`` a ``.txt`` file is a list of texts, one per line (sentence lists such as the STS
or SST sentences). A distillation set needs both lengths a model will meet: whole passages (what an
index encodes) and short texts (what users type as queries).

>>> split_sentences("Aspirin lowers risk. It was shown in 2001 (n = 40). Ok.")
['Aspirin lowers risk.', 'It was shown in 2001 (n = 40).', 'Ok.']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from ...errors import DataError, EncoderkitError
from ..files.sources import Skipped, SourceDoc, walk

# a sentence ends at . ! or ? followed by space and an upper-case letter, digit or opening bracket
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (a rule of thumb: end punctuation, space, capital letter)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file."""
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise DataError(path, f"invalid UTF-8 at byte {exc.start}") from None
    except OSError as exc:
        raise DataError(path, f"unreadable ({exc.strerror or exc})") from None


def read_documents(paths: Iterable[str | Path], *, lines: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
    """(documents as (title, text), skipped reasons) from files and folders. With ``lines``, ``.txt``
    files hold one text per line (each becomes a document without title)."""
    docs: list[tuple[str, str]] = []
    skipped: list[str] = []
    walk_paths = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DataError(p, "path does not exist", hint="check the --corpus paths")
        if lines and p.is_file() and p.suffix.lower() == ".txt":
            docs.extend(("", line) for line in read_lines(p))
        else:
            walk_paths.append(p)
    for item in walk(walk_paths):
        if isinstance(item, SourceDoc):
            docs.append((item.title if item.fmt == "beir" else "", item.text))
        elif isinstance(item, Skipped):
            skipped.append(str(item))
    return docs, skipped


def distillation_texts(
    docs: Sequence[tuple[str, str]],
    tokenizer,
    *,
    max_tokens: int,
    sentences: bool = True,
    min_words: int = 3,
) -> list[str]:
    """Passages of at most ``max_tokens`` tokens (title as header, as the index does), plus titles and
    sentences of at least ``min_words`` words when ``sentences``; unique, in first-seen order.
    ``tokenizer``: a ``tokenizers.Tokenizer`` without truncation (``Encoder.raw_tokenizer()``)."""
    from ..chunking import chunk_text, index_text

    out: dict[str, None] = {}
    for title, text in docs:
        body = text.strip()
        if not body and not title:
            continue
        if body:
            for c in chunk_text(body, tokenizer, size=max_tokens, overlap=0):
                out[index_text(title, c.text) if title else c.text] = None
        if sentences:
            if title and len(title.split()) >= min_words:
                out[title.strip()] = None
            for s in split_sentences(body):
                if len(s.split()) >= min_words:
                    out[s] = None
    texts = list(out)
    if not texts:
        raise EncoderkitError("no text found for distillation", hint="pass documents or sentence files with --corpus")
    return texts
