"""From text files to pretraining examples: corpus loading, sentence splitting, packing, NSP pairs.

* :func:`load_corpus` reads ``--corpus`` paths with :func:`encoderkit.sources.walk` (.txt .md .rst .html,
  BEIR corpus .jsonl) and fails with a clear error naming the input when a file given by name cannot
  be used (empty, binary, invalid UTF-8, ...) or when nothing usable is left.
* :func:`split_holdout` puts a deterministic fraction of *documents* aside for evaluation.
* :func:`tokenize_documents` tokenizes each document once (fast tokenizer: word ids and character
  offsets), and assigns each token to a sentence (:func:`sentence_starts`, a regex splitter).
* :func:`pack_segments` fills sequences of up to ``max_length`` tokens with whole sentences of one
  document (RoBERTa's DOC-SENTENCES input format); :func:`nsp_pairs` builds BERT's sentence pairs,
  50% IsNext / 50% NotNext (segment B from another document), as in BERT's
  ``create_pretraining_data.py`` (Devlin et al., 2019).

>>> starts = sentence_starts("Cells divide. Then, e.g. in vitro, they die! Fig. 2 shows it.")
>>> starts
[0, 14, 45]
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ...data.files.sources import Skipped, SourceDoc, walk
from ...errors import DataError, EncoderkitError


# ---------------------------------------------------------------------------- corpus
@dataclass
class Corpus:
    """Documents to pretrain on (``texts``, with stable ``ids``) and what was skipped, with reasons."""

    ids: list[str]
    texts: list[str]
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for i, t in zip(self.ids, self.texts):
            h.update(i.encode("utf-8", "surrogatepass") + b"\x00" + t.encode("utf-8", "surrogatepass") + b"\x01")
        return h.hexdigest()[:16]


def load_corpus(paths: Sequence[str | Path], *, line_docs: bool = False, min_chars: int = 20) -> Corpus:
    """Read every document under ``paths``. BEIR records give "title\\ntext"; ``line_docs`` makes every
    non-empty line of a text file its own document (sentence-per-line corpora).

    Raises DataError when a file named directly in ``paths`` cannot be used, and EncoderkitError when no
    document with at least ``min_chars`` characters is left (files inside folders may be skipped: they
    are listed in ``Corpus.skipped``).
    """
    if not paths:
        raise EncoderkitError("no corpus given", hint="pass --corpus with text files, folders or a BEIR corpus.jsonl")
    named = {str(Path(p)) for p in paths if not Path(p).is_dir()}
    ids: list[str] = []
    texts: list[str] = []
    skipped: list[Skipped] = []
    for item in walk(paths):
        if isinstance(item, Skipped):
            if item.path in named and item.line is None:
                raise DataError(
                    item.path,
                    f"cannot be used as pretraining text: {item.reason}",
                    hint="remove it from --corpus or fix the file",
                )
            skipped.append(item)
            continue
        for doc_id, text in _doc_texts(item, line_docs):
            if len(text.strip()) < min_chars:
                skipped.append(Skipped(item.path or doc_id, f"document {doc_id!r} shorter than {min_chars} characters"))
                continue
            ids.append(doc_id)
            texts.append(text)
    if not texts:
        reasons = "; ".join(str(s) for s in skipped[:5]) or "no supported files found"
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        raise EncoderkitError(
            f"no usable pretraining text in {', '.join(str(p) for p in paths)}: {reasons}{more}",
            hint="pass .txt/.md/.rst/.html files or a BEIR corpus.jsonl with text in them",
        )
    return Corpus(ids, texts, skipped)


def _doc_texts(doc: SourceDoc, line_docs: bool) -> Iterable[tuple[str, str]]:
    if doc.fmt == "beir":
        yield doc.doc_id, (f"{doc.title}\n{doc.text}" if doc.title.strip() else doc.text)
    elif line_docs:
        for n, line in enumerate(doc.text.split("\n"), start=1):  # "\n" only: U+2028 etc. stay inside a line
            if line.strip():
                yield f"{doc.doc_id}:{n}", line.strip()
    else:
        yield doc.doc_id, doc.text


def split_holdout(n_docs: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) document indices; at least one held-out document when fraction > 0."""
    if not 0.0 <= fraction < 1.0:
        raise EncoderkitError(f"eval fraction {fraction} is not in [0, 1)", hint="use e.g. 0.1")
    order = np.random.default_rng([int(seed), 2**20 + 17]).permutation(n_docs)
    n_eval = 0 if fraction == 0 else max(1, int(round(fraction * n_docs)))
    if n_eval >= n_docs:
        raise EncoderkitError(
            f"the corpus has {n_docs} document(s): too few to hold out {fraction:.0%} for evaluation",
            hint="add documents or pass --eval-fraction 0",
        )
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


