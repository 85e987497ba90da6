"""Named-entity data: CoNLL column files (IOB1 / IOB2 / BIOES, detected or declared) and JSONL with
character spans, read into one form, :class:`TaggedDoc` (words, IOB2 tags, sentence starts).

CoNLL files (Tjong Kim Sang & De Meulder, 2003): one token per line, columns separated by spaces or
tabs, the word first and the tag last (``tag_column``), a blank line between sentences and
``-DOCSTART-`` lines between documents. The tag scheme is detected from the tags (``scheme="auto"``)
or declared, then converted to IOB2 (every entity starts with ``B-``), the form the taggers train on:

* IOB1 (CoNLL-2003's own files): ``B-`` only where an entity directly follows another of its type;
* IOB2 / BIO: ``B-`` at every entity start;
* BIOES (also BILOU): ``S-`` single-word entities, ``E-`` (``L-``) last words.

JSONL: one document per line, ``{"text": ..., "entities": [{"start", "end", "type"}]}`` (``label`` for
``type`` and ``spans`` or doccano's ``label: [[start, end, type]]`` are accepted). The text is split
into words with :func:`encoderkit.data.words.words`, also at every entity boundary, so each entity is
exactly a run of words and keeps its character offsets.

>>> to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1")
['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC']
>>> entity_spans(["B-PER", "I-PER", "O", "B-LOC"])
[('PER', 0, 2), ('LOC', 3, 4)]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ...errors import DataError, EncoderkitError
from ..words import sentences as split_sentences
from ..words import split_at, words

SCHEMES = ("auto", "iob1", "iob2", "bioes")
SPLIT_FILES = {
    "train": ("eng.train", "train.txt", "train.conll", "train.jsonl"),
    "dev": ("eng.testa", "dev.txt", "valid.txt", "dev.conll", "dev.jsonl", "valid.jsonl"),
    "test": ("eng.testb", "test.txt", "test.conll", "test.jsonl"),
}


@dataclass
class TaggedDoc:
    """A document of words with IOB2 tags. ``sentence_starts``: index of each sentence's first word.
    ``offsets``/``text`` exist when the words come from a text (JSONL); CoNLL words get offsets in
    :meth:`as_text` (words joined by spaces, sentences by newlines). ``source``: file:line of the start."""

    words: list[str]
    tags: list[str]
    sentence_starts: list[int] = field(default_factory=lambda: [0])
    offsets: list[tuple[int, int]] | None = None
    text: str | None = None
    source: str = ""

    def sentences(self) -> list[tuple[int, int]]:
        """(first word, end word) of each sentence."""
        ends = [*self.sentence_starts[1:], len(self.words)]
        return [(s, e) for s, e in zip(self.sentence_starts, ends) if e > s]

    def as_text(self) -> tuple[str, list[tuple[int, int]]]:
        """The document as text plus each word's offsets (its own text, or the words joined)."""
        if self.text is not None and self.offsets is not None:
            return self.text, list(self.offsets)
        parts, offsets, pos = [], [], 0
        starts = set(self.sentence_starts)
        for i, w in enumerate(self.words):
            if i:
                sep = "\n" if i in starts else " "
                parts.append(sep)
                pos += 1
            offsets.append((pos, pos + len(w)))
            parts.append(w)
            pos += len(w)
        return "".join(parts), offsets


# ---------------------------------------------------------------------------- tag schemes (pure)
def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") from "B-PER"; ("O", "") for "O". Accepts "B_PER" too.

    >>> split_tag("I-ORG"), split_tag("O"), split_tag("S_LOC")
    (('I', 'ORG'), ('O', ''), ('S', 'LOC'))
    """
    if tag == "O" or not tag:
        return "O", ""
    if len(tag) > 2 and tag[1] in "-_" and tag[0].upper() in "BIESLU":
        return tag[0].upper(), tag[2:]
    raise ValueError(f"tag '{tag}' is not O or PREFIX-TYPE")


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """ "bioes" if an S-/E-/L-/U- prefix occurs; "iob1" if an I- tag starts an entity (after O or another
    type) and no B- tag does; else "iob2".

    >>> detect_scheme([["I-PER", "O"], ["I-LOC", "B-LOC"]]), detect_scheme([["B-PER", "I-PER"]])
    ('iob1', 'iob2')
    >>> detect_scheme([["S-PER", "B-LOC", "E-LOC"]])
    'bioes'
    """
    i_starts = b_starts = 0
    for tags in tag_sequences:
        prev = ("O", "")
        for tag in tags:
            p, t = split_tag(tag)
            if p in "SEUL":
                return "bioes"
            continues = prev[0] != "O" and prev[1] == t
            if p == "I" and not continues:
                i_starts += 1
            elif p == "B" and not continues:
                b_starts += 1
            prev = (p, t)
    if i_starts and b_starts:
        raise EncoderkitError(
            "the tags mix IOB1 and IOB2 (entities start with I- and with B-)", hint="declare the scheme with --scheme"
        )
    return "iob1" if i_starts else "iob2"


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's tags from ``scheme`` (iob1 | iob2 | bioes) to IOB2.

    >>> to_iob2(["S-PER", "B-ORG", "I-ORG", "E-ORG", "U-LOC"], "bioes")
    ['B-PER', 'B-ORG', 'I-ORG', 'I-ORG', 'B-LOC']
    """
    out = []
    prev = ("O", "")
    for tag in tags:
        p, t = split_tag(tag)
        if p == "O":
            out.append("O")
        elif scheme == "bioes":
            out.append(f"{'B' if p in 'BSU' else 'I'}-{t}")
        elif scheme == "iob1":
            starts = p == "B" or prev[0] == "O" or prev[1] != t
            out.append(f"{'B' if starts else 'I'}-{t}")
        else:
            out.append(f"{p}-{t}")
        prev = (p, t)
    return out if scheme != "iob2" else repair(out)


