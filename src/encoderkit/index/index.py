"""A persistent search index over documents: SQLite store + one artifact folder per retriever + a JSON
manifest. :class:`Index` opens or creates the folder and hands writing to an
:class:`~encoderkit.index.write.writer.IndexWriter` and searching to an
:class:`~encoderkit.index.read.searcher.IndexSearcher`.

>>> from encoderkit import Index
>>> idx = Index.create("demo-index", encoder="default")                         # doctest: +SKIP
>>> idx.add([{"id": "py", "text": "Python is a programming language."},
...          {"id": "cat", "text": "Cats are small domesticated carnivores."}])  # doctest: +SKIP
>>> [h.doc_id for h in idx.search("what language should I code in", k=1)]      # doctest: +SKIP
['py']
>>> Index.open("demo-index").search("felines", mode="dense")[0].doc_id           # doctest: +SKIP
'cat'

Layout of an index folder: ``manifest.json`` (format version, model, chunking, retrievers and their
settings, live generation and its segments), ``index.db`` (SQLite: documents, chunks, per-retriever
chunk payloads), ``seg-XXXXXX/`` (immutable segments: ``chunk_ids.npy``, ``chunk_docs.npy``, one folder
per retriever, e.g. ``bm25/`` and ``dense/``, and deletion markers ``del-GGGGGG.npy``; see
:mod:`encoderkit.index.storage.segments`), ``leases/`` (which files each generation searches; readers lock
them), ``write.lock``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import EncoderkitError
from ..retrieval.base import IndexContext
from ..retrieval.options import SearchOptions
from ..retrieval.ranking import Hit, QueryRanking
from .read.searcher import IndexSearcher
from .storage.footprint import index_bytes
from .storage.manifest import MANIFEST, read_manifest, retriever_names, write_manifest
from .storage.migrate import segment_count
from .storage.model import check_encoder, gate_problem, load_document_encoder, load_index_encoder, resolve_backend
from .storage.store import Store
from .write.annotate import annotator_entries
from .write.plan import ChunkSettings
from .write.update_report import UpdateReport
from .write.writer import IndexWriter, check_chunking, new_manifest, retriever_entries

DB = "index.db"
DEFAULT_RETRIEVERS = ("bm25", "dense")

__all__ = ["Index", "UpdateReport", "DB", "DEFAULT_RETRIEVERS"]


class Index:
    """An on-disk index. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path, manifest: dict, store: Store, encoder=None, *, readonly: bool = False, backend: str = "auto"):
        self.path = Path(path)
        self.store = store
        self.readonly = readonly
        self._backend = backend
        self.context = IndexContext(
            self.path, manifest, self._load_encoder, backend=backend, document_encoder_loader=load_document_encoder
        )
        self.context.loaded_encoder = encoder
        self.writer = IndexWriter(self.path, store, self.context, readonly=readonly)
        self.searcher = IndexSearcher(self.path, store, self.context)
        self.writer.before_collect = self.searcher.release_before

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path: str | Path,
        encoder="default",
        *,
        chunk_size: int = 256,
        chunk_overlap: int = 32,
        title_header: bool = True,
        titles: str = "auto",
        retrievers: Sequence[str] = DEFAULT_RETRIEVERS,
        retriever_settings: dict[str, dict] | None = None,
        annotators: Sequence[str] = (),
        annotator_settings: dict[str, dict] | None = None,
        bm25=None,
        dense=None,
    ) -> Index:
        """Create an empty index in a new (or empty) folder. ``retrievers``: registered retriever names;
        ``retriever_settings``: name -> settings (``bm25``/``dense`` params objects are accepted too);
        ``annotators``: index-time annotators (see :mod:`encoderkit.index.write.annotate`) and their settings.
        ``chunk_size=0`` indexes whole documents as ``title + " " + text`` (the BEIR/MTEB protocol);
        ``titles``: how chunks carry the document title, auto | prefix | none
        (:func:`encoderkit.data.chunking.index_text`)."""
        from ..models.heads.encoder import Encoder

        path = Path(path)
        if (path / MANIFEST).exists():
            raise EncoderkitError(f"index '{path}' already exists", hint="open it with Index.open, or pick a new folder")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise EncoderkitError(f"'{path}' exists and is not an empty folder", hint="pick a new folder for the index")
        chunking = ChunkSettings(chunk_size, chunk_overlap, title_header, titles)
        check_chunking(chunking)
        settings = dict(retriever_settings or {})
        for name, params in (("bm25", bm25), ("dense", dense)):
            if params is not None:
                settings[name] = {**settings.get(name, {}), **params.to_dict()}
        entries = retriever_entries(list(retrievers), settings)
        ann_entries = annotator_entries(list(annotators), annotator_settings)
        enc = encoder if isinstance(encoder, Encoder) else Encoder.load(encoder)
        path.mkdir(parents=True, exist_ok=True)
        store = Store.create(path / DB)
        write_manifest(path, new_manifest(enc, chunking, entries, ann_entries))
        manifest = read_manifest(path)
        store.save_manifest_copy(manifest)
        return cls(path, manifest, store, enc)

    @classmethod
    def open(cls, path: str | Path, encoder=None, *, readonly: bool = False, backend: str = "auto") -> Index:
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
        except sqlite3.OperationalError as exc:  # cannot open or read it now: the disk, not the file
            from .storage.ioerrors import disk_full, free_bytes

            free = free_bytes(path)
            if "full" in str(exc) or (free is not None and free < 1 << 20):
                raise disk_full(db, None) from None
            raise EncoderkitError(f"cannot open {db} ({exc})", hint="check the disk and its permissions") from None
        except sqlite3.DatabaseError as exc:
            raise EncoderkitError(
                f"{db} is corrupted or not an encoderkit database ({exc})",
                hint="rebuild the index with `encoderkit index PATH --index DIR --rebuild`",
            ) from None
        resolve_backend(manifest["model"], backend)  # validates the name
        if encoder is not None:
            check_encoder(manifest, encoder, path)
        return cls(path, manifest, store, encoder, readonly=readonly, backend=backend)

    @classmethod
    def open_or_create(cls, path: str | Path, encoder="default", **settings) -> Index:
        if (Path(path) / MANIFEST).exists():
            return cls.open(path)
        return cls.create(path, encoder=encoder, **settings)

    @staticmethod
    def repair(path: str | Path, *, show_progress: bool | None = None):
        """Rebuild a damaged index's search artifacts (and a lost or malformed manifest) from its store,
        without re-encoding; see :mod:`encoderkit.index.write.repair`. Returns a RepairReport."""
        from .write.repair import repair

        return repair(path, show_progress=show_progress)

    def health(self, *, full: bool = False):
        """Cheap checks of the live generation (``full``: checksums and the store too); see
        :mod:`encoderkit.index.storage.integrity`. Returns a Health (``ok``, ``problems``)."""
        from .write.repair import health_of

        return health_of(self.path, self.manifest, self.context, full=full, store=self.store)

    def close(self) -> None:
        self.searcher.close()
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ facts
    @property
    def manifest(self) -> dict:
        return self.context.manifest

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    @property
    def retrievers(self) -> list[str]:
        """Names of the index's retrievers, in the order "hybrid" fuses them."""
        return retriever_names(self.manifest)

    def __len__(self) -> int:
        return int(self.manifest["counts"]["documents"])

    def stats(self) -> dict:
        self.store.checkpoint()  # the size counted right after an update equals the one `info` shows later
        size = index_bytes(self.path)
        return {
            "path": str(self.path),
            "generation": self.generation,
            **self.manifest["counts"],
            "size_bytes": size,
            "segments": segment_count(self.manifest),
            "model": self.manifest["model"]["name"],
            "retrievers": self.retrievers,
            "annotators": [a["name"] for a in self.manifest.get("annotators") or []],
            "annotations": self.store.annotation_counts(self.generation),
        }

    def footprint(self) -> dict:
        """Disk and memory per component (the store, each retriever, the chunk arrays) and per
        segment; see :mod:`encoderkit.index.storage.footprint`."""
        from .storage.footprint import footprint

        return footprint(self.path, self.manifest, self.context)

    # ------------------------------------------------------------------ models
    @property
    def backend(self) -> str:
        return self._backend

    def set_query_backend(self, backend: str) -> None:
        """Encode queries with another backend from now on (auto | torch | torch-bf16 | onnx | onnx-int8)."""
        resolve_backend(self.manifest["model"], backend)
        self._backend = backend
        self.context.backend = backend
        self.context.reset_encoder()
        self.searcher.forget_snapshot()  # its retrievers hold models loaded for the old backend

    @property
    def encoder(self):
        """The encoder the index was built with, loaded on first use and checked against the manifest."""
        return self.context.encoder

    def _load_encoder(self):
        return load_index_encoder(self.manifest, self.path, self._backend)

    # ------------------------------------------------------------------ writing (IndexWriter)
    def reconfigure(
        self,
        encoder=None,
        *,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        retrievers: Sequence[str] | None = None,
        retriever_settings: dict[str, dict] | None = None,
        annotators: Sequence[str] | None = None,
        annotator_settings: dict[str, dict] | None = None,
        bm25=None,
        dense=None,
        titles: str | None = None,
    ) -> None:
        """See :meth:`IndexWriter.reconfigure`; ``bm25``/``dense`` params objects are accepted too."""
        settings = dict(retriever_settings or {})
        for name, params in (("bm25", bm25), ("dense", dense)):
            if params is not None:
                settings[name] = {**settings.get(name, {}), **params.to_dict()}
        self.writer.reconfigure(
            encoder,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            retrievers=retrievers,
            retriever_settings=settings,
            annotators=annotators,
            annotator_settings=annotator_settings,
            titles=titles,
        )

    def set_encode_precision(self, precision: str, gate: dict | None = None, *, choice: dict | None = None) -> None:
        """Encode chunks at ``precision`` (fp32 | bf16 | int8) from the next update on; every chunk is
        re-encoded then (its vectors depend on it), queries stay as they are. Anything but fp32 needs
        ``gate``, the figures :func:`encoderkit.index.precision_gate.measure_precision` measured,
        and is refused unless they pass (mean cosine to fp32 >= 0.99, nDCG@10 drop <= 0.005). ``choice``:
        how it was chosen (what was requested, what was measured), kept in the manifest for ``info``."""
        from .storage.model import PRECISIONS

        if precision not in PRECISIONS:
            raise EncoderkitError(f"unknown encode precision '{precision}'", hint=f"use one of: {', '.join(PRECISIONS)}")
        if precision != "fp32":
            problem = gate_problem(gate)
            if problem:
                raise EncoderkitError(
                    f"the {precision} encoder of index '{self.path}' failed the quality gate: {problem}",
                    hint="keep fp32 (--encode-precision fp32), or try bf16",
                )
        self.writer.reconfigure(
            encode_precision=precision, quality_gate=dict(gate or {}) if precision != "fp32" else None, precision_choice=choice
        )

    def set_fusion_rule(self, rule) -> None:
        """Store ``rule`` (a :class:`~encoderkit.retrieval.fusion_rule.FusionRule`; None: back to the fixed
        default) as the fusion every search that names none uses, at once (no commit needed)."""
        self.writer.set_fusion_rule(None if rule is None else rule.to_dict())

    def calibrate_fusion(self, *, seed: int = 0):
        """Choose and store how this index fuses its retrievers, on pseudo-queries of its own documents
        (what ``encoderkit index`` does after a build; :mod:`encoderkit.index.calibrate`). Returns the
        :class:`~encoderkit.retrieval.fusion_rule.FusionRule`, or None (one retriever, or too few documents:
        the fixed default stays)."""
        from .calibrate import calibrate_fusion

        rule = calibrate_fusion(self, seed=seed)
        if rule is not None:
            self.set_fusion_rule(rule)
        return rule

    def add(
        self,
        docs: Iterable,
        *,
        show_progress: bool | None = None,
        write_every: int = 128,
        export_onnx: bool = True,
        recluster: bool = False,
        encode_with=None,
    ) -> UpdateReport:
        """Add or replace documents (dicts with id, text[, title, path, meta] or SourceDocs).
        ``recluster``: rebuild every retriever from the stored payloads at this commit (ColBERT retrains
        its centroids) instead of updating in place. ``encode_with``: chunk and encode on a Ray cluster
        (:class:`encoderkit.index.shards.ray_build.RayEncoding`)."""
        return self.writer.add(
            docs,
            show_progress=show_progress,
            write_every=write_every,
            export_onnx=export_onnx,
            full_build=recluster,
            encode_with=encode_with,
        )

    def remove(self, ids: Iterable[str]) -> UpdateReport:
        """Remove documents by id; unknown ids are ignored (the report's ``removed`` counts real ones)."""
        return self.writer.remove(ids)

    def optimize(self, max_segments: int = 1, *, show_progress: bool | None = None):
        """Merge the segments into at most ``max_segments`` (dropping deleted chunks for good); returns
        a MergeReport. Searches keep running on the previous generation meanwhile."""
        return self.writer.optimize(max_segments, show_progress=show_progress)

    def set_merge_policy(self, **policy) -> None:
        """Change the automatic merge policy (factor, floor, max_deleted, max_chunks, auto); recorded in
        the manifest at the next commit."""
        from .write.merge import MergePolicy

        m = dict(self.writer.target)
        m["merge_policy"] = MergePolicy.from_dict({**(m.get("merge_policy") or {}), **policy}).to_dict()
        self.writer._pending = m

    def sync(
        self,
        paths: Sequence[str | Path],
        *,
        rebuild: bool = False,
        max_bytes: int | None = None,
        time_limit: float | None = None,
        show_progress: bool | None = None,
        write_every: int = 128,
        export_onnx: bool = True,
        recluster: bool = False,
        accept=None,
        encode_with=None,
        max_chunks: int | None = None,
    ) -> UpdateReport:
        """Index files and folders incrementally (what `encoderkit index` does); see :meth:`IndexWriter.sync`.
        ``max_bytes`` / ``time_limit``: per-file size cap and seconds for reading + extraction.
        ``export_onnx``: after a commit, export the model to ONNX once so queries run on ONNX Runtime.
        ``recluster``: commit even without changes, rebuilding every retriever from the stored payloads
        (ColBERT retrains its centroids; nothing is re-encoded). ``encode_with``: chunk and encode on a
        Ray cluster (:class:`encoderkit.index.shards.ray_build.RayEncoding`). ``max_chunks``: a file that would
        make more chunks is skipped with that reason [5,000]."""
        from ..data.files.sources import DEFAULT_MAX_BYTES, DEFAULT_TIME_LIMIT
        from .write.encode import MAX_CHUNKS_PER_FILE

        return self.writer.sync(
            paths,
            rebuild=rebuild,
            max_bytes=max_bytes or DEFAULT_MAX_BYTES,
            time_limit=DEFAULT_TIME_LIMIT if time_limit is None else time_limit,
            show_progress=show_progress,
            write_every=write_every,
            export_onnx=export_onnx,
            full_build=recluster,
            accept=accept,
            encode_with=encode_with,
            max_chunks=MAX_CHUNKS_PER_FILE if max_chunks is None else max_chunks,
        )

    # ------------------------------------------------------------------ searching (IndexSearcher)
    def snapshot(self):
        return self.searcher.snapshot()

    def search(self, query: str, options: SearchOptions | None = None, **overrides) -> list[Hit]:
        """Search one query; ``options`` (or keyword overrides of it, e.g. ``mode="bm25", k=5``) is a
        :class:`~encoderkit.retrieval.options.SearchOptions`: mode, k, depth, fusion and weights, reranker,
        filters, result unit."""
        return self.search_many([query], options, **overrides)[0]

    def search_many(self, queries: Sequence[str], options: SearchOptions | None = None, **overrides) -> list[list[Hit]]:
        """Search many queries at once (batched encoding and retrieval); one hit list per query."""
        return self.searcher.search_many(queries, options, **overrides)

    def rank_many(self, queries: Sequence[str], options: SearchOptions | None = None, **overrides) -> list[QueryRanking]:
        """Final ranking plus every stage's ranking and timing, per query (see :class:`IndexSearcher`)."""
        return self.searcher.rank_many(queries, options, **overrides)

    def hits(self, ranking: QueryRanking, k: int) -> list[Hit]:
        return self.searcher.hits(ranking, k)

    def doc_ids(self, rowids: Sequence[int] | None = None) -> dict[int, str]:
        """Document row id -> user-facing document id (all live documents when ``rowids`` is None)."""
        return self.searcher.document_ids(rowids)

    def chunk_texts(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk id -> the text indexed for it (title header + chunk): what a reranker reads."""
        return self.store.chunk_texts(chunk_ids)
