"""What an update did, for people (tables) and programs (JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

from ...data.files.sources import Skipped


@dataclass
class UpdateReport:
    """What an update did. ``skipped`` lists inputs not indexed, with reasons."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    resumed: int = 0
    chunks_encoded: int = 0
    payloads_filled: int = 0
    annotated: int = 0
    incremental: list[str] = field(default_factory=list)  # retrievers updated by new segments/markers (not rebuilt)
    encode_seconds: dict[str, float] = field(default_factory=dict)  # model time per encoding retriever
    kept_previous: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    generation: int = 0
    seconds: float = 0.0
    committed: bool = False
    migrated_from: int | None = None
    query_backend: str | None = None
    repaired: list[str] = field(default_factory=list)  # damage found in the previous generation, fixed by this commit
    full_build: bool = False  # every live chunk written into fresh segments (new settings, migration, repair)
    segments_added: int = 0
    chunks_deleted: int = 0  # chunks marked deleted in older segments
    merges: list[dict] = field(default_factory=list)  # automatic merges run after the commit
    segments: int = 0  # segments after the update
    warnings: list[str] = field(default_factory=list)  # what failed after the commit (the update itself stands)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["skipped"] = [
            {"path": s.path, "reason": s.reason, **({"line": s.line} if s.line is not None else {})} for s in self.skipped
        ]
        d["skipped_by_reason"] = skipped_summary(self.skipped)
        return d


@dataclass
class MergeReport:
    """What ``optimize`` did: each merge (segments merged, into which, chunks, deleted chunks dropped, seconds)."""

    segments_before: int = 0
    segments_after: int = 0
    merges: list[dict] = field(default_factory=list)
    migrated: bool = False
    generation: int = 0
    chunks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def skipped_summary(skipped: Sequence[Skipped]) -> dict[str, int]:
    """Count skipped items by reason, with details like sizes and offsets folded together.

    >>> skipped_summary([Skipped("a", "too large (3 MB)"), Skipped("b", "too large (9 MB)"), Skipped("c", "hidden")])
    {'too large': 2, 'hidden': 1}
    """
    counts: dict[str, int] = {}
    for s in skipped:
        reason = s.reason.split(" (")[0]
        reason = reason.split(" at byte")[0]
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
