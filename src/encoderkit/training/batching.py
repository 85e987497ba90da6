"""How examples are grouped into batches, for every objective on the shared loop: a seeded permutation
per epoch (:func:`epoch_batches`, optionally never two examples sharing a key in one batch), batches of
similar lengths that still change every epoch (:func:`length_batches`: less padding, faster on a CPU),
deterministic length-sorted batches for evaluation (:func:`sorted_length_batches`), and the batches of
one optimizer step (:func:`step_batches`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, keys: Sequence | None = None) -> list[list[int]]:
    """Batches of example indices for one epoch, a permutation seeded by (seed, epoch). With ``keys``
    (e.g. the texts of each example), no batch holds two examples sharing a key: duplicates inside a
    batch would be false in-batch negatives for MNRL.

    >>> epoch_batches(5, 2, seed=0, epoch=0) == epoch_batches(5, 2, seed=0, epoch=0)
    True
    >>> sorted(i for b in epoch_batches(5, 2, 0, 0) for i in b), [len(b) for b in epoch_batches(5, 2, 0, 0)]
    ([0, 1, 2, 3, 4], [2, 2, 1])
    >>> keys = ["a", "a", "a", "b"]
    >>> all(len({keys[i] for i in b}) == len(b) for b in epoch_batches(4, 2, 0, 0, keys=keys))
    True
    """
    order = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 7]).permutation(n).tolist()
    if keys is None:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    batches: list[list[int]] = []
    open_batches: list[tuple[list[int], set]] = []
    for i in order:
        k = set(keys[i]) if isinstance(keys[i], (tuple, list, set, frozenset)) else {keys[i]}
        for b, used in open_batches:
            if not (used & k):
                b.append(i)
                used |= k
                if len(b) == batch_size:
                    batches.append(b)
                    open_batches.remove((b, used))
                break
        else:
            open_batches.append(([i], set(k)))
    batches.extend(b for b, _ in open_batches)
    return batches


def step_batches(plan: list[list[int]], pos: int, grad_accum: int) -> list[list[int]]:
    """The batches of the ``pos``-th step of an epoch: ``grad_accum`` consecutive batches of the plan
    (fewer at its end; a plan shorter than the first epoch's wraps around).

    >>> plan = [[0, 1], [2, 3], [4]]
    >>> step_batches(plan, 0, 2), step_batches(plan, 1, 2), step_batches(plan, 3, 1)
    ([[0, 1], [2, 3]], [[4]], [[0, 1]])
    """
    start = pos * grad_accum
    if start >= len(plan):
        start %= len(plan)
    return plan[start : start + grad_accum]


def length_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, pool: int = 50) -> list[list[int]]:
    """Batches of similar lengths (less padding, faster on a CPU) that still change every epoch: a
    permutation seeded by (seed, epoch), sorted by length inside windows of ``pool`` batches, then the
    batches shuffled.

    >>> b = length_batches([5, 1, 4, 2, 3, 6], 2, seed=0, epoch=0)
    >>> sorted(i for x in b for i in x), all(len(x) == 2 for x in b)
    ([0, 1, 2, 3, 4, 5], True)
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 11])
    order = rng.permutation(len(lengths))
    window = batch_size * pool
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window].tolist(), key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def sorted_length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding); deterministic (evaluation sets).

    >>> sorted_length_batches([5, 1, 4, 2], 2)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
