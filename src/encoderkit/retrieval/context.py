"""Prompt-ready context from search results: the best passages that fit a token budget, numbered for
citation, in an order chosen for the reader.

Language models use information at the start and the end of a long context better than in its middle
(Liu et al., 2023, "Lost in the Middle: How Language Models Use Long Contexts", TACL 2024). The
``edges`` order therefore puts the best passage first, the second best last, the third second, and so
on, leaving the weakest in the middle (what LangChain's ``LongContextReorder`` does); ``best_first``
keeps the ranking order.

>>> edges_order(5)
[0, 2, 4, 3, 1]
>>> count = lambda s: len(s.split())
>>> ctx = assemble_context([{"text": "alpha beta", "title": "A"}, {"text": "gamma delta epsilon", "title": "B"},
...                        {"text": "zeta", "title": "C"}], budget=8, count_tokens=count)
>>> print(ctx["context"])
[1] A
alpha beta
<BLANKLINE>
[2] C
zeta
>>> [c["rank"] for c in ctx["citations"]], ctx["dropped"]
([1, 3], 1)

A budget smaller than every passage gets the best passage cut to it at a sentence boundary, marked
``truncated``; a budget too small even for its first sentence is a :class:`BudgetTooSmall` saying the
smallest budget that works:

>>> one = {"text": "One two. Three four five.", "title": "A", "start": 0, "end": 25}
>>> ctx = assemble_context([one], budget=5, count_tokens=count)
>>> ctx["context"], ctx["truncated"], ctx["citations"][0]["end"]
('[1] A\\nOne two.', True, 8)
>>> assemble_context([one], budget=2, count_tokens=count)
Traceback (most recent call last):
...
encoderkit.retrieval.context.BudgetTooSmall: a budget of 2 tokens holds no passage; the best one's first sentence needs 4
"""

from __future__ import annotations

from typing import Callable, Sequence

ORDERS = ("best_first", "edges")


class BudgetTooSmall(ValueError):
    """Not even the best passage's first sentence fits the budget; ``needed``: the smallest that does."""

    def __init__(self, budget: int, needed: int):
        super().__init__(f"a budget of {budget} tokens holds no passage; the best one's first sentence needs {needed}")
        self.budget, self.needed = budget, needed


def edges_order(n: int) -> list[int]:
    """Positions of ranks 0..n-1 placed best at both ends: 0, 2, 4, ... then ..., 5, 3, 1."""
    front = list(range(0, n, 2))
    back = list(range(1, n, 2))
    return front + back[::-1]


def _overlaps(a: dict, b: dict) -> bool:
    if a.get("doc_id") is None or a.get("doc_id") != b.get("doc_id"):
        return False
    s, e = max(a.get("start", 0), b.get("start", 0)), min(a.get("end", 0), b.get("end", 0))
    shorter = min(a.get("end", 0) - a.get("start", 0), b.get("end", 0) - b.get("start", 0))
    return shorter > 0 and (e - s) > shorter / 2


def format_passage(n: int, p: dict) -> str:
    head = f"[{n}] {p.get('title') or p.get('doc_id') or ''}".rstrip()
    if p.get("path") and p.get("path") != p.get("title"):
        head += f" ({p['path']})"
    return f"{head}\n{p['text'].strip()}"


def assemble_context(
    passages: Sequence[dict],
    *,
    budget: int,
    count_tokens: Callable[[str], int],
    order: str = "best_first",
    separator: str = "\n\n",
) -> dict:
    """Fill ``budget`` tokens with ``passages`` (best first; dicts with ``text`` and optionally ``doc_id``,
    ``title``, ``path``, ``start``, ``end``, ...). A passage that does not fit is skipped and smaller
    ones after it still tried; one that mostly repeats an already chosen passage of the same document
    (overlapping chunks) is skipped. Returns ``context`` (the text, passages numbered ``[n]`` in the
    chosen order), ``citations`` (one per passage: its fields, ``n``, ``rank``, ``tokens``), ``tokens``
    used and ``dropped`` (passages left out for lack of room)."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; use one of {ORDERS}")
    sep_cost = count_tokens(separator.strip()) if separator.strip() else 0
    chosen, used, dropped = [], 0, 0
    for rank, p in enumerate(passages, start=1):
        if any(_overlaps(p, c) for c, _, _ in chosen):
            continue
        cost = count_tokens(format_passage(len(chosen) + 1, p)) + (sep_cost if chosen else 0)
        if used + cost > budget:
            dropped += 1
            continue
        chosen.append((p, rank, cost))
        used += cost
    truncated = False
    if not chosen and passages:  # nothing fits whole: the best passage, cut to the budget at a sentence end
        best, cost = cut_to_budget(passages[0], budget, count_tokens)
        chosen, used, truncated = [(best, 1, cost)], cost, True
        dropped = len(passages) - 1
    placed = [chosen[i] for i in (edges_order(len(chosen)) if order == "edges" else range(len(chosen)))]
    blocks, citations = [], []
    for n, (p, rank, cost) in enumerate(placed, start=1):
        blocks.append(format_passage(n, p))
        citations.append({**{k: v for k, v in p.items() if k != "text"}, "n": n, "rank": rank, "tokens": cost})
    return {
        "context": separator.join(blocks),
        "citations": citations,
        "tokens": used,
        "dropped": dropped,
        "truncated": truncated,
    }


def cut_to_budget(passage: dict, budget: int, count_tokens: Callable[[str], int]) -> tuple[dict, int]:
    """(the passage cut after its last whole sentence that fits ``budget`` with its heading, its cost);
    ``end`` moves with the cut. :class:`BudgetTooSmall` when not even the first sentence fits."""
    from .snippets import sentences

    text = passage["text"]
    ends = [e for _, e in sentences(text)] or [len(text)]
    best = None
    for e in ends:
        part = {**passage, "text": text[:e].rstrip()}
        cost = count_tokens(format_passage(1, part))
        if cost > budget:
            if best is None:
                raise BudgetTooSmall(budget, cost)
            break
        best = (part, cost)
    part, cost = best
    if "start" in passage:
        part["end"] = int(passage["start"]) + len(part["text"])
    return part, cost
