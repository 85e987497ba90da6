"""Generations: the search artifacts of one committed state, in a ``gen-XXXXXX`` folder.

The commit protocol (see :mod:`encoderkit.index.store`): rows for generation T = G+1 are written
first, then each retriever's artifacts go into a fresh temporary folder renamed to ``gen-T``, and only
then is the manifest switched to T. A crash at any point leaves generation G intact.

Layout: ``chunk_ids.npy`` and ``chunk_docs.npy`` (the generation's chunks, ids ascending, and their
document row ids), then one sub-folder per retriever (``bm25/``, ``dense/``, ...).

A retriever with ``incremental = True`` is not rebuilt from every live chunk when the previous
generation's artifacts load: it gets the chunks removed and added since then (:func:`update_previous`),
so its cost follows the size of the change. Anything unexpected on that path (missing or unreadable
artifacts, ``can_update`` saying no) falls back to a full build.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..retrieval.base import ChunkSet
from .integrity import record_artifacts
from .manifest import fsync_dir
from .store import Store

GEN_PREFIX = "gen-"


def gen_dirname(gen: int) -> str:
    """Folder name of a generation's artifacts.

    >>> gen_dirname(7)
    'gen-000007'
    """
    return f"{GEN_PREFIX}{gen:06d}"


def live_chunks(store: Store, gen: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(chunk ids, document row ids, index texts) of every chunk visible at ``gen``, by chunk id."""
    ids, docs, texts = [], [], []
    for row in store.visible_chunks(gen):
        ids.append(row["id"])
        docs.append(row["doc"])
        texts.append(row["index_text"])
    return np.asarray(ids, dtype=np.int64), np.asarray(docs, dtype=np.int64), texts


def chunk_set(store: Store, gen: int, retriever, ids: np.ndarray, docs: np.ndarray, texts: list[str]) -> ChunkSet:
    """The live chunks as ``retriever`` sees them, with its payloads when it encodes."""
    if not retriever.encodes:
        return ChunkSet(ids, docs, texts)
    key = retriever.payload_key()
    found = {}
    for chunk, k, data in store.payloads(gen, retriever.name):
        if k == key:
            found[chunk] = data
    missing = [int(c) for c in ids if int(c) not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} chunks have no {retriever.name} payload (first: chunk {missing[0]})")
    return ChunkSet(ids, docs, texts, [found[int(c)] for c in ids])


def chunk_subset(store: Store, retriever, subset: np.ndarray, ids: np.ndarray, docs: np.ndarray, texts: list[str]) -> ChunkSet:
    """The chunks ``subset`` (a sorted subset of the live ``ids``) as ``retriever`` sees them, reading
    only their payloads."""
    where = np.searchsorted(ids, subset)
    sub_texts = [texts[i] for i in where]
    if not retriever.encodes:
        return ChunkSet(subset, docs[where], sub_texts)
    key = retriever.payload_key()
    found = store.payloads_of(retriever.name, subset.tolist())
    missing = [int(c) for c in subset if int(c) not in found or found[int(c)][0] != key]
    if missing:
        raise RuntimeError(f"{len(missing)} chunks have no {retriever.name} payload (first: chunk {missing[0]})")
    return ChunkSet(subset, docs[where], sub_texts, [found[int(c)][1] for c in subset])


def update_previous(store: Store, index_dir: Path, previous: dict, retriever, ids, docs, texts) -> bool:
    """Bring ``retriever`` to the live chunks from the artifacts of generation ``previous["gen"]`` (built
    with settings ``previous["settings"][name]``) by removing and adding only what changed. False when
    that is not possible (the caller then builds in full)."""
    old = (previous.get("settings") or {}).get(retriever.name)
    folder = index_dir / gen_dirname(previous["gen"])
    if old is None or not retriever.incremental or not (folder / retriever.name).is_dir():
        return False
    try:
        prev_ids = np.load(folder / "chunk_ids.npy", allow_pickle=False)
        retriever.load(folder / retriever.name, prev_ids)
    except (OSError, ValueError, RuntimeError, KeyError):
        return False
    added = ids[~np.isin(ids, prev_ids)]
    removed = prev_ids[~np.isin(prev_ids, ids)]
    if not retriever.can_update(old, int(len(prev_ids)), int(len(added)), int(len(removed))):
        return False
    try:
        if len(removed):
            retriever.remove(removed)
        if len(added):
            retriever.add(chunk_subset(store, retriever, added, ids, docs, texts))
    except RuntimeError:  # the retriever cannot take this change in place: the caller builds in full
        return False
    return True


def build_generation(store: Store, index_dir: Path, gen: int, retrievers: Sequence, *, previous: dict | None = None) -> dict:
    """Write the search artifacts of generation ``gen`` into ``gen-XXXXXX`` (atomically renamed).
    ``previous`` ({"gen", "settings": name -> settings}) lets incremental retrievers update the previous
    generation's artifacts instead of building from scratch. Returns counts, each retriever's bytes,
    stats and seconds, and the ``integrity`` record (size + sha256 per file). On any error (a full disk)
    the temporary folder is removed and nothing else changed."""
    ids, docs, texts = live_chunks(store, gen)
    final = index_dir / gen_dirname(gen)
    tmp = index_dir / f".{gen_dirname(gen)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    sizes, stats, incremental, seconds = {}, {}, [], {}
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / "chunk_ids.npy", ids, allow_pickle=False)
        np.save(tmp / "chunk_docs.npy", docs, allow_pickle=False)
        for r in retrievers:
            t = time.perf_counter()
            if previous is not None and update_previous(store, index_dir, previous, r, ids, docs, texts):
                incremental.append(r.name)
            else:
                r.build(chunk_set(store, gen, r, ids, docs, texts))
            r.save(tmp / r.name)
            seconds[r.name] = round(time.perf_counter() - t, 3)
            sizes[r.name] = sum(f.stat().st_size for f in (tmp / r.name).rglob("*") if f.is_file())
            stats[r.name] = r.stats()
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        integrity = record_artifacts(tmp)
        if final.exists():  # left by a crash after rename but before the manifest switched
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(index_dir)
    return {
        "chunks": int(len(ids)),
        "documents": int(len(set(docs.tolist()))),
        "retriever_bytes": sizes,
        "integrity": integrity,
        "retriever_stats": stats,
        "retriever_seconds": seconds,
        "incremental": incremental,
    }


def remove_old_generations(index_dir: Path, live: int) -> None:
    """Delete artifact folders older than the previous generation, and stray temp folders."""
    for p in index_dir.iterdir():
        name = p.name
        if name.startswith(f".{GEN_PREFIX}") and ".tmp-" in name:
            pid = name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)
        elif name.startswith(GEN_PREFIX) and name[len(GEN_PREFIX) :].isdigit():
            if int(name[len(GEN_PREFIX) :]) < live - 1 or int(name[len(GEN_PREFIX) :]) > live:
                shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
