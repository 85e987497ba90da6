"""How an index changes: plan the update, encode what is new, commit a new generation.

Split from :mod:`encoderkit.index` so each step is a small function that can be tested alone.
The commit protocol (see :mod:`encoderkit.store`): rows for generation T = G+1 are written first,
then the generation's artifacts (BM25, vectors) go into a fresh ``gen-T`` folder renamed into place,
and only then is the manifest switched to T. A crash at any point leaves generation G intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..retrieval.bm25 import BM25Index, BM25Params
from ..data.chunking import Chunk, chunk_text, clip_title, index_text
from ..retrieval.dense import DenseIndex, DenseParams
from .manifest import fsync_dir
from ..data.sources import SourceDoc, Skipped
from .store import Store

CHUNKER_VERSION = 1
GEN_PREFIX = "gen-"


@dataclass(frozen=True)
class ChunkSettings:
    """``size`` 0 means no chunking: one chunk per document, truncated by the encoder."""

    size: int = 256
    overlap: int = 32
    title_header: bool = True

    def to_dict(self) -> dict:
        return {"size": self.size, "overlap": self.overlap, "title_header": self.title_header,
                "split_headings": True, "tokenizer": "model", "chunker_version": CHUNKER_VERSION}


def settings_key(model: dict, chunking: ChunkSettings) -> str:
    """Everything that changes stored chunks or vectors; rows with another key are never reused."""
    payload = {k: model[k] for k in ("fingerprint", "pooling", "max_length")}
    payload.update(chunking.to_dict(), normalize=True)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class UpdatePlan:
    encode: list[SourceDoc] = field(default_factory=list)   # new or changed: to chunk and encode
    keep_pending: set[int] = field(default_factory=set)     # rows encoded by an interrupted run, reused
    drop_pending: list[int] = field(default_factory=list)   # stale rows of an interrupted run
    remove_rows: list[int] = field(default_factory=list)    # visible rows that stop being visible
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    resumed: int = 0
    removed: int = 0

    @property
    def changes(self) -> bool:
        return bool(self.encode or self.keep_pending or self.remove_rows)


def plan_update(incoming: Sequence[SourceDoc], remove_ids: set[str], visible: dict, pending: dict,
                key: str, *, rebuild: bool = False) -> UpdatePlan:
    """Diff incoming documents against what is visible (and pending from a crashed run).

    ``visible``: doc_id -> row; ``pending``: (doc_id, hash, settings_key) -> row id. Pure function.
    """
    plan = UpdatePlan()
    for doc in incoming:
        row = visible.get(doc.doc_id)
        same = row is not None and row["content_hash"] == doc.content_hash and row["settings_key"] == key
        if same and not rebuild:
            plan.unchanged += 1
            continue
        pend = pending.get((doc.doc_id, doc.content_hash, key))
        if pend is not None:
            plan.keep_pending.add(pend)
            plan.resumed += 1
        else:
            plan.encode.append(doc)
        if row is not None:
            plan.remove_rows.append(row["id"])
            plan.updated += 1
        else:
            plan.added += 1
    incoming_ids = {d.doc_id for d in incoming}
    for doc_id in remove_ids - incoming_ids:
        row = visible.get(doc_id)
        if row is not None:
            plan.remove_rows.append(row["id"])
            plan.removed += 1
    plan.drop_pending = [r for r in pending.values() if r not in plan.keep_pending]
    return plan


def encode_documents(docs: Sequence[SourceDoc], encoder, store: Store, *, gen: int, key: str,
                     chunking: ChunkSettings, group_chunks: int = 512, batch_size: int = 32,
                     progress=None) -> int:
    """Chunk, encode and store ``docs`` as pending rows at ``gen``; returns the number of chunks.

    Documents are written in groups (one transaction each), so an interrupted run keeps what it
    finished and the next run resumes from there.
    """
    tok = encoder.raw_tokenizer()
    window = min(chunking.size, encoder.max_length - 2)
    encodings = tok.encode_batch([d.text for d in docs], add_special_tokens=False)
    prepared = []
    for doc, enc in zip(docs, encodings):
        title, title_tokens = clip_title(doc.title, tok) if chunking.title_header else ("", 0)
        if chunking.size == 0:  # whole documents: BM25 sees all of it, the encoder truncates
            chunks = [Chunk(0, 0, len(doc.text), doc.text, len(enc.ids))] if enc.ids else []
        else:
            size = max(16, window - title_tokens)
            chunks = chunk_text(doc.text, tok, size=size, overlap=min(chunking.overlap, size // 2),
                                fmt=doc.fmt, encoding=enc)
        rows = [{"ord": c.ord, "start": c.start, "end": c.end, "section": c.section, "text": c.text,
                 "n_tokens": c.n_tokens, "index_text": index_text(title, c.text)} for c in chunks]
        if not rows:  # nothing tokenizable (e.g. only control characters): index the title alone
            rows = [{"ord": 0, "start": 0, "end": len(doc.text), "section": "", "text": doc.text,
                     "n_tokens": 0, "index_text": title or doc.text}]
        prepared.append((doc, rows))
    total = sum(len(r) for _, r in prepared)
    if progress is not None:
        progress.reset(total=total)
    group: list = []
    n_group = 0
    for i, item in enumerate(prepared):
        group.append(item)
        n_group += len(item[1])
        if n_group >= group_chunks or i == len(prepared) - 1:
            texts = [c["index_text"] for _, rows in group for c in rows]
            vecs = encoder.encode(texts, batch_size=batch_size, show_progress=False)
            per_doc, pos = [], 0
            for _, rows in group:
                per_doc.append(vecs[pos : pos + len(rows)])
                pos += len(rows)
            store.add_documents(
                [{"doc_id": d.doc_id, "path": d.path, "title": d.title, "fmt": d.fmt,
                  "content_hash": d.content_hash, "n_chars": len(d.text), "meta": d.meta} for d, _ in group],
                [rows for _, rows in group], per_doc, gen=gen, settings_key=key)
            if progress is not None:
                progress.update(len(texts))
            group, n_group = [], 0
    return total


def build_generation(store: Store, index_dir: Path, gen: int, dim: int, bm25_params: BM25Params,
                     dense_params: DenseParams) -> dict:
    """Write the search artifacts of generation ``gen`` into ``gen-XXXXXX`` (atomically renamed)."""
    ids, docs, texts, vecs = [], [], [], []
    for row in store.visible_chunks(gen):
        ids.append(row["id"])
        docs.append(row["doc"])
        texts.append(row["index_text"])
        vecs.append(np.frombuffer(row["embedding"], dtype=np.float32))
    vectors = np.vstack(vecs) if vecs else np.zeros((0, dim), np.float32)
    final = index_dir / gen_dirname(gen)
    tmp = index_dir / f".{gen_dirname(gen)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "bm25").mkdir(parents=True)
    np.save(tmp / "chunk_ids.npy", np.asarray(ids, dtype=np.int64), allow_pickle=False)
    np.save(tmp / "chunk_docs.npy", np.asarray(docs, dtype=np.int64), allow_pickle=False)
    BM25Index.build(texts, bm25_params).save(tmp / "bm25")
    DenseIndex.build(vectors, dense_params).save(tmp)
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    if final.exists():  # left by a crash after rename but before the manifest switched
        shutil.rmtree(final)
    os.rename(tmp, final)
    fsync_dir(index_dir)
    return {"chunks": len(ids), "documents": len(set(docs))}


def gen_dirname(gen: int) -> str:
    return f"{GEN_PREFIX}{gen:06d}"


def remove_old_generations(index_dir: Path, live: int) -> None:
    """Delete artifact folders older than the previous generation, and stray temp folders."""
    for p in index_dir.iterdir():
        name = p.name
        if name.startswith(f".{GEN_PREFIX}") and ".tmp-" in name:
            pid = name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)
        elif name.startswith(GEN_PREFIX) and name[len(GEN_PREFIX):].isdigit():
            if int(name[len(GEN_PREFIX):]) < live - 1 or int(name[len(GEN_PREFIX):]) > live:
                shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def skipped_summary(skipped: Sequence[Skipped]) -> dict[str, int]:
    """Count skipped items by reason, with details like sizes and offsets folded together."""
    counts: dict[str, int] = {}
    for s in skipped:
        reason = s.reason.split(" (")[0]
        reason = reason.split(" at byte")[0]
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
