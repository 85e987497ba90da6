"""Loading what searches read: the live generation's segments (reusing those already loaded: they
never change), their deletion markers, and one :class:`SegmentedRetriever` per retriever name.

Indexes written before segments (a ``gen-XXXXXX/`` folder named by ``artifacts``) load as one segment
without deletions, read by the retrievers' pre-segment readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...retrieval.base import IndexContext
from ...retrieval.pipeline import Snapshot
from ...retrieval.registry import get as get_retriever
from ...retrieval.segmented import Part, SegmentedRetriever
from ..storage.integrity import HASH, SMALL_FILES, checked_at_open, chunk_array_problems, file_digest
from ..storage.migrate import pre_segment_folder
from ..storage.segments import SegmentEntry, entries_of, live_mask, read_deletes


def check_digests(folder: Path, prefix: str, names, recorded: dict) -> None:
    """Compare small files' sha256 with the manifest's records (ValueError naming the first mismatch)."""
    for name in names:
        want = recorded.get(f"{prefix}/{name}")
        if want is not None and file_digest(folder / name)[HASH] != want.get(HASH):
            raise ValueError(f"{prefix}/{name} does not match its recorded checksum (overwritten)")


@dataclass
class LoadedSegment:
    name: str
    chunk_ids: np.ndarray
    chunk_docs: np.ndarray
    retrievers: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # retriever name -> settings it was loaded with
    deletes: str | None = None
    live: np.ndarray | None = None


def load_segment(
    folder: Path, name: str, counts: dict, entries: list[dict], context: IndexContext, recorded: dict | None = None
) -> LoadedSegment:
    """Read one segment (or a pre-segment generation folder); ValueError on anything inconsistent.
    ``counts``: the chunks and documents it should hold; ``recorded``: the manifest's integrity records."""
    if recorded:
        check_digests(folder, name, [*SMALL_FILES, *checked_at_open(name, entries, recorded)], recorded)
    ids = np.load(folder / "chunk_ids.npy", allow_pickle=False)
    docs = np.load(folder / "chunk_docs.npy", allow_pickle=False)
    found = chunk_array_problems(ids, docs, counts)
    if found:
        raise ValueError(found[0])
    seg = LoadedSegment(name, ids, docs)
    for e in entries:
        r = get_retriever(e["name"])(e.get("settings") or {}, context)
        r.load(folder / e["name"], ids)
        seg.retrievers[e["name"]] = r
        seg.settings[e["name"]] = e.get("settings") or {}
    return seg


def load_snapshot(index_dir: Path, manifest: dict, context: IndexContext, store, previous: Snapshot | None = None) -> Snapshot:
    """The Snapshot of the manifest's generation; segments of ``previous`` are reused when unchanged."""
    index_dir = Path(index_dir)
    gen = int(manifest["generation"])
    entries = manifest["retrievers"]
    recorded = (manifest.get("integrity") or {}).get("files") or {}
    folder = pre_segment_folder(manifest)
    if folder:  # before segments: one generation folder
        seg = load_segment(index_dir / folder, folder, manifest["counts"], entries, context)
        loaded = [(seg, None)]
    else:
        cache = {s.name: s for s in (previous.segments or [])} if previous is not None else {}
        loaded = []
        for entry in entries_of(manifest):
            seg = cache.get(entry.name)
            if seg is None or seg.settings != {e["name"]: e.get("settings") or {} for e in entries}:
                counts = {"chunks": entry.chunks, "documents": entry.documents}
                seg = load_segment(index_dir / entry.name, entry.name, counts, entries, context, recorded)
            else:
                for r in seg.retrievers.values():
                    r.context = context
            loaded.append((seg, entry))
    segments, parts = [], {e["name"]: [] for e in entries}
    for seg, entry in loaded:
        if entry is not None and seg.deletes != entry.deletes:
            if entry.deletes:
                check_digests(index_dir / entry.name, entry.name, [entry.deletes], recorded)
            dels = read_deletes(index_dir / entry.name, entry)
            seg.live = live_mask(entry, dels) if len(dels) else None
            seg.deletes = entry.deletes
        segments.append(seg)
        for e in entries:
            parts[e["name"]].append(Part(seg.chunk_ids, seg.live, seg.retrievers[e["name"]]))
    ids = np.concatenate([s.chunk_ids for s in segments]) if segments else np.zeros(0, np.int64)
    docs = np.concatenate([s.chunk_docs for s in segments]) if segments else np.zeros(0, np.int64)
    if len(ids) > 1 and not bool(np.all(np.diff(ids) > 0)):  # never expected (neighbours only merge): stay correct
        order = np.argsort(ids, kind="stable")
        ids, docs = ids[order], docs[order]
    live = sum(int(len(s.chunk_ids)) if s.live is None else int(np.count_nonzero(s.live)) for s in segments)
    template = {e["name"]: get_retriever(e["name"])(e.get("settings") or {}, context) for e in entries}
    retrievers = {name: SegmentedRetriever(name, p, template[name]) for name, p in parts.items()}
    snap = Snapshot(gen, ids, docs, retrievers, int(manifest["counts"].get("documents") or 0), live=live, segments=segments)
    snap.set_tie_order(store.tie_order(gen))
    return snap


__all__ = ["LoadedSegment", "SegmentEntry", "load_snapshot", "load_segment"]