# ---------------------------------------------------------------------------- sentences
_ABBREV = {
    "e.g",
    "i.e",
    "al",
    "fig",
    "figs",
    "vs",
    "dr",
    "mr",
    "mrs",
    "ms",
    "no",
    "approx",
    "ca",
    "cf",
    "etc",
    "eq",
    "ref",
    "refs",
    "st",
    "jr",
    "sr",
    "inc",
    "ltd",
    "co",
    "u.s",
    "u.k",
    "prof",
    "vol",
    "pp",
}
_BOUNDARY = re.compile(r"([.!?][\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*")


def sentence_starts(text: str) -> list[int]:
    """Character offsets where sentences start: after . ! ? + space before a capital or digit, and at line
    breaks. Common abbreviations (e.g., et al., Fig.) do not end a sentence. A heuristic, not a parser."""
    starts = [0]
    for m in _BOUNDARY.finditer(text):
        if m.group(1):
            word = re.search(r"(\S+)$", text[: m.start(1)])
            if word and word.group(1).lower().rstrip(".") in _ABBREV and m.group(1) == ".":
                continue
        if m.end() < len(text) and m.end() > starts[-1]:
            starts.append(m.end())
    return starts


# ---------------------------------------------------------------------------- tokenization
@dataclass
class TokenizedDoc:
    """One document as token ids, with word-start flags and the sentence each token belongs to."""

    ids: np.ndarray  # int32
    word_start: np.ndarray  # bool
    sentence: np.ndarray  # int32, non-decreasing

    def sentences(self) -> list[tuple[int, int]]:
        """(start, end) token ranges of the sentences."""
        if len(self.ids) == 0:
            return []
        cut = np.flatnonzero(np.diff(self.sentence)) + 1
        bounds = np.concatenate([[0], cut, [len(self.ids)]])
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def tokenize_documents(
    texts: Sequence[str], tokenizer, *, batch_size: int = 256, show_progress: bool | None = None
) -> list[TokenizedDoc]:
    """Tokenize documents without special tokens or truncation (needs a fast tokenizer for word ids)."""
    from ...runtime import progress_enabled

    if not getattr(tokenizer, "is_fast", False):
        raise EncoderkitError(
            "pretraining needs a fast (Rust) tokenizer for word boundaries", hint="use a model folder with a tokenizer.json"
        )
    out: list[TokenizedDoc] = []
    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc="tokenizing", unit="doc")
    for b in range(0, len(texts), batch_size):
        chunk = list(texts[b : b + batch_size])
        enc = tokenizer(
            chunk,
            add_special_tokens=False,
            truncation=False,
            padding=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            verbose=False,
        )
        for j, text in enumerate(chunk):
            ids = np.asarray(enc["input_ids"][j], dtype=np.int32)
            words = np.array([-1 if w is None else w for w in enc.word_ids(j)], dtype=np.int64)
            ws = np.ones(len(ids), dtype=bool)
            if len(ids) > 1:
                ws[1:] = (words[1:] != words[:-1]) | (words[1:] < 0)
            offsets = np.asarray([o[0] for o in enc["offset_mapping"][j]], dtype=np.int64).reshape(-1)
            starts = np.asarray(sentence_starts(text))
            sent = (np.searchsorted(starts, offsets, side="right") - 1).astype(np.int32)
            sent = np.maximum.accumulate(sent) if len(sent) else sent
            out.append(TokenizedDoc(ids, ws, sent))
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return out