def repair(tags: Sequence[str]) -> list[str]:
    """Make an IOB2 sequence valid the way conlleval reads it: an I-X that does not continue an X
    entity starts one (B-X). Other prefixes (E-, S-) are read as I-/B-.

    >>> repair(["O", "I-PER", "I-LOC", "B-ORG", "I-ORG", "I-PER"])
    ['O', 'B-PER', 'B-LOC', 'B-ORG', 'I-ORG', 'B-PER']
    """
    out: list[str] = []
    prev_type = ""
    for tag in tags:
        p, t = split_tag(tag)
        if p == "O":
            out.append("O")
            prev_type = ""
            continue
        if p in "IEL" and prev_type == t:
            out.append(f"I-{t}")
        else:
            out.append(f"B-{t}")
        prev_type = t
    return out


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first word, end word) of the entities of a (repaired) IOB2 sequence.

    >>> entity_spans(["B-PER", "B-PER", "I-PER", "O", "I-ORG"])
    [('PER', 0, 1), ('PER', 1, 3), ('ORG', 4, 5)]
    """
    spans: list[tuple[str, int, int]] = []
    for i, tag in enumerate(repair(tags)):
        p, t = split_tag(tag)
        if p == "B":
            spans.append((t, i, i + 1))
        elif p == "I":
            spans[-1] = (t, spans[-1][1], i + 1)
    return spans


def tags_from_spans(n_words: int, spans: Iterable[tuple[str, int, int]]) -> list[str]:
    """IOB2 tags for ``n_words`` words from (type, first, end) spans (which must not overlap).

    >>> tags_from_spans(4, [("PER", 0, 2), ("LOC", 3, 4)])
    ['B-PER', 'I-PER', 'O', 'B-LOC']
    """
    tags = ["O"] * n_words
    for t, s, e in spans:
        if any(tag != "O" for tag in tags[s:e]):
            raise ValueError(f"entity {t} at words {s}-{e} overlaps another")
        tags[s] = f"B-{t}"
        for i in range(s + 1, e):
            tags[i] = f"I-{t}"
    return tags


def entity_types(tag_sequences: Iterable[Sequence[str]]) -> list[str]:
    """Sorted entity types found in tag sequences.

    >>> entity_types([["B-PER", "O"], ["B-LOC", "I-LOC"]])
    ['LOC', 'PER']
    """
    return sorted({split_tag(t)[1] for tags in tag_sequences for t in tags if t != "O"})


# ---------------------------------------------------------------------------- readers
def read_conll(path: str | Path, *, scheme: str = "auto", tag_column: int = -1) -> list[TaggedDoc]:
    """Documents of a CoNLL column file, tags converted to IOB2 (see the module docstring)."""
    path = Path(path)
    if scheme not in SCHEMES:
        raise EncoderkitError(f"unknown tag scheme '{scheme}'", hint=f"use one of: {', '.join(SCHEMES)}")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc.__class__.__name__})") from None
    docs: list[list[tuple[int, list[str], list[str]]]] = [[]]
    sent_words: list[str] = []
    sent_tags: list[str] = []
    start_line = 0

    def close():
        nonlocal sent_words, sent_tags
        if sent_words:
            docs[-1].append((start_line, sent_words, sent_tags))
        sent_words, sent_tags = [], []

    for n, line in enumerate(raw.split("\n"), start=1):
        cols = line.split()
        if not cols:
            close()
            continue
        if cols[0] == "-DOCSTART-":
            close()
            if docs[-1]:
                docs.append([])
            continue
        if len(cols) < 2:
            raise DataError(path, f"expected 'word ... tag' columns, got {line.strip()!r}", line=n)
        tag = cols[tag_column]
        try:
            split_tag(tag)
        except ValueError as exc:
            raise DataError(path, str(exc), line=n, hint="the tag column must hold O or B-/I-/E-/S-TYPE tags") from None
        if not sent_words:
            start_line = n
        sent_words.append(cols[0])
        sent_tags.append(tag)
    close()
    docs = [d for d in docs if d]
    if not docs:
        raise DataError(path, "no tagged sentences found")
    sents = [s for d in docs for s in d]
    if scheme == "auto":
        try:
            scheme = detect_scheme(tags for _, _, tags in sents)
        except EncoderkitError as exc:
            raise DataError(path, exc.message, hint=exc.hint) from None
    out = []
    for d in docs:
        ws, ts, starts = [], [], []
        for _, w, t in d:
            starts.append(len(ws))
            ws += w
            ts += to_iob2(t, scheme)
        out.append(TaggedDoc(ws, ts, starts, source=f"{path}:{d[0][0]}"))
    return out


def _span_records(rec: dict, path: Path, n: int) -> list[tuple[int, int, str]]:
    items = rec.get("entities", rec.get("spans", rec.get("label", [])))
    if not isinstance(items, list):
        raise DataError(path, "'entities' must be a list", line=n)
    out = []
    for item in items:
        if isinstance(item, (list, tuple)) and len(item) == 3:
            s, e, t = item
        elif isinstance(item, dict):
            s, e, t = item.get("start"), item.get("end"), item.get("type", item.get("label"))
        else:
            raise DataError(path, f"entity {item!r} is neither {{start, end, type}} nor [start, end, type]", line=n)
        if not (isinstance(s, int) and isinstance(e, int) and isinstance(t, str) and t):
            raise DataError(path, f"entity {item!r} needs integer start/end and a type", line=n)
        out.append((s, e, t))
    return out


def doc_from_spans(text: str, spans: Sequence[tuple[int, int, str]], *, source: str = "") -> TaggedDoc:
    """A :class:`TaggedDoc` from a text and (start, end, type) character spans: words split at every
    span boundary; raises ValueError for spans out of range, empty or overlapping."""
    for s, e, t in spans:
        if not 0 <= s < e <= len(text):
            raise ValueError(f"entity {t} [{s}, {e}) is outside the text (length {len(text)}) or empty")
        if not text[s:e].strip():
            raise ValueError(f"entity {t} [{s}, {e}) covers only spaces")
    cuts = [p for s, e, _ in spans for p in (s, e)]
    offsets = split_at([o for _, o in words(text)], cuts)
    starts = {s: i for i, (s, _) in enumerate(offsets)}
    ends = {e: i + 1 for i, (_, e) in enumerate(offsets)}
    word_spans = []
    for s, e, t in spans:
        s2 = s + (len(text[s:e]) - len(text[s:e].lstrip()))  # a span may include edge spaces
        e2 = e - (len(text[s:e]) - len(text[s:e].rstrip()))
        if s2 not in starts or e2 not in ends:
            raise ValueError(f"entity {t} [{s}, {e}) does not start and end on word boundaries")
        word_spans.append((t, starts[s2], ends[e2]))
    tags = tags_from_spans(len(offsets), word_spans)
    sent_starts = sorted({_first_word_at(offsets, s) for s, _ in split_sentences(text)} | {0}) if offsets else [0]
    return TaggedDoc([text[s:e] for s, e in offsets], tags, sent_starts, offsets=offsets, text=text, source=source)


def _first_word_at(offsets: list[tuple[int, int]], pos: int) -> int:
    import bisect

    return min(bisect.bisect_left([s for s, _ in offsets], pos), len(offsets) - 1)


def read_span_jsonl(path: str | Path) -> list[TaggedDoc]:
    """Documents of a JSONL file with character-span entities (see the module docstring)."""
    path = Path(path)
    docs = []
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc.__class__.__name__})") from None
    for n, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise DataError(path, "expected an object with a 'text' string", line=n)
        try:
            docs.append(doc_from_spans(rec["text"], _span_records(rec, path, n), source=f"{path}:{n}"))
        except ValueError as exc:
            raise DataError(path, str(exc), line=n) from None
    if not docs:
        raise DataError(path, "no documents found")
    return docs


def read_ner_file(path: str | Path, *, scheme: str = "auto") -> list[TaggedDoc]:
    """A CoNLL column file, or a ``.jsonl`` file of character spans."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_span_jsonl(path)
    return read_conll(path, scheme=scheme)


def split_file(folder: str | Path, split: str) -> Path | None:
    """The file of ``split`` (train | dev | test) in a data folder, or None.

    >>> split_file("/nonexistent", "train") is None
    True
    """
    for name in SPLIT_FILES[split]:
        f = Path(folder) / name
        if f.is_file():
            return f
    return None


def load_ner_split(data: str | Path, split: str, *, scheme: str = "auto") -> list[TaggedDoc]:
    """Documents of ``split`` from a folder (CoNLL-2003's eng.train/eng.testa/eng.testb, or
    train/dev/test .txt/.conll/.jsonl), or ``data`` itself when it is a file."""
    data = Path(data)
    if data.is_file():
        return read_ner_file(data, scheme=scheme)
    if not data.is_dir():
        raise EncoderkitError(f"'{data}' does not exist", hint="pass a CoNLL file, a .jsonl file or a folder of them")
    f = split_file(data, split)
    if f is None:
        raise EncoderkitError(f"no {split} file in '{data}'", hint=f"expected one of: {', '.join(SPLIT_FILES[split])}")
    return read_ner_file(f, scheme=scheme)
