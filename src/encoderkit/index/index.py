"""A persistent search index over documents: SQLite store + BM25 + dense vectors + JSON manifest.

>>> from encoderkit import Index
>>> idx = Index.create("demo-index", encoder="default")                         # doctest: +SKIP
>>> idx.add([{"id": "py", "text": "Python is a programming language."},
...          {"id": "cat", "text": "Cats are small domesticated carnivores."}])  # doctest: +SKIP
>>> [h.doc_id for h in idx.search("what language should I code in", k=1)]      # doctest: +SKIP
['py']
>>> Index.open("demo-index").search("felines", mode="dense")[0].doc_id           # doctest: +SKIP
'cat'

Layout of an index folder: ``manifest.json`` (format version, model, settings, live generation),
``index.db`` (SQLite: documents, chunks, embeddings), ``gen-XXXXXX/`` (artifacts of the live
generation: ``bm25/``, ``vectors.npy``, ``chunk_ids.npy``, ``chunk_docs.npy``), ``write.lock``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .. import __version__
from ..retrieval.bm25 import BM25Params
from ..retrieval.dense import KINDS, DenseParams
from ..errors import EncoderkitError
from .writer_steps import (ChunkSettings, build_generation, encode_documents, gen_dirname, plan_update,
                      remove_old_generations, settings_key, skipped_summary)
from .manifest import MANIFEST, read_manifest, write_manifest
from ..retrieval.ranking import MODES, STAGES, Hit, QueryRanking, Ranked, Snapshot, fuse, stage_rankings, stage_table
from ..data.sources import DEFAULT_MAX_BYTES, Skipped, SourceDoc, walk
from .store import Store

DB = "index.db"
LOCK = "write.lock"


@dataclass
class UpdateReport:
    """What an update did. ``skipped`` lists inputs not indexed, with reasons."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    resumed: int = 0
    chunks_encoded: int = 0
    kept_previous: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    generation: int = 0
    seconds: float = 0.0
    committed: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["skipped"] = [{"path": s.path, "reason": s.reason} for s in self.skipped]
        d["skipped_by_reason"] = skipped_summary(self.skipped)
        return d


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _as_source_doc(d, i: int) -> SourceDoc:
    if isinstance(d, SourceDoc):
        doc = d
    elif isinstance(d, dict):
        doc_id = d.get("id", d.get("doc_id", d.get("_id")))
        if doc_id is None:
            raise EncoderkitError(f"document {i} has no id", hint="give each document an 'id' field")
        text = d.get("text")
        if not isinstance(text, str):
            raise EncoderkitError(f"document {doc_id!r} has no text", hint="give each document a 'text' string")
        doc = SourceDoc(doc_id=str(doc_id), text=text, title=str(d.get("title") or ""),
                        path=str(d.get("path") or ""), fmt=d.get("fmt", "text"), meta=d.get("meta") or {})
    else:
        raise EncoderkitError(f"document {i} is a {type(d).__name__}", hint="pass dicts with 'id' and 'text'")
    if not (doc.text.strip() or doc.title.strip()):
        raise EncoderkitError(f"document {doc.doc_id!r} is empty", hint="drop empty documents before adding")
    return doc