# ---------------------------------------------------------------------------- examples
@dataclass
class Example:
    """One model input before masking: ids with special tokens, flags, segments and the NSP label."""

    input_ids: np.ndarray  # int32
    special: np.ndarray  # bool
    word_start: np.ndarray  # bool
    token_type_ids: np.ndarray  # int8
    nsp_label: int = -1  # 0 IsNext, 1 NotNext (BERT's convention), -1 no NSP
    doc: int = -1

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class SpecialLayout:
    """Where a tokenizer puts its special tokens around one segment or a pair (BERT: [CLS] A [SEP] B [SEP])."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    single_suffix: tuple[int, ...]
    type_b: int  # token type of segment B (0 for tokenizers without segment types)

    @classmethod
    def of(cls, tokenizer) -> SpecialLayout:
        sa = tokenizer("a", add_special_tokens=False)["input_ids"]
        sb = tokenizer("b", add_special_tokens=False)["input_ids"]
        single = tokenizer("a", add_special_tokens=True, return_token_type_ids=True)
        pair = tokenizer("a", "b", add_special_tokens=True, return_token_type_ids=True)
        ids, types = list(pair["input_ids"]), list(pair.get("token_type_ids") or [0] * len(pair["input_ids"]))
        ia = _find(ids, sa)
        ib = _find(ids, sb, ia + len(sa))
        sids = list(single["input_ids"])
        ja = _find(sids, sa)
        if ia < 0 or ib < 0 or ja < 0 or sids[:ja] != ids[:ia]:
            raise EncoderkitError("cannot work out where this tokenizer puts its special tokens")
        return cls(
            tuple(ids[:ia]),
            tuple(ids[ia + len(sa) : ib]),
            tuple(ids[ib + len(sb) :]),
            tuple(sids[ja + len(sa) :]),
            int(types[ib]),
        )

    @property
    def n_single(self) -> int:
        return len(self.prefix) + len(self.single_suffix)

    @property
    def n_pair(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def single(self, ids: np.ndarray, word_start: np.ndarray, doc: int = -1) -> Example:
        p, s = np.asarray(self.prefix, np.int32), np.asarray(self.single_suffix, np.int32)
        word_start = word_start.copy()
        if len(word_start):
            word_start[0] = True  # a sequence cut mid-word starts a new unit for masking
        return Example(
            input_ids=np.concatenate([p, ids, s]).astype(np.int32),
            special=np.concatenate([np.ones(len(p), bool), np.zeros(len(ids), bool), np.ones(len(s), bool)]),
            word_start=np.concatenate([np.ones(len(p), bool), word_start, np.ones(len(s), bool)]),
            token_type_ids=np.zeros(len(p) + len(ids) + len(s), np.int8),
            doc=doc,
        )

    def pair(self, a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray, label: int, doc: int = -1) -> Example:
        p, m, s = (np.asarray(x, np.int32) for x in (self.prefix, self.middle, self.suffix))
        wa, wb = wa.copy(), wb.copy()
        wa[0] = wb[0] = True
        ids = np.concatenate([p, a, m, b, s]).astype(np.int32)
        special = np.concatenate(
            [np.ones(len(p), bool), np.zeros(len(a), bool), np.ones(len(m), bool), np.zeros(len(b), bool), np.ones(len(s), bool)]
        )
        ws = np.concatenate([np.ones(len(p), bool), wa, np.ones(len(m), bool), wb, np.ones(len(s), bool)])
        types = np.concatenate([np.zeros(len(p) + len(a) + len(m), np.int8), np.full(len(b) + len(s), self.type_b, np.int8)])
        return Example(ids, special, ws, types, nsp_label=label, doc=doc)


def _find(seq: list[int], sub: list[int], start: int = 0) -> int:
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i : i + len(sub)] == sub:
            return i
    return -1


def _pieces(doc: TokenizedDoc, limit: int) -> list[tuple[int, int]]:
    """Sentence ranges, with sentences longer than ``limit`` cut into pieces (at a word start if possible)."""
    out = []
    for a, b in doc.sentences():
        while b - a > limit:
            cut = a + limit
            starts = np.flatnonzero(doc.word_start[a + limit // 2 : cut + 1]) + a + limit // 2
            if len(starts):
                cut = int(starts[-1])
            out.append((a, cut))
            a = cut
        out.append((a, b))
    return out


def pack_segments(
    docs: Sequence[TokenizedDoc],
    layout: SpecialLayout,
    max_length: int,
    *,
    min_tokens: int = 4,
    doc_index: Sequence[int] | None = None,
) -> list[Example]:
    """Greedily fill sequences of at most ``max_length`` tokens (specials included) with consecutive whole
    sentences of one document (RoBERTa's DOC-SENTENCES); an over-long sentence is cut into pieces."""
    limit = max_length - layout.n_single
    if limit < 8:
        raise EncoderkitError(f"max length {max_length} leaves no room for text", hint="use --max-length 64 or more")
    examples: list[Example] = []
    for n, doc in enumerate(docs):
        d = doc_index[n] if doc_index is not None else n
        start = end = None
        for a, b in _pieces(doc, limit):
            if start is not None and b - start > limit:
                if end - start >= min_tokens:
                    examples.append(layout.single(doc.ids[start:end], doc.word_start[start:end], d))
                start = None
            if start is None:
                start = a
            end = b
        if start is not None and end - start >= min_tokens:
            examples.append(layout.single(doc.ids[start:end], doc.word_start[start:end], d))
    return examples


def nsp_pairs(
    docs: Sequence[TokenizedDoc], layout: SpecialLayout, max_length: int, *, seed: int, doc_index: Sequence[int] | None = None
) -> list[Example]:
    """BERT's next-sentence-prediction pairs, drawn once (static) with ``seed``.

    Sentences of a document are grouped into chunks of up to ``max_length`` tokens; each chunk is split
    at a random sentence boundary into A and B. With probability 0.5 B is replaced by sentences from a
    random other document (label 1, NotNext; the unused sentences go back to the document) else B is
    the true continuation (label 0, IsNext). A one-sentence chunk is split at a random word start. The
    pair is cut to fit by trimming the longer segment at its end.
    """
    if len(docs) < 2:
        raise EncoderkitError("next-sentence prediction needs at least 2 documents", hint="drop --nsp or add text")
    rng = np.random.default_rng([int(seed), 7919])
    limit = max_length - layout.n_pair
    if limit < 8:
        raise EncoderkitError(f"max length {max_length} leaves no room for a sentence pair", hint="use --max-length 64+")
    pieces = [_pieces(d, limit) for d in docs]
    examples: list[Example] = []
    for n, doc in enumerate(docs):
        d = doc_index[n] if doc_index is not None else n
        sents = pieces[n]
        i = 0
        while i < len(sents):
            # BERT sometimes uses a shorter target length (10%) so short sequences are seen too
            target = int(rng.integers(2, limit + 1)) if rng.random() < 0.1 else limit
            chunk, size = [], 0
            while i < len(sents) and (not chunk or size + sents[i][1] - sents[i][0] <= target):
                chunk.append(sents[i])
                size += sents[i][1] - sents[i][0]
                i += 1
            ex = _make_pair(doc, chunk, docs, pieces, n, layout, limit, rng, d)
            if ex is None:
                continue
            example, put_back = ex
            i -= put_back
            examples.append(example)
    return examples


def _make_pair(doc, chunk, docs, pieces, n, layout, limit, rng, d):
    lo, hi = chunk[0][0], chunk[-1][1]
    if hi - lo < 4:
        return None
    if len(chunk) >= 2:
        a_end = chunk[int(rng.integers(1, len(chunk)))][0]
    else:  # one sentence: split it at a word start
        starts = np.flatnonzero(doc.word_start[lo + 1 : hi - 1]) + lo + 1
        if not len(starts):
            return None
        a_end = int(rng.choice(starts))
    a_ids, a_ws = doc.ids[lo:a_end], doc.word_start[lo:a_end]
    put_back = 0
    if rng.random() < 0.5:
        label = 1
        other = int(rng.integers(len(docs) - 1))
        other += other >= n
        osents = pieces[other]
        k = int(rng.integers(len(osents)))
        b_lo, b_hi = osents[k][0], osents[k][0]
        want = limit - len(a_ids)
        while k < len(osents) and b_hi - b_lo < want:
            b_hi = osents[k][1]
            k += 1
        b_ids, b_ws = docs[other].ids[b_lo:b_hi], docs[other].word_start[b_lo:b_hi]
        put_back = sum(1 for s in chunk if s[0] >= a_end)  # the true continuation is used later
    else:
        label = 0
        b_ids, b_ws = doc.ids[a_end:hi], doc.word_start[a_end:hi]
    if len(b_ids) == 0 or len(a_ids) == 0:
        return None
    na, nb = _trim_lengths(len(a_ids), len(b_ids), limit)
    a_ids, a_ws, b_ids, b_ws = a_ids[:na], a_ws[:na], b_ids[:nb], b_ws[:nb]
    return layout.pair(a_ids, a_ws, b_ids, b_ws, label, d), put_back


def _trim_lengths(na: int, nb: int, limit: int) -> tuple[int, int]:
    """Lengths after trimming one token at a time from the longer segment (B on ties) until the pair fits."""
    if na + nb <= limit:
        return na, nb
    short = min(na, nb)
    if 2 * short >= limit:
        return (limit + 1) // 2, limit // 2
    return (short, limit - short) if na <= nb else (limit - short, short)
