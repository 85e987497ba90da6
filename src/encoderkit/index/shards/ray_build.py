"""Chunking and encoding an index's documents on a Ray cluster (``encoderkit index ... --ray``).

The driver reads the files and plans the update exactly as the local path does (content hashes decide
what to encode, so unchanged files still cost only a hash); the documents to encode then go through a
Ray Data pipeline whose actors each load the index's model once (one model per actor, ``cpus_per_worker``
torch threads each), chunk with the index's tokenizer and compute every encoding retriever's payloads
in token-budget batches. The driver stores the results in groups as they arrive, in document order,
through the same store calls as a local build, so a distributed build equals a local one (documents,
chunks, payloads) and an interrupted one resumes from what was stored.

A worker that dies is restarted and its batch retried by Ray (``max_restarts`` / ``max_task_retries``);
the driver keeps the first result of each document and checks that every document came back exactly
once, so nothing is lost or stored twice.

>>> encode_batch_docs(32, 2000), encode_batch_docs(32, 10)
(32, 3)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ...data.files.sources import SourceDoc
from ...errors import EncoderkitError

FAULT_ENV = "ENCODERKIT_FAULT_KILL_WORKER_ONCE"  # fault tests: a marker path; the first worker batch exits its process
MAX_RETRIES = 4  # restarts of a dead worker, and retries of its batch, before the build fails


def encode_batch_docs(batch_docs: int, n_docs: int, workers: int = 2) -> int:
    """Documents per worker batch: ``batch_docs``, smaller when there are too few documents to give
    every worker a couple of batches."""
    return max(1, min(batch_docs, -(-n_docs // (2 * max(1, workers)))))


class RemoteChunkEncoder:
    """A Ray Data callable class: one per actor; loads the index's model from the manifest once."""

    def __init__(self, manifest: dict, path: str, names: Sequence[str], threads: int = 1, fault_marker: str = ""):
        from ...retrieval.base import IndexContext
        from ...retrieval.registry import get as get_retriever
        from ...runtime.threads import configure_torch
        from ..storage.model import load_document_encoder, load_index_encoder
        from ..write.plan import ChunkSettings

        os.environ["ENCODERKIT_THREADS"] = str(max(1, int(threads)))
        configure_torch()
        index_dir = Path(path)
        ctx = IndexContext(
            index_dir,
            manifest,
            lambda: load_index_encoder(manifest, index_dir, backend="torch"),
            backend="torch",
            document_encoder_loader=load_document_encoder,
        )
        entries = {e["name"]: e for e in manifest["retrievers"]}
        self.retrievers = [get_retriever(n)(entries[n].get("settings") or {}, ctx) for n in names]
        self.tokenizer = ctx.encoder.raw_tokenizer()
        self.chunking = ChunkSettings.from_dict(manifest["chunking"])
        self.window = min(self.chunking.size, int(manifest["model"]["max_length"]) - 2)
        self.fault_marker = fault_marker

    def __call__(self, batch: dict) -> dict:
        from ..write.encode import chunk_document

        if self.fault_marker and not os.path.exists(self.fault_marker):
            Path(self.fault_marker).write_text(str(os.getpid()))
            os._exit(1)  # a worker dying mid-build (fault tests): Ray restarts the actor and retries this batch
        docs = [SourceDoc(**json.loads(s)) for s in batch["doc"]]
        encodings = self.tokenizer.encode_batch([d.text for d in docs], add_special_tokens=False)
        rows = [chunk_document(d, self.tokenizer, self.chunking, self.window, e) for d, e in zip(docs, encodings)]
        texts = [c["index_text"] for r in rows for c in r]
        out = {"pos": np.asarray(batch["pos"], dtype=np.int64), "rows": np.array([json.dumps(r) for r in rows], dtype=object)}
        for j, retriever in enumerate(self.retrievers):
            flat = retriever.encode_chunks(texts)
            blobs, lens, at = [], [], 0
            for r in rows:
                part = flat[at : at + len(r)]
                at += len(r)
                blobs.append(b"".join(part))
                lens.append(json.dumps([len(p) for p in part]))
            out[f"blob{j}"] = np.array(blobs, dtype=object)
            out[f"lens{j}"] = np.array(lens, dtype=object)
        return out