class Index:
    """An on-disk index. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path, manifest: dict, store: Store, encoder=None, *, readonly: bool = False):
        self.path = Path(path)
        self.manifest = manifest
        self.store = store
        self.readonly = readonly
        self._encoder = encoder
        self._snapshot: Snapshot | None = None
        self._pending_manifest: dict | None = None
        self.backend = "auto"  # how queries are encoded, see open()
        self._manifest_mtime = self._mtime()

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, path: str | Path, encoder="default", *, chunk_size: int = 256, chunk_overlap: int = 32,
               title_header: bool = True, bm25: BM25Params | None = None, dense: DenseParams | None = None) -> "Index":
        """Create an empty index in a new (or empty) folder."""
        from ..models.encoder import Encoder

        path = Path(path)
        if (path / MANIFEST).exists():
            raise EncoderkitError(f"index '{path}' already exists", hint="open it with Index.open, or pick a new folder")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise EncoderkitError(f"'{path}' exists and is not an empty folder", hint="pick a new folder for the index")
        if chunk_size != 0 and (chunk_size < 16 or not 0 <= chunk_overlap <= chunk_size // 2):
            raise EncoderkitError(f"bad chunking: size {chunk_size}, overlap {chunk_overlap}",
                                  hint="use size >= 16 and 0 <= overlap <= size/2, or size 0 for whole documents")
        dense = dense or DenseParams()
        if dense.kind not in KINDS:
            raise EncoderkitError(f"unknown dense index kind '{dense.kind}'", hint=f"use one of: {', '.join(KINDS)}")
        enc = encoder if isinstance(encoder, Encoder) else Encoder.load(encoder)
        path.mkdir(parents=True, exist_ok=True)
        store = Store.create(path / DB)
        chunking = ChunkSettings(chunk_size, chunk_overlap, title_header)
        model = enc.describe()
        manifest = {
            "created_at": _now(), "updated_at": _now(), "encoderkit_version": __version__,
            "generation": 0, "artifacts": None,
            "model": {**model, "normalize": True},
            "settings_key": settings_key(model, chunking),
            "chunking": chunking.to_dict(),
            "bm25": (bm25 or BM25Params()).to_dict(),
            "dense": dense.to_dict(),
            "counts": {"documents": 0, "chunks": 0},
            "build": {},
        }
        write_manifest(path, manifest)
        return cls(path, read_manifest(path), store, enc)

    @classmethod
    def open(cls, path: str | Path, encoder=None, *, readonly: bool = False, backend: str = "auto") -> "Index":
        """Open an existing index. ``encoder``, if given, must match the one the index was built with.
        ``backend`` for encoding queries: torch | onnx | onnx-int8 | auto (ONNX Runtime when an fp32
        export of the index's model exists, see `encoderkit export onnx`; else torch)."""
        path = Path(path)
        manifest = read_manifest(path)
        db = path / DB
        if not db.is_file():
            raise EncoderkitError(f"index '{path}' is missing {DB}", hint="rebuild it with --rebuild")
        try:
            store = Store(db, readonly=readonly or not os.access(path, os.W_OK))
            store.check()
        except sqlite3.DatabaseError as exc:
            raise EncoderkitError(f"{db} is corrupted or not an encoderkit database ({exc})",
                                  hint="rebuild the index with `encoderkit index PATH --index DIR --rebuild`") from None
        idx = cls(path, manifest, store, readonly=readonly)
        idx.backend = backend
        if encoder is not None:
            idx._check_encoder(encoder)
            idx._encoder = encoder
        return idx

    @classmethod
    def open_or_create(cls, path: str | Path, encoder="default", **settings) -> "Index":
        if (Path(path) / MANIFEST).exists():
            return cls.open(path)
        return cls.create(path, encoder=encoder, **settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ facts
    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    def __len__(self) -> int:
        return int(self.manifest["counts"]["documents"])

    def stats(self) -> dict:
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {"path": str(self.path), "generation": self.generation, **self.manifest["counts"],
                "size_bytes": size, "model": self.manifest["model"]["name"]}

    @property
    def encoder(self):
        """The encoder the index was built with, loaded on first use and checked against the manifest."""
        if self._encoder is None:
            self._encoder = self._load_encoder()
        return self._encoder

    def _load_encoder(self):
        from ..models.encoder import Encoder

        m = self.manifest["model"]
        source = m.get("source", "local")
        if source == "bundled":
            spec = m["spec"]
        elif Path(m["path"]).is_dir():
            spec = m["path"]
        elif source == "hub":
            spec = m["spec"]  # not in the local cache any more: fetch again (needs network)
        else:
            raise EncoderkitError(f"the model this index was built with is missing: {m['path']}",
                                  hint="restore that model directory, or rebuild with --model DIR --rebuild")
        backend = self.backend
        if backend == "auto":
            from ..models.export import onnx_cache

            exported = onnx_cache() / f"{m['fingerprint']}-encoder" / "model.onnx"
            backend = "onnx" if exported.is_file() else "torch"
        enc = Encoder.load(spec, pooling=m["pooling"], max_length=m["max_length"], backend=backend)
        self._check_encoder(enc)
        return enc

    def _check_encoder(self, enc) -> None:
        m = self.manifest["model"]
        got = enc.describe()
        for key in ("fingerprint", "pooling", "max_length", "dim"):
            if got[key] != m[key]:
                raise EncoderkitError(
                    f"encoder does not match index '{self.path}': {key} is {got[key]!r}, the index was built with "
                    f"{m[key]!r} (model {m['name']})",
                    hint="search with the index's own model (omit --model), or rebuild the index with --rebuild")

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _write_lock(self):
        if self.readonly:
            raise EncoderkitError(f"index '{self.path}' is open read-only", hint="open it without readonly=True")
        fh = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise EncoderkitError(f"index '{self.path}' is being updated by another process",
                                  hint="wait for it to finish, then run again") from None
        try:
            self.manifest = read_manifest(self.path)  # another writer may have committed since we opened
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def reconfigure(self, encoder=None, *, chunk_size: int | None = None, chunk_overlap: int | None = None,
                    bm25: BM25Params | None = None, dense: DenseParams | None = None) -> None:
        """Change model/chunking/BM25/dense settings; they take effect with the next ``rebuild=True``
        update (BM25 and dense settings apply at any next commit). The old generation stays searchable
        until then."""
        from ..models.encoder import Encoder

        m = dict(self.manifest)
        if encoder is not None:
            enc = encoder if isinstance(encoder, Encoder) else Encoder.load(encoder)
            self._encoder = enc
            m["model"] = {**enc.describe(), "normalize": True}
        ch = m["chunking"]
        chunking = ChunkSettings(ch["size"] if chunk_size is None else chunk_size,
                                 ch["overlap"] if chunk_overlap is None else chunk_overlap, ch["title_header"])
        m["chunking"] = chunking.to_dict()
        m["settings_key"] = settings_key(m["model"], chunking)
        if bm25 is not None:
            m["bm25"] = bm25.to_dict()
        if dense is not None:
            m["dense"] = dense.to_dict()
        self._pending_manifest = m

    def _target_manifest(self) -> dict:
        return self._pending_manifest or self.manifest

    def add(self, docs: Iterable, *, show_progress: bool | None = None, write_every: int = 512) -> UpdateReport:
        """Add or replace documents (dicts with id, text[, title, path, meta] or SourceDocs)."""
        items = [_as_source_doc(d, i) for i, d in enumerate(docs)]
        seen: set[str] = set()
        for d in items:
            if d.doc_id in seen:
                raise EncoderkitError(f"duplicate document id {d.doc_id!r} in input", hint="make ids unique")
            seen.add(d.doc_id)
        return self._update(items, set(), show_progress=show_progress, write_every=write_every)

    def remove(self, ids: Iterable[str]) -> UpdateReport:
        """Remove documents by id; unknown ids are ignored (the report's ``removed`` counts real ones)."""
        return self._update([], {str(i) for i in ids}, show_progress=False)

    def sync(self, paths: Sequence[str | Path], *, rebuild: bool = False, max_bytes: int = DEFAULT_MAX_BYTES,
             show_progress: bool | None = None, write_every: int = 512) -> UpdateReport:
        """Index files and folders incrementally: new and changed files are (re-)encoded, files that
        disappeared from under ``paths`` are removed, unchanged ones cost only a hash. A file that
        exists but cannot be read now keeps its previously indexed version."""
        incoming: list[SourceDoc] = []
        skipped: list[Skipped] = []
        seen: set[str] = set()
        for item in walk(paths, max_bytes=max_bytes):
            if isinstance(item, Skipped):
                skipped.append(item)
            elif item.doc_id in seen:
                skipped.append(Skipped(item.path, f"duplicate document id {item.doc_id!r}"))
            else:
                seen.add(item.doc_id)
                incoming.append(item)
        roots = [str(Path(p).resolve()) for p in paths]
        failed = {str(Path(s.path).resolve()) for s in skipped}
        return self._update(incoming, set(), roots=roots, failed_paths=failed, skipped=skipped,
                            rebuild=rebuild, show_progress=show_progress, write_every=write_every)

    def _update(self, incoming: list[SourceDoc], remove_ids: set[str], *, roots: list[str] | None = None,
                failed_paths: set[str] | None = None, skipped: list[Skipped] | None = None,
                rebuild: bool = False, show_progress: bool | None = None, write_every: int = 512) -> UpdateReport:
        """The one update path: plan, encode (saved every ``write_every`` chunks), commit."""
        from ..runtime import progress_enabled

        t0 = time.perf_counter()
        report = UpdateReport(skipped=skipped or [])
        with self._write_lock():
            target = self._target_manifest()
            key = target["settings_key"]
            if key != self.manifest["settings_key"] and not rebuild:
                raise EncoderkitError(f"index '{self.path}' was built with other model or chunking settings",
                                      hint="pass --rebuild to re-encode everything with the new settings")
            gen = self.generation
            self.store.reset_pending_removals(gen)
            visible = self.store.visible_documents(gen)
            if roots is not None:  # folder sync: what vanished from under the roots goes
                incoming_ids = {d.doc_id for d in incoming}
                for doc_id, row in visible.items():
                    p = row["path"]
                    if not p or doc_id in incoming_ids or not any(p == r or p.startswith(r + os.sep) for r in roots):
                        continue
                    if p in (failed_paths or set()) or (os.path.exists(p) and row["fmt"] != "beir"):
                        report.kept_previous.append(doc_id)
                    else:
                        remove_ids.add(doc_id)
            plan = plan_update(incoming, remove_ids, visible, self.store.pending_documents(gen), key, rebuild=rebuild)
            for name in ("added", "updated", "unchanged", "removed", "resumed"):
                setattr(report, name, getattr(plan, name))
            if plan.drop_pending:
                self.store.delete_rows(plan.drop_pending)
            if plan.encode:
                bar = None
                if progress_enabled(show_progress):
                    from tqdm.auto import tqdm

                    bar = tqdm(total=0, desc="encoding chunks", unit="chunk")
                try:
                    report.chunks_encoded = encode_documents(
                        plan.encode, self.encoder, self.store, gen=gen + 1, key=key,
                        chunking=ChunkSettings(target["chunking"]["size"], target["chunking"]["overlap"],
                                               target["chunking"]["title_header"]),
                        group_chunks=write_every, progress=bar)
                finally:
                    if bar is not None:
                        bar.close()
            self.store.mark_removed(plan.remove_rows, gen + 1)
            settings_changed = target is not self.manifest
            if plan.changes or rebuild or settings_changed:
                self._commit(gen + 1, target, report, time.perf_counter() - t0)
            report.generation = self.generation
        report.seconds = time.perf_counter() - t0
        return report

    def _commit(self, gen: int, target: dict, report: UpdateReport, seconds: float) -> None:
        counts = build_generation(self.store, self.path, gen, target["model"]["dim"],
                                  BM25Params.from_dict(target["bm25"]), DenseParams.from_dict(target["dense"]))
        manifest = dict(target)
        manifest.update(generation=gen, artifacts=gen_dirname(gen), updated_at=_now(), counts=counts,
                        encoderkit_version=__version__)
        build = dict(manifest.get("build") or {})
        if "first_build_seconds" not in build and report.chunks_encoded:
            build["first_build_seconds"] = round(seconds, 3)
        build["last_update"] = {"at": _now(), "added": report.added, "updated": report.updated,
                                "removed": report.removed, "resumed": report.resumed,
                                "chunks_encoded": report.chunks_encoded}
        manifest["build"] = build
        write_manifest(self.path, manifest)
        self.manifest = read_manifest(self.path)
        self._pending_manifest = None
        self._manifest_mtime = self._mtime()
        report.committed = True
        self.store.purge(gen)
        remove_old_generations(self.path, gen)
        self._snapshot = None

    # ------------------------------------------------------------------ reading
    def _mtime(self) -> int:
        try:
            return (self.path / MANIFEST).stat().st_mtime_ns
        except OSError:
            return 0

    def snapshot(self) -> Snapshot | None:
        """The loaded live generation; reloaded when another process has committed a newer one."""
        mtime = self._mtime()
        if mtime != self._manifest_mtime:
            self.manifest = read_manifest(self.path)
            self._manifest_mtime = mtime
            self._snapshot = None
        if self._snapshot is None and self.manifest.get("artifacts"):
            directory = self.path / self.manifest["artifacts"]
            try:
                self._snapshot = Snapshot.load(directory, self.generation, BM25Params.from_dict(self.manifest["bm25"]),
                                               DenseParams.from_dict(self.manifest["dense"]))
            except (OSError, ValueError) as exc:
                raise EncoderkitError(f"index '{self.path}' is damaged: cannot read {directory.name} ({exc})",
                                      hint="rebuild it with `encoderkit index PATH --index DIR --rebuild`") from None
        return self._snapshot

    def search(self, query: str, *, mode: str = "hybrid", k: int = 10, depth: int = 100, by: str = "document",
               rrf_k: int = 60, reranker=None, rerank_depth: int = 50, rerank_fusion: str = "none") -> list[Hit]:
        """Search one query. ``mode``: bm25 | dense | hybrid (RRF of both, each ``depth`` deep);
        ``by``: document (one hit per document, its best chunk) | chunk. With a ``reranker``
        (:class:`encoderkit.rerank.Reranker`), the top ``rerank_depth`` candidates are re-scored;
        ``rerank_fusion="rrf"`` fuses the reranker's order with the first stage's instead of replacing it."""
        return self.search_many([query], mode=mode, k=k, depth=depth, by=by, rrf_k=rrf_k, reranker=reranker,
                                rerank_depth=rerank_depth, rerank_fusion=rerank_fusion)[0]

    def search_many(self, queries: Sequence[str], *, mode: str = "hybrid", k: int = 10, depth: int = 100,
                    by: str = "document", rrf_k: int = 60, reranker=None, rerank_depth: int = 50,
                    rerank_fusion: str = "none") -> list[list[Hit]]:
        """Search many queries at once (batched encoding and retrieval); one hit list per query."""
        rankings = self.rank_many(queries, mode=mode, depth=max(depth, k), by=by, rrf_k=rrf_k, reranker=reranker,
                                  rerank_depth=rerank_depth, rerank_fusion=rerank_fusion)
        return [self._hits(r, k) for r in rankings]

    def rank_many(self, queries: Sequence[str], *, mode: str = "hybrid", depth: int = 100, by: str = "document",
                  rrf_k: int = 60, reranker=None, rerank_depth: int = 50,
                  rerank_fusion: str = "none") -> list[QueryRanking]:
        """Final ranking plus every stage's ranking and timing, per query, as keys (document row ids
        or chunk positions). The building block for search and evaluation."""
        if mode not in MODES:
            raise EncoderkitError(f"unknown search mode '{mode}'", hint=f"use one of: {', '.join(MODES)}")
        if by not in ("document", "chunk"):
            raise EncoderkitError(f"unknown result unit '{by}'", hint="use 'document' or 'chunk'")
        if rerank_fusion not in ("none", "rrf"):
            raise EncoderkitError(f"unknown rerank fusion '{rerank_fusion}'", hint="use none or rrf")
        queries = list(queries)
        for q in queries:
            if not isinstance(q, str) or not q.strip():
                raise EncoderkitError("empty query", hint="pass a non-empty query string")
        snap = self.snapshot()
        if snap is None or snap.n_chunks == 0:
            empty = Ranked([], [], [])
            return [QueryRanking(empty, {s: empty for s in STAGES[mode]}, {}) for _ in queries]
        timings: dict[str, float] = {}
        t = time.perf_counter()
        qvecs = self.encoder.encode(queries, batch_size=64) if "dense" in STAGES[mode] else None
        timings["encode_query"] = (time.perf_counter() - t) * 1000
        per_stage = {}
        for s in STAGES[mode]:
            t = time.perf_counter()
            per_stage[s] = stage_rankings(s, queries, qvecs, snap, depth, by)
            timings[s] = (time.perf_counter() - t) * 1000
        out = []
        for i, query in enumerate(queries):
            stages = {s: per_stage[s][i] for s in STAGES[mode]}
            t = time.perf_counter()
            final = fuse(stages, k=rrf_k) if mode == "hybrid" else stages[mode]
            q_timings = {**{k: v / len(queries) for k, v in timings.items()}, "fuse": (time.perf_counter() - t) * 1000}
            if reranker is not None:
                t = time.perf_counter()
                final, stages["rerank"] = self._rerank(query, final, reranker, rerank_depth, rerank_fusion, rrf_k)
                q_timings["rerank"] = (time.perf_counter() - t) * 1000
            out.append(QueryRanking(final, stages, q_timings))
        return out

    def _rerank(self, query: str, first: Ranked, reranker, depth: int, fusion: str = "none",
                rrf_k: int = 60) -> tuple[Ranked, Ranked]:
        """Re-score the top ``depth`` candidates (on their best chunk, with its title header) with a
        cross-encoder; candidates below ``depth`` keep their first-stage order after them. With
        ``fusion="rrf"`` the head is ordered by RRF of the first-stage and reranker ranks."""
        snap = self._snapshot
        head = min(depth, len(first))
        chunk_ids = [int(snap.chunk_ids[p]) for p in first.best_pos[:head]]
        texts = self.store.chunk_texts(chunk_ids)
        scores = reranker.score(query, [texts.get(c, "") for c in chunk_ids])
        order = np.argsort(-scores, kind="stable")
        keys = [first.keys[i] for i in order]
        best = [first.best_pos[i] for i in order]
        reranked = Ranked(keys, [float(scores[i]) for i in order], best)
        if fusion == "rrf":
            fused = fuse({"first": Ranked(first.keys[:head], first.scores[:head], first.best_pos[:head]),
                          "rerank": reranked}, k=rrf_k)
            keys, best = fused.keys, fused.best_pos
            head_scores = fused.scores
        else:
            head_scores = reranked.scores
        final = Ranked(keys + first.keys[head:], head_scores + first.scores[head:], best + first.best_pos[head:])
        return final, reranked

    def doc_ids(self, rowids: Sequence[int]) -> dict[int, str]:
        """Document row id -> user-facing document id."""
        return {r: row["doc_id"] for r, row in self.store.documents_by_rowid(list(rowids)).items()}

    def _hits(self, ranking: "QueryRanking", k: int) -> list[Hit]:
        final, stages = ranking.final, ranking.stages
        snap = self._snapshot
        keys, scores, best = final.keys[:k], final.scores[:k], final.best_pos[:k]
        chunk_ids = [int(snap.chunk_ids[p]) for p in best]
        chunks = self.store.chunks_by_id(chunk_ids)
        docs = self.store.documents_by_rowid(sorted({c["doc"] for c in chunks.values()}))
        table = stage_table(stages)
        hits = []
        for rank, (key, score, cid) in enumerate(zip(keys, scores, chunk_ids), start=1):
            c = chunks.get(cid)
            if c is None or c["doc"] not in docs:  # purged by a concurrent update: skip, never crash
                continue
            d = docs[c["doc"]]
            hits.append(Hit(rank=rank, score=float(score), doc_id=d["doc_id"], chunk_id=cid, title=d["title"],
                            path=d["path"], text=c["text"], start=c["start_char"], end=c["end_char"],
                            section=c["section"], stages=table.get(key, {})))
        return hits
