"""Sliding windows over long token sequences, and which window speaks for which token.

A document longer than the model's limit is read as overlapping windows of ``size`` tokens, consecutive
windows sharing ``stride`` tokens (the overlap, as transformers' ``stride`` means it). Every token is
then *owned* by exactly one window, the one where it sits farthest from an edge (the boundary between
two windows is the middle of their overlap), so its prediction always has context on both sides and
no token is dropped or counted twice. Nothing is ever truncated.

>>> plan_windows(10, 4, 2)
[(0, 4), (2, 6), (4, 8), (6, 10)]
>>> owned_ranges(plan_windows(10, 4, 2), 10)
[(0, 3), (3, 5), (5, 7), (7, 10)]
"""

from __future__ import annotations


def plan_windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) windows covering ``n`` tokens: at most ``size`` long, consecutive ones overlapping by
    at least ``stride`` tokens; the last window ends at ``n`` (moved back to be full length).

    >>> plan_windows(0, 4, 1), plan_windows(3, 4, 1), plan_windows(9, 4, 1)
    ([], [(0, 3)], [(0, 4), (3, 7), (5, 9)])
    """
    if size < 1 or not 0 <= stride < size:
        raise ValueError(f"need size >= 1 and 0 <= stride < size (got size {size}, stride {stride})")
    if n <= 0:
        return []
    if n <= size:
        return [(0, n)]
    step = size - stride
    starts = list(range(0, n - size, step)) + [n - size]
    return [(s, s + size) for s in starts]


def owned_ranges(windows: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """For each window, the tokens [lo, hi) it owns: a partition of range(n), each inside its window.

    >>> owned_ranges([(0, 4), (3, 7), (5, 9)], 9)
    [(0, 4), (4, 6), (6, 9)]
    """
    if not windows:
        return []
    cuts = [0]
    for (_, end_a), (start_b, _) in zip(windows, windows[1:]):
        cuts.append(max(cuts[-1], (start_b + end_a + 1) // 2))
    cuts.append(n)
    return [(lo, hi) for lo, hi in zip(cuts, cuts[1:])]
