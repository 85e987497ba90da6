"""Read STS-style scored sentence pairs (STS Benchmark format) with errors naming file:line.

>>> pairs = read_sts("../shared/data/stsbenchmark", split="test")   # doctest: +SKIP
>>> len(pairs), 0 <= pairs[0].score <= 5                            # doctest: +SKIP
(1379, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class StsPair:
    a: str
    b: str
    score: float


def read_sts(path: str | Path, split: str = "test") -> list[StsPair]:
    """STS Benchmark file (or folder holding ``sts-<split>.csv``): tab-separated, score in column 5,
    sentences in columns 6 and 7 (extra trailing fields on some lines are ignored)."""
    path = Path(path)
    if path.is_dir():
        path = path / f"sts-{split}.csv"
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass the stsbenchmark folder or a sts-*.csv file")
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 7:
                raise DataError(path, f"expected at least 7 tab-separated fields, got {len(parts)}", line=n)
            try:
                score = float(parts[4])
            except ValueError:
                raise DataError(path, f"score {parts[4]!r} is not a number", line=n) from None
            pairs.append(StsPair(parts[5], parts[6], score))
    if not pairs:
        raise DataError(path, "no sentence pairs found")
    return pairs