def bound_encoder(manifest: dict, path: str, names: Sequence[str], threads: int, fault_marker: str) -> type:
    """A :class:`RemoteChunkEncoder` subclass carrying its arguments in the class itself (shipped with
    the class, not as constructor arguments in the object store, so a restarted actor always has them)."""
    args = (dict(manifest), str(path), list(names), int(threads), str(fault_marker))

    class BoundChunkEncoder(RemoteChunkEncoder):
        def __init__(self):
            super().__init__(*args)

    return BoundChunkEncoder


def quiet_ray_data() -> None:
    """Ray Data's progress bars and per-dataset INFO lines off (our own bar and summary replace them)."""
    import logging

    import ray.data

    data_ctx = ray.data.DataContext.get_current()
    data_ctx.execution_options.preserve_order = True  # results in document order: builds are reproducible
    data_ctx.enable_progress_bars = False
    data_ctx.print_on_execution_start = False
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)


class PendingFile:
    """A file found by :func:`encoderkit.data.files.sources.walk` and left for a worker to read."""

    def __init__(self, path: str):
        self.path = path


def read_files_batch(batch: dict, max_bytes: int, time_limit: float | None) -> dict:
    """Ray task body: read the batch's files (:func:`encoderkit.data.files.sources.read_file`); one output row
    per document or skip, tagged with the file's position and the item's place in the file."""
    from ...data.files.sources import Skipped, read_file

    pos, sub, kind, data = [], [], [], []
    for p, path in zip(batch["pos"], batch["path"]):
        for j, item in enumerate(read_file(str(path), max_bytes=int(max_bytes), time_limit=time_limit)):
            pos.append(int(p))
            sub.append(j)
            kind.append("skip" if isinstance(item, Skipped) else "doc")
            data.append(json.dumps(asdict(item)))
    return {
        "pos": np.asarray(pos, dtype=np.int64),
        "sub": np.asarray(sub, dtype=np.int64),
        "kind": np.array(kind, dtype=object),
        "data": np.array(data, dtype=object),
    }


