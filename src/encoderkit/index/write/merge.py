"""Segment merges: the policy that picks them (pure functions) and ``optimize``.

Every update appends a small segment, so segments accumulate; merging neighbours keeps their number
logarithmic in the index size, drops deleted chunks for good, and lets large segments get approximate
dense structures (HNSW / IVF) that small ones do not need. The automatic policy is log-structured, as
Lucene's ``LogMergePolicy`` (Cutting; see also O'Neil et al., *The log-structured merge-tree*, 1996):

- a segment's tier is 0 up to ``floor`` live chunks, then one more per factor of ``factor``;
- ``factor`` neighbouring segments of one tier merge into one segment of the next tier (each chunk is
  rewritten about log_factor(n / floor) times over the index's life);
- a segment over ``floor`` chunks with more than ``max_deleted`` of them deleted is rewritten without
  them (smaller ones wait for their tier's next merge).

Only neighbours merge, so segments stay ordered by chunk id. ``encoderkit optimize`` merges everything
into ``max_segments`` segments (1 by default).

>>> p = MergePolicy(factor=3, floor=10)
>>> choose([(5, 0), (4, 0), (8, 0)], p), choose([(500, 0), (5, 0), (4, 0)], p)
([(0, 3)], [])
>>> choose([(100, 60), (5, 0)], p), choose([(8, 6), (5, 0)], p)
([(0, 1)], [])
>>> plan_optimize([(5, 0), (4, 0), (8, 0), (9, 0)], 2), plan_optimize([(5, 0), (4, 1)], 1)
([(0, 3)], [(0, 2)])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence


@dataclass(frozen=True)
class MergePolicy:
    """``factor`` neighbours of a tier merge; tiers start at ``floor`` live chunks; a segment with more
    than ``max_deleted`` of its chunks deleted is rewritten; no automatic merge makes a segment over
    ``max_chunks``; ``auto`` off leaves merging to ``encoderkit optimize``."""

    factor: int = 10
    floor: int = 1000
    max_deleted: float = 0.3
    max_chunks: int = 2_000_000
    auto: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> MergePolicy:
        d = d or {}
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def tier(self, live: int) -> int:
        if live <= self.floor:
            return 0
        return int(math.log(live / self.floor) / math.log(max(2, self.factor))) + 1


def choose(segments: Sequence[tuple[int, int]], policy: MergePolicy) -> list[tuple[int, int]]:
    """Merges to run now: ranges [start, end) of neighbouring segments, given each segment's (chunks,
    deleted). Non-overlapping, oldest first."""
    out: list[tuple[int, int]] = []
    live = [c - d for c, d in segments]
    tiers = [policy.tier(x) for x in live]
    taken = [False] * len(segments)
    factor = max(2, policy.factor)
    i = 0
    while i + factor <= len(segments):
        window = range(i, i + factor)
        if len({tiers[j] for j in window}) == 1 and sum(live[j] for j in window) <= policy.max_chunks:
            out.append((i, i + factor))
            for j in window:
                taken[j] = True
            i += factor
        else:
            i += 1
    for j, (chunks, deleted) in enumerate(segments):
        if not taken[j] and chunks > policy.floor and deleted / chunks > policy.max_deleted:
            out.append((j, j + 1))
    return sorted(out)


def plan_optimize(segments: Sequence[tuple[int, int]], max_segments: int = 1) -> list[tuple[int, int]]:
    """Ranges that leave at most ``max_segments`` segments of balanced sizes, every deleted chunk dropped
    (a range of one segment rewrites it without its deleted chunks)."""
    n = len(segments)
    if n == 0:
        return []
    live = [c - d for c, d in segments]
    groups = max(1, min(max_segments, n))
    target = sum(live) / groups
    bounds, acc, start = [], 0, 0
    for j in range(n):
        acc += live[j]
        left = n - j - 1
        if len(bounds) < groups - 1 and (acc >= target * (len(bounds) + 1) or left == groups - 1 - len(bounds)) and left > 0:
            bounds.append((start, j + 1))
            start = j + 1
    bounds.append((start, n))
    return [(a, b) for a, b in bounds if b - a > 1 or any(segments[j][1] for j in range(a, b))]
