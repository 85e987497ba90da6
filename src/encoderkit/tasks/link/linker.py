"""A linker: the code set's names in an encoderkit index (one document per concept name: BM25 + dense over
names), so linking a mention is a search whose hits are grouped by concept.

Folder layout: the index itself, plus ``linker.json`` (format version, the code set's source, digest and
counts). Rebuilding from a changed code set updates the index incrementally: names are documents whose id is
``concept id + normalised name``, so an unchanged name is not encoded again, a new one is added and a
removed one deleted.

>>> from encoderkit.data.corpora.codesets import CodeSet, Concept
>>> codes = CodeSet({"D1": Concept("D1", "Wilson Disease", ("Hepatolenticular Degeneration",))})
>>> name_documents(codes)[0]
{'id': 'D1|wilson disease', 'text': 'Wilson Disease', 'meta': {'concept': 'D1'}}
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ...data.corpora.codesets import CodeSet
from ...errors import EncoderkitError
from .mentions import abbreviations, expand_abbreviations, normalize_name, split_composite

LINKER_FILE = "linker.json"
CONCEPTS_FILE = "concepts.json"  # each concept's type and parents, for validation
LINKER_FORMAT = "encoderkit-linker"
LINKER_FORMAT_VERSION = 1
NAME_DEPTH = 50  # names fetched per mention before grouping by concept (a priori: several names per concept)


@dataclass
class Candidate:
    """One concept for a mention: its id, the name that matched, the fused score and each stage's rank
    and score of that name."""

    id: str
    name: str
    score: float
    stages: dict = field(default_factory=dict)
    problem: str | None = None  # why validation rejects it (None: it passes)

    def to_dict(self) -> dict:
        out = {"id": self.id, "name": self.name, "score": round(float(self.score), 6), "stages": self.stages}
        return {**out, "valid": self.problem is None, **({"problem": self.problem} if self.problem else {})}


def validation_problem(cid: str, concepts: dict, *, types: Sequence[str] | None = None, under: str | None = None) -> str | None:
    """Why concept ``cid`` may not be linked under the constraints, or None when it may: its type must be one
    of ``types`` (when given), and ``under`` (when given) must be the concept itself or one of its ancestors
    through the parents in ``concepts`` {id: {"type", "parents"}}. Deterministic: no score involved.

    >>> tree = {"D1": {"type": "Disease", "parents": ["D0"]}, "D0": {"type": "Disease", "parents": []}, "G1": {"type": "Gene"}}
    >>> validation_problem("D1", tree, types=["Disease"], under="D0") is None
    True
    >>> validation_problem("G1", tree, types=["Disease"]), validation_problem("D0", tree, under="D1")
    ("type 'Gene' is not one of Disease", 'not under D1')
    """
    entry = concepts.get(cid) or {}
    if types and entry.get("type", "") not in set(types):
        return f"type {entry.get('type', '')!r} is not one of {', '.join(types)}"
    if under and under != cid:
        seen, todo = set(), list(entry.get("parents") or [])
        while todo:
            p = todo.pop()
            if p == under:
                return None
            if p not in seen:
                seen.add(p)
                todo.extend((concepts.get(p) or {}).get("parents") or [])
        return f"not under {under}"
    return None


def name_documents(codes: CodeSet, extra: dict[str, Sequence[str]] | None = None) -> list[dict]:
    """One document per distinct (concept, normalised name): the code set's names, plus ``extra`` names
    per concept id (e.g. training mentions, the published protocol's dictionary extension)."""
    docs: dict[str, dict] = {}
    for c in codes:
        names = list(c.names()) + list((extra or {}).get(c.id, ()))
        for name in names:
            key = f"{c.id}|{normalize_name(name)}"
            if normalize_name(name) and key not in docs:
                docs[key] = {"id": key, "text": name, "meta": {"concept": c.id}}
    return list(docs.values())


def _digest(docs: list[dict]) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(d["id"].encode("utf-8") + b"\n")
    return h.hexdigest()[:16]


class Linker:
    """Link mentions to concepts by searching the code set's names (see the module docstring)."""

    def __init__(self, folder: Path, index, meta: dict):
        self.folder, self.index, self.meta = Path(folder), index, meta
        path = self.folder / CONCEPTS_FILE
        self.concepts: dict = json.loads(path.read_text())["concepts"] if path.is_file() else {}

    @classmethod
    def build(
        cls,
        codes: CodeSet,
        folder: str | Path,
        *,
        model: str = "default",
        extra: dict[str, Sequence[str]] | None = None,
        show_progress: bool | None = None,
        export_onnx: bool = True,
    ) -> Linker:
        """Create or update the linker in ``folder`` from ``codes`` (names added, removed or kept)."""
        from ...index import Index

        folder = Path(folder)
        t0 = time.perf_counter()
        docs = name_documents(codes, extra)
        if (folder / LINKER_FILE).is_file():
            index = Index.open(folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            index = Index.create(folder, encoder=model, titles="none")
        have = set(index.doc_ids().values())
        want = {d["id"] for d in docs}
        removed = sorted(have - want)
        if removed:
            index.remove(removed)
        added = [d for d in docs if d["id"] not in have]
        if added:
            index.add(added, show_progress=show_progress, export_onnx=export_onnx)
        meta = {
            "format": LINKER_FORMAT,
            "format_version": LINKER_FORMAT_VERSION,
            "codes": {"source": codes.source, "format": codes.format, "concepts": len(codes), "digest": _digest(docs)},
            "names": len(docs),
            "extra_names": sum(len(v) for v in (extra or {}).values()),
            "last_build": {"added": len(added), "removed": len(removed), "seconds": round(time.perf_counter() - t0, 1)},
        }
        concepts = {c.id: {"type": c.type, "parents": list(c.parents)} for c in codes if c.type or c.parents}
        (folder / CONCEPTS_FILE).write_text(json.dumps({"format_version": 1, "concepts": concepts}) + "\n")
        (folder / LINKER_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return cls(folder, index, meta)

    @classmethod
    def open(cls, folder: str | Path, *, readonly: bool = True) -> Linker:
        from ...index import Index

        folder = Path(folder)
        path = folder / LINKER_FILE
        if not path.is_file():
            raise EncoderkitError(
                f"'{folder}' is not a linker (no {LINKER_FILE})", hint="build one: encoderkit link build --codes CODES --out DIR"
            )
        meta = json.loads(path.read_text())
        if meta.get("format") != LINKER_FORMAT or int(meta.get("format_version", 0)) > LINKER_FORMAT_VERSION:
            raise EncoderkitError(f"{path} is not a linker this encoderkit understands", hint="rebuild it: encoderkit link build")
        return cls(folder, Index.open(folder, readonly=readonly), meta)

    def close(self) -> None:
        self.index.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def link(
        self,
        mentions: Sequence[str],
        *,
        k: int = 5,
        mode: str = "hybrid",
        types: Sequence[str] | None = None,
        under: str | None = None,
    ) -> list[list[Candidate]]:
        """The top ``k`` concepts for each mention (its best-scoring name per concept), best first, each with
        its validation outcome under ``types`` / ``under`` (:func:`validation_problem`)."""
        if (types or under) and not self.concepts:
            raise EncoderkitError(
                "this code set gives its concepts no types or parents to validate against",
                hint="add type / parents columns to the code set and build again, or leave out --type / --under",
            )
        out = []
        for hits in self.index.search_many(list(mentions), mode=mode, k=NAME_DEPTH):
            best: dict[str, Candidate] = {}
            for h in hits:
                cid = h.meta.get("concept") or h.doc_id.split("|", 1)[0]
                if cid not in best:
                    stages = {s: {"rank": v["rank"], "score": round(float(v["score"]), 6)} for s, v in h.stages.items()}
                    problem = validation_problem(cid, self.concepts, types=types, under=under) if (types or under) else None
                    best[cid] = Candidate(cid, h.text, h.score, stages, problem)
            out.append(list(best.values())[:k])
        return out

    def link_mentions(
        self,
        mentions: Sequence[str],
        *,
        context: str | None = None,
        k: int = 5,
        mode: str = "hybrid",
        types: Sequence[str] | None = None,
        under: str | None = None,
        min_score: float | None = None,
    ) -> list[dict]:
        """Link whole mentions as a user writes them: abbreviations expanded from ``context`` (the text the
        mentions come from, Schwartz-Hearst), composite mentions split ("breast and ovarian cancer"), each
        part linked. One {"mention", "parts": [{"text", "candidates": [...], "id", "nil"}]} per mention:
        ``id`` is the best candidate that passes validation and scores at least ``min_score``; ``nil`` when
        none does (a NIL threshold calibrated on dev data is the next step; ``min_score`` is the user's).

        The published protocol's NCBI spelling fixes are corpus-specific and not applied here.
        """
        pairs = abbreviations(context) if context else {}
        prepared = [split_composite(expand_abbreviations(m, pairs)) for m in mentions]
        flat = [part for parts in prepared for part in parts]
        ranked = iter(self.link(flat, k=k, mode=mode, types=types, under=under)) if flat else iter(())

        def part_result(part: str, cands: list[Candidate]) -> dict:
            ok = [c for c in cands if c.problem is None and (min_score is None or c.score >= min_score)]
            return {"text": part, "id": ok[0].id if ok else None, "nil": not ok, "candidates": [c.to_dict() for c in cands]}

        return [
            {"mention": m, "parts": [part_result(part, next(ranked)) for part in parts]} for m, parts in zip(mentions, prepared)
        ]