class RayEncoding:
    """How an update encodes on Ray: pass to :meth:`encoderkit.index.Index.sync` / ``add``
    (``encode_with=RayEncoding(...)``). ``address``: ``local`` (start one here), ``auto`` or
    ``HOST:PORT``; ``workers``: encoding actors (default: the cluster's CPUs / ``cpus_per_worker``)."""

    def __init__(
        self,
        address: str | None = "local",
        *,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        gpus_per_worker: float = 0.0,
        batch_docs: int = 32,
        quiet: bool = True,
    ):
        if workers is not None and workers < 1:
            raise EncoderkitError(f"--workers must be at least 1, not {workers}", hint="e.g. --workers 2")
        if cpus_per_worker < 1:
            raise EncoderkitError(f"cpus per worker must be at least 1, not {cpus_per_worker}", hint="e.g. 1")
        self.address = address or "local"
        self.workers = workers
        self.cpus_per_worker = int(cpus_per_worker)
        if gpus_per_worker < 0:
            raise EncoderkitError(f"--gpus-per-worker must be >= 0, not {gpus_per_worker}", hint="e.g. 1 or 0.5")
        self.gpus_per_worker = float(gpus_per_worker)
        self.batch_docs = int(batch_docs)
        self.quiet = quiet
        self.info = None
        self.last: dict = {}

    def connect(self):
        from ...runtime.ray_cluster import connect

        if self.info is None:
            self.info = connect(self.address, quiet=self.quiet)
            if self.gpus_per_worker and self.info.gpus < self.gpus_per_worker:  # Ray would wait for ever
                raise EncoderkitError(
                    f"--gpus-per-worker {self.gpus_per_worker:g}: the Ray cluster at {self.info.address} has "
                    f"{self.info.gpus:g} GPU(s)",
                    hint="leave --gpus-per-worker out to encode on CPUs, or join a cluster with GPUs",
                )
        return self.info

    def n_workers(self) -> int:
        info = self.connect()
        if self.gpus_per_worker:
            return self.workers or max(1, int(info.gpus // self.gpus_per_worker))
        return self.workers or max(1, info.cpus // self.cpus_per_worker)

    def read_walk(self, paths, *, max_bytes: int, time_limit: float | None) -> Iterator:
        """What :func:`encoderkit.data.files.sources.walk` yields, with the files read and their text extracted
        by Ray tasks (folders are listed here; the files must be on a filesystem the workers see)."""
        from ...data.files.sources import Skipped, walk
        from ...runtime.ray_cluster import require_ray

        found = list(walk(paths, max_bytes=max_bytes, time_limit=time_limit, read=lambda p: [PendingFile(p)]))
        files = [(i, f.path) for i, f in enumerate(found) if isinstance(f, PendingFile)]
        if not files:
            yield from found
            return
        ray = require_ray()
        self.connect()
        quiet_ray_data()
        per_task = max(1, min(16, -(-len(files) // (4 * max(1, self.n_workers())))))
        ds = ray.data.from_items([{"pos": i, "path": p} for i, p in files], override_num_blocks=-(-len(files) // per_task))
        ds = ds.map_batches(
            read_files_batch,
            fn_kwargs={"max_bytes": int(max_bytes), "time_limit": time_limit},
            batch_size=per_task,
            batch_format="numpy",
            num_cpus=1,
        )
        read: dict[int, list] = {}
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for p, j, kind, data in zip(batch["pos"], batch["sub"], batch["kind"], batch["data"]):
                    fields = json.loads(data)
                    item = Skipped(**fields) if kind == "skip" else SourceDoc(**fields)
                    read.setdefault(int(p), []).append((int(j), item))
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EncoderkitError(f"reading files on Ray failed: {first}", hint="run the same command again") from None
        for i, item in enumerate(found):
            if isinstance(item, PendingFile):
                yield from (x for _, x in sorted(read.get(i, []), key=lambda t: t[0]))
            else:
                yield item

    def encoded(
        self, docs: Sequence[SourceDoc], manifest: dict, path: Path, names: Sequence[str], progress=None
    ) -> Iterator[tuple[SourceDoc, list[dict], dict[str, list[bytes]]]]:
        """(document, its chunk rows, retriever -> one payload per chunk) for every document, in order."""
        from ...runtime.ray_cluster import require_ray

        ray = require_ray()
        if not docs:
            return
        workers = self.n_workers()
        import warnings

        quiet_ray_data()  # imports ray.data
        items = [{"pos": i, "doc": json.dumps(asdict(d))} for i, d in enumerate(docs)]
        per_batch = encode_batch_docs(self.batch_docs, len(items), workers)
        ds = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // per_batch)))
        with warnings.catch_warnings():  # max_restarts / max_task_retries have no named parameter yet
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(
                bound_encoder(manifest, str(path), names, self.cpus_per_worker, os.environ.get(FAULT_ENV, "")),
                batch_size=per_batch,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=self.cpus_per_worker,
                **({"num_gpus": self.gpus_per_worker} if self.gpus_per_worker else {}),
                max_restarts=MAX_RETRIES,
                max_task_retries=MAX_RETRIES,
            )
        if progress is not None:
            progress.reset(total=len(docs))
            progress.set_description(f"encoding on Ray ({workers} workers)")
        seen = np.zeros(len(docs), dtype=bool)
        duplicates = 0
        t0 = time.perf_counter()
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for b in range(len(batch["pos"])):
                    pos = int(batch["pos"][b])
                    if seen[pos]:
                        duplicates += 1
                        continue
                    seen[pos] = True
                    rows = json.loads(batch["rows"][b])
                    payloads = {}
                    for j, name in enumerate(names):
                        blob, lens = batch[f"blob{j}"][b], json.loads(batch[f"lens{j}"][b])
                        ends = np.cumsum(lens).tolist()
                        payloads[name] = [bytes(blob[e - n : e]) for e, n in zip(ends, lens)]
                    yield docs[pos], rows, payloads
                    if progress is not None:
                        progress.update(1)
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EncoderkitError(
                f"encoding on Ray failed after {MAX_RETRIES} retries: {first}",
                hint="what was stored so far is kept: run the same command again to resume",
            ) from None
        missing = int(np.count_nonzero(~seen))
        if missing:
            raise EncoderkitError(
                f"{missing} documents did not come back from the Ray workers",
                hint="what was stored so far is kept: run the same command again to resume",
            )
        self.last = {"workers": workers, "seconds": round(time.perf_counter() - t0, 3), "duplicates_dropped": duplicates}


__all__ = [
    "PendingFile",
    "read_files_batch",
    "FAULT_ENV",
    "RayEncoding",
    "RemoteChunkEncoder",
    "bound_encoder",
    "encode_batch_docs",
    "quiet_ray_data",
]
