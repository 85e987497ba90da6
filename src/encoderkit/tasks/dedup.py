"""`encoderkit dedup`: exact and near-duplicate documents, grouped, with the copy to keep and why.

1. Exact duplicates: equal SHA-256 of the text after Unicode NFKC, case folding and whitespace
   collapsing (so re-wrapped or re-cased copies count as exact).
2. Near duplicates: cosine similarity of the document embeddings at or above ``threshold`` (found with
   a faiss range search over normalised vectors), optionally confirmed by lexical overlap: the share
   of the shorter text's word 3-gram shingles found in the longer one (containment, Broder 1997), which
   tells a truncated or lightly edited copy from a paraphrase or a templated sibling ("stocks rose" vs
   "stocks fell") that embeddings put close together.
3. Groups are formed around the copy to keep (greedy leader clustering, no chaining): documents are
   ranked by preference, the longest text first (the most complete copy), then input order; each
   document not yet grouped becomes a leader and takes every ungrouped document similar enough to it.
   So every removed document is within the threshold of the copy that is kept, and the report says so.

>>> normalize_text("  The  Cat\\nsat. ") == normalize_text("the cat sat.")
True
>>> round(containment("the cat sat on the mat today", "the cat sat on the mat"), 2)
1.0
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from ..errors import EncoderkitError
from .collection import Collection

DEFAULT_THRESHOLD = 0.95


def normalize_text(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8", "surrogatepass")).hexdigest()


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", normalize_text(text))
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def containment(a: str, b: str, n: int = 3) -> float:
    """Share of the shorter text's word ``n``-gram shingles that occur in the other text."""
    sa, sb = shingles(a, n), shingles(b, n)
    small, big = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    return len(small & big) / max(1, len(small))


def similar_pairs(vectors: np.ndarray, threshold: float) -> dict[int, dict[int, float]]:
    """For each document, the others with cosine >= ``threshold`` (faiss range search, exact)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    out: dict[int, dict[int, float]] = {}
    step = 2048
    for start in range(0, len(x), step):
        lims, dist, ids = index.range_search(x[start : start + step], float(threshold) - 1e-6)
        for row in range(len(lims) - 1):
            i = start + row
            for j, d in zip(ids[lims[row] : lims[row + 1]], dist[lims[row] : lims[row + 1]]):
                if int(j) != i:
                    out.setdefault(i, {})[int(j)] = float(d)
    return out


def preference(texts: list[str]) -> list[int]:
    """Indices in keep-preference order: longest (normalised) text first, then input order."""
    lengths = [len(normalize_text(t)) for t in texts]
    return sorted(range(len(texts)), key=lambda i: (-lengths[i], i))


def find_duplicates(
    docs: Collection, vectors: np.ndarray | None, *, threshold: float = DEFAULT_THRESHOLD, min_overlap: float | None = None
) -> dict:
    """Exact and near-duplicate groups of ``docs`` (see the module docstring). ``vectors``: normalised
    embeddings (None: exact duplicates only). ``min_overlap``: also require this lexical containment."""
    if not 0 < threshold <= 1:
        raise EncoderkitError(f"threshold {threshold} is not in (0, 1]", hint="a cosine similarity, e.g. 0.95")
    n = len(docs)
    order = preference(docs.texts)
    rank = {i: r for r, i in enumerate(order)}
    rep_of: dict[str, int] = {}  # normalised-text hash -> its preferred copy
    copies: dict[int, list[int]] = {}  # preferred copy -> its other exact copies
    for i in order:
        h = text_hash(docs.texts[i])
        if h in rep_of:
            copies[rep_of[h]].append(i)
        else:
            rep_of[h] = i
            copies[i] = []
    near = similar_pairs(vectors, threshold) if vectors is not None and n > 1 else {}
    leader_of: dict[int, int] = {}
    followers: dict[int, list[tuple[int, float, float | None]]] = {}
    for i in order:  # greedy leader clustering over the distinct texts, best copy first
        if i not in copies or i in leader_of:
            continue
        leader_of[i] = i
        followers[i] = []
        for j in sorted(near.get(i, {}), key=rank.get):
            if j not in copies or j in leader_of:
                continue
            overlap = containment(docs.texts[i], docs.texts[j]) if min_overlap is not None else None
            if overlap is not None and overlap < min_overlap:
                continue
            leader_of[j] = i
            followers[i].append((j, near[i][j], overlap))
    groups = []
    for lead in order:
        if leader_of.get(lead) != lead:
            continue
        members = [(c, "exact", 1.0, None) for c in copies[lead]]
        for j, sim, ov in followers[lead]:
            members += [(j, "near", sim, ov)] + [(c, "near", sim, ov) for c in copies[j]]
        if members:
            groups.append(_describe(lead, members, docs))
    groups.sort(key=lambda g: -len(g["duplicates"]))
    removed = sum(len(g["duplicates"]) for g in groups)
    return {
        "source": docs.source,
        "documents": n,
        "threshold": threshold,
        "min_overlap": min_overlap,
        "groups": groups,
        "exact_duplicates": sum(1 for g in groups for d in g["duplicates"] if d["kind"] == "exact"),
        "near_duplicates": sum(1 for g in groups for d in g["duplicates"] if d["kind"] == "near"),
        "removed": removed,
        "kept": n - removed,
    }


def _describe(lead: int, members: list, docs: Collection) -> dict:
    texts = docs.texts
    size = {i: len(normalize_text(texts[i])) for i in [lead] + [m for m, *_ in members]}
    longer = all(size[lead] > size[m] for m, *_ in members)
    reason = (
        f"longest text ({size[lead]} characters)"
        if longer
        else f"first in input order of the longest copies ({size[lead]} characters)"
    )

    def ref(i: int) -> dict:
        return {"id": docs.ids[i], "path": docs.paths[i] if docs.paths else "", "chars": len(texts[i])}

    return {
        "kept": ref(lead),
        "reason": reason,
        "duplicates": [
            {**ref(m), "kind": kind, "similarity": round(sim, 4), **({"overlap": round(ov, 4)} if ov is not None else {})}
            for m, kind, sim, ov in members
        ],
    }


def dedup_markdown(res: dict, max_groups: int = 50) -> str:
    lines = [
        f"# Duplicates in {res['source']}",
        "",
        f"{res['documents']} documents: {res['exact_duplicates']} exact and {res['near_duplicates']} near duplicates "
        f"(cosine >= {res['threshold']}"
        + (f", overlap >= {res['min_overlap']}" if res["min_overlap"] is not None else "")
        + f") "
        f"in {len(res['groups'])} groups; {res['kept']} documents kept.",
        "",
    ]
    for g in res["groups"][:max_groups]:
        lines.append(f"- keep **{g['kept']['path'] or g['kept']['id']}** ({g['reason']})")
        for d in g["duplicates"]:
            lines.append(f"  - drop {d['path'] or d['id']}: {d['kind']}, cosine {d['similarity']}")
    if len(res["groups"]) > max_groups:
        lines.append(f"- ... {len(res['groups']) - max_groups} more groups in dedup.json")
    return "\n".join(lines) + "\n"


def write_report(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "dedup.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    (out / "dedup.md").write_text(dedup_markdown(res))
