"""A fusion rule: how one index fuses its first stages -- the method (``rrf`` or score-normalised
``weighted``, :mod:`.fusion`), a weight per retriever, and how strongly a query's own signals shift those
weights (``strength``, :mod:`.fusion_signals`). An index calibrates its rule on pseudo-queries of its own
documents (:mod:`encoderkit.index.calibrate`), or a user tunes it on labelled queries (``encoderkit tune
fusion``); the rule is stored in the manifest (``"fusion"``) and every search that does not name a fusion
uses it. The candidates either chooses among are :func:`candidate_rules`.

>>> rule = FusionRule("weighted", {"bm25": 0.3, "dense": 0.7})
>>> FusionRule.from_dict(rule.to_dict()) == rule
True
>>> rule.describe()
'weighted (bm25 0.3, dense 0.7)'
>>> len(candidate_rules(["bm25", "dense"])), len(candidate_rules(["bm25", "dense", "colbert"]))
(58, 67)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import EncoderkitError
from .fusion import RRF_K
from .fusion_signals import overlap_at, query_weights, score_gap
from .ranking import Ranked, fuse

RULE_FORMAT_VERSION = 1
METHODS = ("rrf", "weighted")
WEIGHTED_STEPS_2 = tuple(round(i / 10, 1) for i in range(11))  # share of the second list, two lists
RRF_STEPS_2 = (0.2, 0.35, 0.5, 0.65, 0.8)
STRENGTHS = (0.0, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class FusionRule:
    """``method`` rrf | weighted; ``weights`` per retriever name (a retriever not named gets 0 in weighted
    fusion, 1 in RRF); ``strength`` of the per-query shift (0: fixed weights); ``reference``: each
    retriever's typical score gap on the calibration queries; ``source``: calibrated | tuned | default |
    override; ``figures``: what was measured when it was chosen."""

    method: str
    weights: dict = field(default_factory=dict)
    strength: float = 0.0
    reference: dict = field(default_factory=dict)
    rrf_k: int = RRF_K
    source: str = "default"
    figures: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise EncoderkitError(f"unknown fusion method '{self.method}'", hint=f"use one of: {', '.join(METHODS)}")

    def to_dict(self) -> dict:
        return {
            "format_version": RULE_FORMAT_VERSION,
            "method": self.method,
            "weights": {k: float(v) for k, v in self.weights.items()},
            "strength": float(self.strength),
            "reference": {k: round(float(v), 6) for k, v in self.reference.items()},
            "rrf_k": int(self.rrf_k),
            "source": self.source,
            "figures": self.figures,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FusionRule:
        if int(d.get("format_version", 1)) > RULE_FORMAT_VERSION:
            raise EncoderkitError(
                f"fusion rule format {d.get('format_version')} is newer than this encoderkit understands",
                hint="upgrade encoderkit, or re-calibrate: encoderkit tune fusion --index DIR",
            )
        return cls(
            d["method"],
            dict(d.get("weights") or {}),
            float(d.get("strength", 0.0)),
            dict(d.get("reference") or {}),
            int(d.get("rrf_k", RRF_K)),
            d.get("source", "default"),
            dict(d.get("figures") or {}),
        )

    def with_(self, **changes) -> FusionRule:
        from dataclasses import replace

        return replace(self, **changes)

    def describe(self) -> str:
        """One line: method, weights and the per-query shift."""
        w = ", ".join(f"{k} {v:g}" for k, v in self.weights.items())
        shift = f", per-query shift {self.strength:g}" if self.strength else ""
        k = f" k={self.rrf_k}" if self.method == "rrf" and self.rrf_k != RRF_K else ""
        return f"{self.method}{k} ({w}){shift}"

    def weights_for(self, rankings: dict[str, Ranked]) -> tuple[dict[str, float], dict[str, float]]:
        """This query's weights for the lists it fuses, and each list's score gap (the signal)."""
        default = 1.0 if self.method == "rrf" else 0.0
        base = {name: float(self.weights.get(name, default)) for name in rankings}
        gaps = {name: round(score_gap(r.scores), 4) for name, r in rankings.items()}
        return query_weights(base, gaps, self.reference, self.strength), gaps

    def apply(self, rankings: dict[str, Ranked], *, explain: bool = False) -> tuple[Ranked, dict | None]:
        """Fuse one query's stage rankings; with ``explain``, what weights it got and why."""
        weights, gaps = self.weights_for(rankings)
        fused = fuse(rankings, k=self.rrf_k, method=self.method, weights=weights)
        if not explain:
            return fused, None
        return fused, {
            "rule": self.describe(),
            "source": self.source,
            "method": self.method,
            "base_weights": {k: float(self.weights.get(k, 1.0 if self.method == "rrf" else 0.0)) for k in rankings},
            "weights": {k: round(v, 4) for k, v in weights.items()},
            "score_gap": gaps,
            "typical_gap": {k: round(float(v), 4) for k, v in self.reference.items() if k in rankings},
            "strength": self.strength,
            "top10_overlap": overlap_at({k: r.keys for k, r in rankings.items()}),
        }


def _simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Points of the n-simplex on a grid of ``step`` (weights >= 0 summing to 1)."""
    m = round(1 / step)
    return [tuple(round(c / m, 4) for c in combo) for combo in itertools.product(range(m + 1), repeat=n) if sum(combo) == m]


def candidate_rules(names: Sequence[str]) -> list[FusionRule]:
    """The rules calibration and tuning choose among, for these retrievers: weighted fusion over a grid
    of weights (each list alone included, so a useless list can be dropped), RRF with tilted weights, each
    with per-query shift strengths 0, 0.5 and 1 (single lists: 0 only). Two lists: share of the second
    in steps of 0.1 (weighted) and 0.2-0.8 (RRF); three or more: the simplex in steps of 1/4 (weighted)
    and its interior (RRF)."""
    names = list(names)
    if len(names) == 2:
        weighted = [(1 - a, a) for a in WEIGHTED_STEPS_2]
        rrf = [(1 - a, a) for a in RRF_STEPS_2]
    else:
        weighted = _simplex(len(names), 0.25)
        rrf = [p for p in weighted if all(x > 0 for x in p)] + [tuple(1 / len(names) for _ in names)]
    out = []
    for method, points in (("weighted", weighted), ("rrf", rrf)):
        for p in points:
            w = {n: round(float(x), 4) for n, x in zip(names, p)}
            single = sum(1 for x in p if x > 0) == 1
            for s in (0.0,) if single else STRENGTHS:
                out.append(FusionRule(method, w, s))
    return out
