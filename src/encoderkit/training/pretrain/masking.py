"""Masking for masked-language-model pretraining: which tokens to predict and what the model sees there.

Three ways to choose the positions, all at a rate counted in tokens (15% by default) and never on
special tokens ([CLS], [SEP], ...) or padding:

* ``token``: independent word pieces (BERT, Devlin et al., 2019).
* ``whole-word``: all pieces of a word together (BERT's later "whole word masking" release; the
  word boundaries come from the fast tokenizer's ``word_ids()``). As in BERT's
  ``create_pretraining_data.py``, a word that would overshoot the budget is skipped.
* ``span``: contiguous spans of whole words with lengths from a geometric distribution (p=0.2)
  truncated at 10 words, mean 3.8 words (SpanBERT, Joshi et al., 2020).

The chosen positions are then replaced 80% by [MASK], 10% by a random token, 10% left unchanged
(BERT). For token and whole-word masking the draw is per token (as BERT); for span masking it is per
span (SpanBERT: "we perform this replacement at the span level"). ELECTRA's generator input uses
85% [MASK] / 15% unchanged (``MaskSpec(mask_frac=0.85, random_frac=0.0)``).

Static vs dynamic masking (RoBERTa, Liu et al., 2019, section 4.1): every draw here comes from a
numpy Generator seeded by ``(seed, example index, draw)``. Static masking uses ``draw = 0`` in every
epoch (``draw = epoch % copies`` for BERT's ``dupe_factor``-style K copies), so an example is masked
identically each time it is seen; dynamic masking uses ``draw = epoch``, a fresh mask every epoch.
Because nothing depends on a global RNG, a resumed run re-creates exactly the masks of an
uninterrupted one, and held-out evaluation masks are identical at every checkpoint.

Why hand-written rather than ``transformers.DataCollatorForLanguageModeling``: that collator draws a
Bernoulli mask per token from the global torch RNG at collate time, so it cannot do static masks,
per-example reproducible masks or span masking, and its count of masked tokens per sequence varies.

>>> import numpy as np
>>> ids = np.array([101, 7592, 2088, 2003, 2307, 102])           # [CLS] hello world is great [SEP]
>>> special = np.array([1, 0, 0, 0, 0, 1], bool)
>>> spec = MaskSpec(prob=0.5)
>>> masked, labels = mask_example(ids, special, None, spec, example_rng(0, 7, 0), mask_id=103,
...                               random_ids=np.arange(1000, 2000))
>>> int((labels != -100).sum()), bool(labels[0] == labels[-1] == -100)
(2, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

IGNORE = -100  # label of positions that are not predicted (torch's CrossEntropyLoss ignore_index)
STRATEGIES = ("token", "whole-word", "span")


@dataclass(frozen=True)
class MaskSpec:
    """How to mask: rate and strategy of selection, then the [MASK] / random / unchanged split."""

    prob: float = 0.15
    strategy: str = "token"  # token | whole-word | span
    mask_frac: float = 0.8
    random_frac: float = 0.1
    span_p: float = 0.2  # SpanBERT geometric parameter
    span_max: int = 10  # SpanBERT truncation, in words
    replace_per_span: bool | None = None  # None: per span for "span", per token otherwise

    def __post_init__(self):
        from ...errors import EncoderkitError

        if not 0.0 < self.prob < 1.0:
            raise EncoderkitError(f"masking rate {self.prob} is not between 0 and 1", hint="use e.g. 0.15")
        if self.strategy not in STRATEGIES:
            raise EncoderkitError(f"unknown masking '{self.strategy}'", hint=f"use one of: {', '.join(STRATEGIES)}")
        if self.mask_frac < 0 or self.random_frac < 0 or self.mask_frac + self.random_frac > 1.0 + 1e-9:
            raise EncoderkitError("mask_frac + random_frac must be within [0, 1]")
        if not 0.0 < self.span_p <= 1.0 or self.span_max < 1:
            raise EncoderkitError("span_p must be in (0, 1] and span_max >= 1")

    @property
    def per_span(self) -> bool:
        return self.strategy == "span" if self.replace_per_span is None else self.replace_per_span

    def to_dict(self) -> dict:
        return asdict(self)


def example_rng(seed: int, index: int, draw: int) -> np.random.Generator:
    """The RNG for one example's mask: a pure function of (seed, example index, draw number)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index), int(draw)])


def mask_draw(epoch: int, *, static: bool, copies: int = 1) -> int:
    """Which draw an example uses in ``epoch``: fixed for static masking (one of ``copies``), new for dynamic."""
    return epoch % max(1, copies) if static else epoch


def target_count(n_candidates: int, prob: float, rng: np.random.Generator) -> int:
    """Tokens to mask: ``prob * n`` with stochastic rounding, so the expected rate is exactly ``prob``."""
    expected = prob * n_candidates
    base = int(np.floor(expected))
    return min(n_candidates, base + int(rng.random() < expected - base))


