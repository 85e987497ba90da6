"""Generations: the search artifacts of one committed state, in a ``gen-XXXXXX`` folder.

The commit protocol (see :mod:`encoderkit.index.store`): rows for generation T = G+1 are written
first, then each retriever's artifacts go into a fresh temporary folder renamed to ``gen-T``, and only
then is the manifest switched to T. A crash at any point leaves generation G intact.

Layout: ``chunk_ids.npy`` and ``chunk_docs.npy`` (the generation's chunks, ids ascending, and their
document row ids), then one sub-folder per retriever (``bm25/``, ``dense/``, ...).
"""

from __future__ import annotations

import os
import shutil
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


def build_generation(store: Store, index_dir: Path, gen: int, retrievers: Sequence) -> dict:
    """Write the search artifacts of generation ``gen`` into ``gen-XXXXXX`` (atomically renamed); returns
    counts, each retriever's bytes and the ``integrity`` record (size + sha256 per file). On any error
    (a full disk) the temporary folder is removed and nothing else changed."""
    ids, docs, texts = live_chunks(store, gen)
    final = index_dir / gen_dirname(gen)
    tmp = index_dir / f".{gen_dirname(gen)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / "chunk_ids.npy", ids, allow_pickle=False)
        np.save(tmp / "chunk_docs.npy", docs, allow_pickle=False)
        sizes = {}
        for r in retrievers:
            r.build(chunk_set(store, gen, r, ids, docs, texts))
            r.save(tmp / r.name)
            sizes[r.name] = sum(f.stat().st_size for f in (tmp / r.name).rglob("*") if f.is_file())
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
