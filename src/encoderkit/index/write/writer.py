"""The write side of an index: add, replace, remove and sync documents; reconfigure; commit.

Every update goes through one path (:meth:`IndexWriter.update`): plan what changed, encode what is
new (saved in groups, so an interrupted run resumes), compute payloads a retriever still lacks, then
commit a new generation (artifacts first, manifest last). Only one process writes at a time.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

from ... import __version__
from ...data.files.sources import DEFAULT_MAX_BYTES, DEFAULT_TIME_LIMIT, Skipped, SourceDoc, walk
from ...data.textsafe import clean_text, escape_name, has_surrogates
from ...errors import EncoderkitError
from ...retrieval.base import IndexContext
from ...retrieval.registry import get as get_retriever
from ..storage.integrity import check_generation
from ..storage.ioerrors import estimate_needed, io_errors, io_problem
from ..storage.leases import collect
from ..storage.lock import writer_lock
from ..storage.manifest import read_manifest, retriever_names, write_manifest
from ..storage.migrate import has_data, migrated_from, pre_segment_folder
from ..storage.model import check_encoder
from ..storage.segments import entries_of
from ..storage.store import Store
from .annotate import annotate_missing, annotator_entries, get_annotator
from .commit import (
    FLUSH_CHUNKS,
    combined_stats,
    integrity_files,
    mark_deleted,
    merge_segments,
    segment_sizes,
    switch,
    write_new_segments,
)
from .encode import MAX_CHUNKS_PER_FILE, encode_documents, fill_missing_payloads, oversized
from .merge import MergePolicy, choose, plan_optimize
from .plan import ChunkSettings, plan_update, settings_key
from .scope import failed_paths, find_vanished, sync_roots
from .update_report import MergeReport, UpdateReport


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def as_source_doc(d, i: int) -> SourceDoc:
    """A SourceDoc from a dict with id and text (title, path, meta optional), or a SourceDoc itself."""
    if isinstance(d, SourceDoc):
        doc = d
    elif isinstance(d, dict):
        doc_id = d.get("id", d.get("doc_id", d.get("_id")))
        if doc_id is None:
            raise EncoderkitError(f"document {i} has no id", hint="give each document an 'id' field")
        text = d.get("text")
        if not isinstance(text, str):
            raise EncoderkitError(f"document {doc_id!r} has no text", hint="give each document a 'text' string")
        doc = SourceDoc(
            doc_id=escape_name(str(doc_id)),
            text=clean_text(text),
            title=clean_text(str(d.get("title") or "")),
            path=str(d.get("path") or ""),
            fmt=d.get("fmt", "text"),
            meta=d.get("meta") or {},
        )
    else:
        raise EncoderkitError(f"document {i} is a {type(d).__name__}", hint="pass dicts with 'id' and 'text'")
    if has_surrogates(doc.doc_id + doc.title + doc.text + doc.path):  # invalid Unicode: one policy (data.textsafe)
        doc = SourceDoc(
            doc_id=escape_name(doc.doc_id),
            text=clean_text(doc.text),
            title=clean_text(doc.title),
            path=escape_name(doc.path),
            fmt=doc.fmt,
            meta=doc.meta,
            sections=doc.sections,
        )
    if not (doc.text.strip() or doc.title.strip()):
        raise EncoderkitError(f"document {doc.doc_id!r} is empty", hint="drop empty documents before adding")
    return doc


def retriever_entries(names: Sequence[str], settings: dict[str, dict] | None = None, previous: Sequence[dict] = ()) -> list[dict]:
    """Manifest entries ({"name", "settings"}) for retriever ``names``: settings checked by each
    retriever, starting from ``previous`` entries of the same name, overridden by ``settings[name]``."""
    old = {e["name"]: e.get("settings") or {} for e in previous}
    out = []
    for name in names:
        cls = get_retriever(name)
        out.append({"name": name, "settings": cls.check_settings({**old.get(name, {}), **(settings or {}).get(name, {})})})
    return out


class IndexWriter:
    """Writes one index folder. Made by :class:`encoderkit.index.Index`; shares its store and context."""

    def __init__(self, path: Path, store: Store, context: IndexContext, *, readonly: bool = False):
        self.path = Path(path)
        self.store = store
        self.context = context
        self.readonly = readonly
        self._pending: dict | None = None  # manifest with new settings, applied at the next commit
        self._pending_encoder = None
        self.before_collect = None  # set by Index: its own searcher lets go of older generations

    @property
    def manifest(self) -> dict:
        return self.context.manifest

    # ------------------------------------------------------------------ settings
    def set_fusion_rule(self, rule: dict | None) -> None:
        """Store the index's fusion rule (``FusionRule.to_dict()``; None removes it) in the manifest now,
        without a commit: it changes how searches fuse, not what is indexed. Under the writer lock, on
        the manifest as it is on disk, with the copy kept in the store updated too."""
        if self.readonly:
            raise EncoderkitError(f"index '{self.path}' is open read-only", hint="open it without readonly=True")
        with writer_lock(self.path):
            m = read_manifest(self.path)
            m.pop("fusion", None)
            if rule is not None:
                m["fusion"] = rule
            write_manifest(self.path, m)
            self.store.save_manifest_copy(read_manifest(self.path))
            self.context.manifest = read_manifest(self.path)
            if self._pending is not None:
                self._pending = {k: v for k, v in self._pending.items() if k != "fusion"}
                if rule is not None:
                    self._pending["fusion"] = rule

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
        titles: str | None = None,
        encode_precision: str | None = None,
        quality_gate: dict | None = None,
        precision_choice: dict | None = None,
    ) -> None:
        """New model, chunking, retrievers or annotators (names, and per-name settings), or the precision
        chunks are encoded at (``encode_precision`` with its ``quality_gate`` figures; checked by
        :meth:`Index.set_encode_precision`: chunks are re-encoded at the next commit). A new model or
        chunking takes effect with the next ``rebuild=True`` update; retriever and annotator changes at any
        next commit (a new encoding retriever computes its payloads for the existing chunks, a new
        annotator annotates the existing documents; nothing else is re-encoded). The committed generation
        stays searchable until then."""
        from ...models.heads.encoder import Encoder

        m = dict(self._pending or self.manifest)
        if encoder is not None:
            enc = encoder if isinstance(encoder, Encoder) else Encoder.load(encoder)
            self._pending_encoder = enc
            m["model"] = {**enc.describe(), "normalize": True}
        if encode_precision is not None:
            model = {k: v for k, v in m["model"].items() if k not in ("encode_precision", "quality_gate", "precision_choice")}
            if encode_precision != "fp32":
                model.update(encode_precision=encode_precision, quality_gate=quality_gate or {})
            if precision_choice:
                model["precision_choice"] = precision_choice
            m["model"] = model
        chunking = ChunkSettings.from_dict(m["chunking"])
        chunking = ChunkSettings(
            chunking.size if chunk_size is None else chunk_size,
            chunking.overlap if chunk_overlap is None else chunk_overlap,
            True,
            chunking.title_mode if titles is None else titles,
        )
        check_chunking(chunking)
        m["chunking"] = chunking.to_dict()
        m["settings_key"] = settings_key(m["model"], chunking)
        names = list(retrievers) if retrievers is not None else retriever_names(m)
        if not names:
            raise EncoderkitError("an index needs at least one retriever", hint="e.g. --retrievers bm25,dense")
        m["retrievers"] = retriever_entries(names, retriever_settings, m.get("retrievers") or [])
        previous = m.get("annotators") or []
        ann_names = list(annotators) if annotators is not None else [a["name"] for a in previous]
        m["annotators"] = annotator_entries(ann_names, annotator_settings, previous)
        self._pending = m

    @property
    def target(self) -> dict:
        return self._pending or self.manifest

    def _target_context(self) -> IndexContext:
        ctx = IndexContext(
            self.path,
            self.target,
            self.context.encoder_loader,
            backend=self.context.backend,
            models=self.context.models,
            document_encoder_loader=self.context.document_encoder_loader,
        )
        if self._pending_encoder is not None:
            ctx.loaded_encoder = self._pending_encoder
        elif self.target["model"]["fingerprint"] == self.manifest["model"]["fingerprint"]:
            ctx.loaded_encoder = self.context.loaded_encoder
            ctx.encoder_loader = lambda: self.context.encoder
        return ctx

    # ------------------------------------------------------------------ updates
    def add(
        self,
        docs: Iterable,
        *,
        show_progress: bool | None = None,
        write_every: int = 128,
        export_onnx: bool = True,
        full_build: bool = False,
        encode_with=None,
    ) -> UpdateReport:
        """Add or replace documents (dicts with id, text[, title, path, meta] or SourceDocs)."""
        items = [as_source_doc(d, i) for i, d in enumerate(docs)]
        seen: set[str] = set()
        for d in items:
            if d.doc_id in seen:
                raise EncoderkitError(f"duplicate document id {d.doc_id!r} in input", hint="make ids unique")
            seen.add(d.doc_id)
        return self.update(
            items,
            set(),
            show_progress=show_progress,
            write_every=write_every,
            export_onnx=export_onnx,
            full_build=full_build,
            encode_with=encode_with,
        )

    def remove(self, ids: Iterable[str]) -> UpdateReport:
        """Remove documents by id; unknown ids are ignored (the report's ``removed`` counts real ones)."""
        return self.update([], {str(i) for i in ids}, show_progress=False, export_onnx=False)

    def sync(
        self,
        paths: Sequence[str | Path],
        *,
        rebuild: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        time_limit: float | None = DEFAULT_TIME_LIMIT,
        show_progress: bool | None = None,
        write_every: int = 128,
        export_onnx: bool = True,
        full_build: bool = False,
        accept=None,
        encode_with=None,
        max_chunks: int = MAX_CHUNKS_PER_FILE,
    ) -> UpdateReport:
        """Index files and folders incrementally: new and changed files are (re-)encoded, files that
        disappeared from under ``paths`` are removed, unchanged ones cost only a hash. A file or folder
        that exists but cannot be read now keeps its previously indexed version (``kept_previous``);
        ``rebuild`` also drops documents indexed from elsewhere whose file is gone. ``full_build``: rebuild
        every retriever's artifacts from the stored payloads (no re-encoding), e.g. to retrain ColBERT's
        centroids (``--recluster``). ``accept(doc_id)``: index only the documents it accepts (a shard of a
        sharded index takes its own); vanished files are still removed. ``encode_with``: chunk and encode
        elsewhere (:class:`encoderkit.index.shards.ray_build.RayEncoding`); planning and storing stay here.
        ``max_chunks``: a file that would make more chunks is skipped with that reason (its previous version,
        if any, stays)."""
        incoming: list[SourceDoc] = []
        skipped: list[Skipped] = []
        seen: set[str] = set()
        read_walk = getattr(encode_with, "read_walk", None)  # files read on a cluster, in walk order
        found = (
            read_walk(paths, max_bytes=max_bytes, time_limit=time_limit)
            if read_walk is not None
            else walk(paths, max_bytes=max_bytes, time_limit=time_limit)
        )
        for item in found:
            if isinstance(item, Skipped):
                skipped.append(item)
            elif item.doc_id in seen:
                skipped.append(Skipped(item.path, f"duplicate document id {item.doc_id!r}"))
            elif accept is not None and not accept(item.doc_id):
                seen.add(item.doc_id)
            else:
                seen.add(item.doc_id)
                incoming.append(item)
        incoming = self._within_chunk_cap(incoming, skipped, max_chunks)
        roots = sync_roots(paths)
        failed = failed_paths(skipped)
        return self.update(
            incoming,
            set(),
            roots=roots,
            failed_paths=failed,
            skipped=skipped,
            rebuild=rebuild,
            show_progress=show_progress,
            write_every=write_every,
            export_onnx=export_onnx,
            full_build=full_build,
            encode_with=encode_with,
        )

    def update(
        self,
        incoming: list[SourceDoc],
        remove_ids: set[str],
        *,
        roots: list[str] | None = None,
        failed_paths: set[str] | None = None,
        skipped: list[Skipped] | None = None,
        rebuild: bool = False,
        show_progress: bool | None = None,
        write_every: int = 128,
        export_onnx: bool = False,
        full_build: bool = False,
        encode_with=None,
    ) -> UpdateReport:
        """The one update path: plan, encode (saved every ``write_every`` chunks), fill payloads, commit.
        Incremental retrievers update the previous generation's artifacts unless ``rebuild`` or
        ``full_build`` (then every retriever is built from all live chunks)."""
        from ...runtime import progress_enabled

        if self.readonly:
            raise EncoderkitError(f"index '{self.path}' is open read-only", hint="open it without readonly=True")
        t0 = time.perf_counter()
        report = UpdateReport(skipped=skipped or [])
        needed = lambda: estimate_needed(self.path, self.manifest, sum(len(d.text) for d in incoming) // 1000)
        with writer_lock(self.path), io_errors(self.path, needed):
            self._refresh()
            migrated = self._migrate_store(report)
            target = self.target
            key = target["settings_key"]
            if key != self.manifest["settings_key"] and not rebuild:
                raise EncoderkitError(
                    f"index '{self.path}' was built with other model or chunking settings",
                    hint="pass --rebuild to re-encode everything with the new settings",
                )
            gen = self.manifest["generation"]
            self.store.reset_pending_removals(gen)
            wanted = None if roots is not None else {d.doc_id for d in incoming} | set(remove_ids)
            visible = self.store.visible_documents(gen, wanted)
            if roots is not None:  # folder sync: what vanished from under the roots goes
                gone = find_vanished(incoming, visible, roots, failed_paths or set(), rebuild=rebuild)
                remove_ids |= gone.remove
                report.kept_previous = gone.kept
            plan = plan_update(incoming, remove_ids, visible, self.store.pending_documents(gen), key, rebuild=rebuild)
            for name in ("added", "updated", "unchanged", "removed", "resumed"):
                setattr(report, name, getattr(plan, name))
            if plan.drop_pending:
                self.store.delete_rows(plan.drop_pending)
            ctx = self._target_context()
            retrievers = [get_retriever(e["name"])(e["settings"], ctx) for e in target["retrievers"]]
            encoding = [r for r in retrievers if r.encodes]
            bar = None
            if progress_enabled(show_progress):
                from tqdm.auto import tqdm

                bar = tqdm(total=0, desc="encoding chunks", unit="chunk")
            try:
                if plan.encode:
                    tok = ctx.encoder.raw_tokenizer() if encode_with is None else None
                    report.chunks_encoded = encode_documents(
                        plan.encode,
                        tok,
                        target["model"]["max_length"],
                        encoding,
                        self.store,
                        gen=gen + 1,
                        key=key,
                        chunking=ChunkSettings.from_dict(target["chunking"]),
                        group_chunks=write_every,
                        progress=bar,
                        seconds=report.encode_seconds,
                        remote=encode_with,
                        manifest=target,
                        path=self.path,
                    )
                self.store.mark_removed(plan.remove_rows, gen + 1)
                report.payloads_filled = fill_missing_payloads(
                    self.store, encoding, gen + 1, group_chunks=write_every, progress=bar, seconds=report.encode_seconds
                )
                annotators = [get_annotator(e["name"])(e["settings"]) for e in target.get("annotators") or []]
                report.annotated = annotate_missing(
                    self.store, annotators, gen + 1, {d.doc_id: d for d in plan.encode}, progress=bar
                )
            finally:
                if bar is not None:
                    bar.close()
            settings_changed = self._pending is not None
            legacy = bool(pre_segment_folder(self.manifest))  # a generation folder from before segments
            full = bool(rebuild or full_build or legacy or migrated or report.payloads_filled or self._shape_changed(target))
            changed = plan.changes or full or settings_changed or report.annotated
            if not changed and has_data(self.manifest):  # nothing new: is what searches read still sound?
                report.repaired = check_generation(self.path, self.manifest, retrievers).problems
                full = bool(report.repaired)
            if changed or report.repaired:
                self._commit(gen + 1, target, retrievers, report, time.perf_counter() - t0, full=full)
                try:
                    self._auto_merge(retrievers, report, show_progress)
                except (OSError, sqlite3.Error) as exc:  # the update stands: say what failed after it
                    report.warnings.append(
                        f"the update is committed (generation {gen + 1}); the automatic merge after it failed "
                        f"({io_problem(exc)}): run `encoderkit optimize --index {self.path}` once there is space"
                    )
            report.generation = self.manifest["generation"]
            report.segments = len(self.manifest.get("segments") or [])
        if export_onnx and has_data(self.manifest):
            report.query_backend = self.export_query_model()  # cached by weights fingerprint: cheap once done
        report.seconds = time.perf_counter() - t0
        return report

    def _within_chunk_cap(self, docs: list[SourceDoc], skipped: list[Skipped], cap: int) -> list[SourceDoc]:
        """``docs`` without those that would make more than ``cap`` chunks (added to ``skipped``). Only
        documents long enough to possibly exceed it are looked at; they are estimated from samples, so a
        huge file costs neither its full tokenization nor memory for chunks it will not keep."""
        chunking = ChunkSettings.from_dict(self.target["chunking"])
        window = max(1, min(chunking.size, self.target["model"]["max_length"] - 2))
        if not cap or not chunking.size or not any(len(d.text) > cap * window // 2 for d in docs):
            return docs
        big = oversized(docs, self._target_context().encoder.raw_tokenizer(), chunking, self.target["model"]["max_length"], cap)
        for d in docs:
            if d.doc_id in big:
                skipped.append(
                    Skipped(
                        d.path or d.doc_id,
                        f"too many chunks (about {big[d.doc_id]:,} > {cap:,}): raise --max-chunks-per-file or split the file",
                    )
                )
        return [d for d in docs if d.doc_id not in big]

    def _shape_changed(self, target: dict) -> bool:
        """Whether the retrievers, or settings that shape their files, differ from the committed ones
        (settings only queries read, like ``nprobe``, change without rebuilding anything)."""

        def shape(m: dict) -> list:
            out = []
            for e in m.get("retrievers") or []:
                skip = getattr(get_retriever(e["name"]), "search_time_settings", ())
                out.append((e["name"], {k: v for k, v in (e.get("settings") or {}).items() if k not in skip}))
            return out

        return shape(target) != shape(self.manifest)

    def _refresh(self) -> None:
        """Re-read the manifest: another writer may have committed since this one was opened."""
        fresh = read_manifest(self.path)
        if fresh["model"]["fingerprint"] != self.manifest["model"]["fingerprint"]:
            self.context.reset_encoder()
        self.context.manifest = fresh

    def _migrate_store(self, report: UpdateReport) -> bool:
        """Formats 1 and 2 -> 3 in place: the store's schema (format 1 kept one embedding column per
        chunk: moved, never re-encoded) and, at the commit that follows, segments instead of the old
        generation folder."""
        m = self.manifest
        moved = self.store.migrate({m["settings_key"]: _payload_key(m)})
        report.migrated_from = migrated_from(m, moved)
        return bool(report.migrated_from)

    def _commit(self, gen: int, target: dict, retrievers: list, report: UpdateReport, seconds: float, *, full: bool) -> None:
        """Write generation ``gen``: new segments for the chunks this update added and deletion markers
        for those it removed (``full``: every live chunk into fresh segments), then switch."""
        m = self.manifest
        entries = [] if full else entries_of(m)
        files = {} if full else integrity_files(m)
        number = int(m.get("next_segment") or 1)
        written = write_new_segments(
            self.store, self.path, gen, retrievers, number, added_at=None if full else gen, flush_chunks=FLUSH_CHUNKS
        )
        for w in written:
            entries.append(w.entry)
            files.update(w.files)
        marked = 0
        if not full:
            entries, recs, marked = mark_deleted(self.path, entries, self.store.removed_chunk_ids(gen), gen)
            files.update(recs)
        manifest = dict(target)
        manifest.update(
            next_segment=number + len(written),
            encoderkit_version=__version__,
            merge_policy=MergePolicy.from_dict(target.get("merge_policy") or m.get("merge_policy")).to_dict(),
            counts={"documents": self.store.count_documents(gen), "chunks": 0},
        )
        build = dict(manifest.get("build") or {})
        if "first_build_seconds" not in build and report.chunks_encoded:
            build["first_build_seconds"] = round(seconds, 3)
        build["last_update"] = {
            "at": now(),
            "added": report.added,
            "updated": report.updated,
            "removed": report.removed,
            "resumed": report.resumed,
            "chunks_encoded": report.chunks_encoded,
            "payloads_filled": report.payloads_filled,
            "segments_added": len(written),
            "chunks_deleted": marked,
            "full_build": full,
            "encode_seconds": report.encode_seconds,
            "encoded_on": encoded_on(manifest) if report.chunks_encoded else None,
            "retriever_seconds": {
                r.name: round(sum(w.retriever_seconds.get(r.name, 0.0) for w in written), 3) for r in retrievers
            },
        }
        build["retriever_bytes"] = segment_sizes(self.path, entries)
        build["retriever_stats"] = combined_stats(self.path, entries, retrievers)
        manifest["build"] = build
        self.context.manifest = switch(
            self.path, self.store, manifest, entries, files, gen, self.before_collect, warnings=report.warnings
        )
        if self._pending_encoder is not None:
            self.context.loaded_encoder = self._pending_encoder
        self._pending, self._pending_encoder = None, None
        report.committed = True
        report.full_build = full
        report.incremental = [] if full else [r.name for r in retrievers]
        report.segments_added = len(written)
        report.chunks_deleted = marked
        self.store.drop_payloads([e["name"] for e in self.manifest["retrievers"]])
        self.store.drop_annotations([e["name"] for e in self.manifest.get("annotators") or []])

    # ------------------------------------------------------------------ merges
    def _auto_merge(self, retrievers: list, report: UpdateReport, show_progress: bool | None) -> None:
        policy = MergePolicy.from_dict(self.manifest.get("merge_policy"))
        if not policy.auto:
            return
        while True:
            entries = entries_of(self.manifest)
            ranges = choose([(e.chunks, e.deleted) for e in entries], policy)
            if not ranges:
                return
            report.merges.extend(self._merge(ranges, retrievers, show_progress))

    def _merge(self, ranges: list[tuple[int, int]], retrievers: list, show_progress: bool | None) -> list[dict]:
        """Merge each range of neighbouring segments, one commit per merge (newest range first, so the
        other ranges' positions stay valid)."""
        from ...runtime import progress_enabled

        done = []
        entries = entries_of(self.manifest)
        total = sum(e.live for a, b in ranges for e in entries[a:b])
        bar = None
        if progress_enabled(show_progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"merging {sum(b - a for a, b in ranges)} segments", unit="chunk")
        try:
            for a, b in sorted(ranges, reverse=True):
                t = time.perf_counter()
                m = self.manifest
                gen = int(m["generation"]) + 1
                self.store.defer_pending(gen - 1)  # rows of an unfinished update stay pending and resumable
                entries = entries_of(m)
                group = entries[a:b]
                number = int(m.get("next_segment") or 1)
                w = merge_segments(self.store, self.path, group, retrievers, number)
                entries[a:b] = [w.entry]
                files = integrity_files(m)
                files.update(w.files)
                manifest = dict(m)
                manifest["next_segment"] = number + 1
                build = dict(manifest.get("build") or {})
                info = {
                    "at": now(),
                    "merged": [e.name for e in group],
                    "into": w.entry.name,
                    "chunks": w.entry.chunks,
                    "deleted_dropped": sum(e.deleted for e in group),
                    "seconds": round(time.perf_counter() - t, 3),
                }
                build["last_merge"] = info
                build["retriever_bytes"] = segment_sizes(self.path, entries)
                build["retriever_stats"] = combined_stats(self.path, entries, retrievers)
                manifest["build"] = build
                manifest["counts"] = dict(m["counts"])
                self.context.manifest = switch(self.path, self.store, manifest, entries, files, gen, self.before_collect)
                done.append(info)
                if bar is not None:
                    bar.update(sum(e.live for e in group))
        finally:
            if bar is not None:
                bar.close()
        return done

    def optimize(self, max_segments: int = 1, *, show_progress: bool | None = None) -> MergeReport:
        """Merge the index into at most ``max_segments`` segments, dropping every deleted chunk."""
        if self.readonly:
            raise EncoderkitError(f"index '{self.path}' is open read-only", hint="open it without readonly=True")
        if max_segments < 1:
            raise EncoderkitError(f"max_segments must be at least 1, not {max_segments}", hint="e.g. --max-segments 1")
        t0 = time.perf_counter()
        with writer_lock(self.path), io_errors(self.path, lambda: estimate_needed(self.path, self.manifest)):
            self._refresh()
            report = MergeReport(segments_before=len(self.manifest.get("segments") or []))
            ctx = self._target_context()
            retrievers = [get_retriever(e["name"])(e["settings"], ctx) for e in self.manifest["retrievers"]]
            if pre_segment_folder(self.manifest):  # from before segments: one full build migrates it first
                gen = int(self.manifest["generation"])
                self.store.migrate({self.manifest["settings_key"]: _payload_key(self.manifest)})
                self.store.defer_pending(gen)
                fill_missing_payloads(self.store, [r for r in retrievers if r.encodes], gen + 1)
                self._commit(gen + 1, self.manifest, retrievers, UpdateReport(), 0.0, full=True)
                report.migrated = True
            entries = entries_of(self.manifest)
            ranges = plan_optimize([(e.chunks, e.deleted) for e in entries], max_segments)
            report.merges = self._merge(ranges, retrievers, show_progress) if ranges else []
            if self.before_collect is not None:
                self.before_collect(int(self.manifest["generation"]))
            files = integrity_files(self.manifest)  # leftovers of killed writers, files readers let go of
            _, oldest = collect(self.path, files, int(self.manifest["generation"]))
            self.store.purge(oldest)
            report.segments_after = len(self.manifest.get("segments") or [])
            report.generation = int(self.manifest["generation"])
            report.chunks = int(self.manifest["counts"]["chunks"])
        report.seconds = round(time.perf_counter() - t0, 3)
        return report

    def export_query_model(self) -> str:
        """Export the index's model to fp32 ONNX once (cached by weights fingerprint) so searches encode
        queries with ONNX Runtime (same vectors, checked at export); returns the query backend."""
        import sys

        from ...models.export import export_onnx
        from ..storage.model import model_spec

        backend = "onnx"
        try:
            export_onnx(model_spec(self.manifest["model"]), kind="encoder")
        except (EncoderkitError, ImportError, RuntimeError, ValueError, OSError) as exc:  # the index is fine either way
            print(f"note: ONNX export failed ({exc}); queries will be encoded with torch", file=sys.stderr)
            backend = "torch"
        for entry in self.manifest["retrievers"]:  # retrievers with their own query model (e.g. ColBERT)
            r = get_retriever(entry["name"])(entry.get("settings") or {}, self.context)
            hook = getattr(r, "export_query_model", None)
            if hook is None:
                continue
            try:
                hook()
            except (EncoderkitError, ImportError, RuntimeError, ValueError) as exc:
                print(f"note: ONNX export for {entry['name']} failed ({exc}); its queries use torch", file=sys.stderr)
        return backend


def _payload_key(manifest: dict) -> str:
    from ...retrieval.dense import payload_key

    return payload_key(manifest["model"])


def check_chunking(chunking: ChunkSettings) -> None:
    from ...data.chunking import TITLE_MODES

    if chunking.title_mode not in TITLE_MODES:
        raise EncoderkitError(f"unknown title mode {chunking.titles!r}", hint=f"use one of: {', '.join(TITLE_MODES)}")
    if chunking.size != 0 and (chunking.size < 16 or not 0 <= chunking.overlap <= chunking.size // 2):
        raise EncoderkitError(
            f"bad chunking: size {chunking.size}, overlap {chunking.overlap}",
            hint="use size >= 16 and 0 <= overlap <= size/2, or size 0 for whole documents",
        )


def new_manifest(encoder, chunking: ChunkSettings, retrievers: list[dict], annotators: list[dict] | None = None) -> dict:
    """The manifest of a new, empty index."""
    model = encoder.describe()
    return {
        "created_at": now(),
        "updated_at": now(),
        "encoderkit_version": __version__,
        "generation": 0,
        "model": {**model, "normalize": True},
        "settings_key": settings_key(model, chunking),
        "chunking": chunking.to_dict(),
        "retrievers": retrievers,
        "annotators": annotators or [],
        "counts": {"documents": 0, "chunks": 0},
        "segments": [],
        "next_segment": 1,
        "merge_policy": MergePolicy().to_dict(),
        "build": {},
    }


__all__ = ["IndexWriter", "check_encoder", "new_manifest", "retriever_entries", "check_chunking", "as_source_doc"]


def encoded_on(manifest: dict) -> str:
    """The device and precision chunks were encoded at (recorded per update; an index built on a GPU
    searches on a CPU-only machine: vectors are plain float32 arrays either way).

    >>> encoded_on({"model": {"encode_precision": "int8"}})
    'cpu int8'
    """
    from ...runtime.devices import runtime_device

    precision = (manifest.get("model") or {}).get("encode_precision") or "fp32"
    return f"{runtime_device(precision == 'int8')} {precision}"