def word_units(special: np.ndarray, word_start: np.ndarray | None) -> list[np.ndarray]:
    """Group the non-special positions into words: a new word at each ``word_start`` or after a special token.

    Without ``word_start`` every non-special token is its own unit.
    """
    units: list[np.ndarray] = []
    current: list[int] = []
    for i in range(len(special)):
        if special[i]:
            if current:
                units.append(np.asarray(current))
                current = []
            continue
        if current and (word_start is None or word_start[i]):
            units.append(np.asarray(current))
            current = []
        current.append(i)
    if current:
        units.append(np.asarray(current))
    return units


def truncated_geometric(rng: np.random.Generator, p: float, max_len: int, size: int | None = None):
    """Span lengths ~ Geometric(p) conditioned on <= max_len (SpanBERT: p=0.2, max 10, mean 3.8)."""
    k = np.arange(1, max_len + 1)
    pmf = p * (1 - p) ** (k - 1)
    return rng.choice(k, size=size, p=pmf / pmf.sum())


def select_positions(
    special: np.ndarray, word_start: np.ndarray | None, spec: MaskSpec, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Choose the positions to predict. Returns (bool array, groups); each group is replaced as one unit
    (one group per token unless spans are replaced per span)."""
    n = len(special)
    selected = np.zeros(n, dtype=bool)
    candidates = np.flatnonzero(~special)
    budget = target_count(len(candidates), spec.prob, rng)
    if budget == 0:
        return selected, []
    if spec.strategy == "token":
        chosen = rng.choice(candidates, size=budget, replace=False)
        selected[chosen] = True
        return selected, [np.array([i]) for i in np.sort(chosen)]
    units = word_units(special, word_start)
    if spec.strategy == "whole-word":
        groups = []
        count = 0
        for u in rng.permutation(len(units)):
            if count >= budget:
                break
            if count + len(units[u]) > budget:  # BERT skips words that would overshoot the budget
                continue
            selected[units[u]] = True
            groups.append(units[u])
            count += len(units[u])
        return selected, _per_token_groups(groups, spec)
    return _select_spans(units, special, budget, spec, rng, selected)


def _per_token_groups(groups: list[np.ndarray], spec: MaskSpec) -> list[np.ndarray]:
    if spec.per_span:
        return groups
    return [np.array([i]) for g in groups for i in g]


def _select_spans(units, special, budget, spec, rng, selected):
    """SpanBERT: repeatedly draw a length (in words) and a start word; mask the whole words of the span.

    Spans do not cross special tokens (so not from segment A into B), do not overlap earlier spans and
    are cut to the words that still fit the budget; the loop stops at the budget or after 50 misses.
    """
    n_units = len(units)
    # segment of each unit (runs of units not separated by a special token) so spans stay in one segment
    seg = np.zeros(n_units, dtype=int)
    for j in range(1, n_units):
        gap = special[units[j - 1][-1] + 1 : units[j][0]].any()
        seg[j] = seg[j - 1] + int(gap)
    used = np.zeros(n_units, dtype=bool)
    count, misses, groups = 0, 0, []
    while count < budget and misses < 50:
        length = int(truncated_geometric(rng, spec.span_p, spec.span_max))
        start = int(rng.integers(n_units))
        span: list[int] = []
        tokens = 0
        for j in range(start, min(n_units, start + length)):
            if used[j] or seg[j] != seg[start] or count + tokens + len(units[j]) > budget:
                break
            span.append(j)
            tokens += len(units[j])
        if not span:
            misses += 1
            continue
        used[span] = True
        positions = np.concatenate([units[j] for j in span])
        selected[positions] = True
        groups.append(positions)
        count += tokens
    return selected, _per_token_groups(groups, spec)


def replace_selected(
    input_ids: np.ndarray,
    groups: list[np.ndarray],
    spec: MaskSpec,
    rng: np.random.Generator,
    *,
    mask_id: int,
    random_ids: np.ndarray,
) -> np.ndarray:
    """Apply [MASK] / random token / unchanged with probabilities mask_frac / random_frac / rest per group."""
    out = input_ids.copy()
    if not groups:
        return out
    u = rng.random(len(groups))
    for g, x in zip(groups, u):
        if x < spec.mask_frac:
            out[g] = mask_id
        elif x < spec.mask_frac + spec.random_frac:
            out[g] = random_ids[rng.integers(len(random_ids), size=len(g))]
    return out


def mask_example(
    input_ids: np.ndarray,
    special: np.ndarray,
    word_start: np.ndarray | None,
    spec: MaskSpec,
    rng: np.random.Generator,
    *,
    mask_id: int,
    random_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask one tokenized sequence. Returns (model input ids, labels with -100 where nothing is predicted)."""
    input_ids = np.asarray(input_ids)
    special = np.asarray(special, dtype=bool)
    selected, groups = select_positions(special, word_start, spec, rng)
    masked = replace_selected(input_ids, groups, spec, rng, mask_id=mask_id, random_ids=random_ids)
    labels = np.where(selected, input_ids, IGNORE)
    return masked, labels


def random_token_ids(tokenizer) -> np.ndarray:
    """Ids a random replacement may take: the whole vocabulary except special tokens."""
    vocab = len(tokenizer)
    keep = np.ones(vocab, dtype=bool)
    keep[[i for i in tokenizer.all_special_ids if i is not None and i < vocab]] = False
    return np.flatnonzero(keep)
