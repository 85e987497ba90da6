"""Self-supervised (query, passage) pairs from a corpus alone, for users with no labels.

Inverse Cloze Task (Lee, Chang & Toutanova, ACL 2019): a sentence of a passage is the pseudo-query
and the rest of the passage is its positive. The sentence is left in the passage 10% of the time
so the model also learns lexical matching. The document title, when there is one, stays in the
positive (it is part of what is indexed).

>>> pairs = ict_pairs([("d1", "Title", "First sentence here. Second one follows. Third ends it.")], seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import random
import re
from typing import Iterable

from ..data.corpora.pairs import Pair, doc_text

_SENT = re.compile(r"[^.!?]+[.!?]+(?:\s+|$)|[^.!?]+$")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if s.strip()]


def ict_pairs(
    docs: Iterable[tuple[str, str, str]],
    *,
    seed: int = 0,
    per_doc: int = 1,
    keep_prob: float = 0.1,
    min_words: int = 5,
    max_words: int = 64,
) -> list[Pair]:
    """(doc id, title, text) -> ICT pairs. Documents with fewer than 2 usable sentences are skipped."""
    rng = random.Random(seed)
    out = []
    for doc_id, title, text in docs:
        sents = sentences(text)
        usable = [i for i, s in enumerate(sents) if min_words <= len(s.split()) <= max_words]
        if len(sents) < 2 or not usable:
            continue
        for i in rng.sample(usable, min(per_doc, len(usable))):
            keep = rng.random() < keep_prob
            rest = " ".join(s for j, s in enumerate(sents) if keep or j != i)
            out.append(Pair(sents[i], doc_text(title, rest), query_id=f"ict:{doc_id}:{i}", positive_id=doc_id))
    return out


def title_pairs(docs: Iterable[tuple[str, str, str]], *, min_words: int = 4) -> list[Pair]:
    """Document titles as pseudo-queries and the text without its title as the positive: weak
    supervision that looks like short claims or questions (titles are dropped from the positive so
    the match is not a verbatim copy)."""
    return [
        Pair(title, text, query_id=f"title:{doc_id}", positive_id=doc_id)
        for doc_id, title, text in docs
        if len(title.split()) >= min_words and text.strip()
    ]
