""":class:`ShardedIndex`: several ordinary indexes searched as one (layout and routing:
:mod:`encoderkit.index.shards.routing`).

>>> from encoderkit.index.shards.sharded import ShardedIndex
>>> six = ShardedIndex.create("demo-sharded", 2, encoder="default")               # doctest: +SKIP
>>> six.add([{"id": "py", "text": "Python is a programming language."}])         # doctest: +SKIP
>>> six.search("what language should I code in", k=1)[0].doc_id                   # doctest: +SKIP
'py'
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ...data.textsafe import clean_text
from ...errors import EncoderkitError
from ...retrieval.options import SearchOptions, parse_mode
from ...retrieval.pipeline import Snapshot, rank
from ...retrieval.ranking import Hit, QueryRanking
from ...retrieval.segmented import Part, SegmentedRetriever
from ..calibrate import stored_rule
from ..index import Index
from ..read.filters import allowed_documents, check_fields, parse_filters
from ..read.searcher import ranking_hits
from ..storage.manifest import MANIFEST
from ..write.update_report import UpdateReport
from .routing import read_shards, route, shard_name, write_shards
from .view import ShardView, local_ids, offset_of, shard_of


def _row(row, **changes) -> dict:
    out = {k: row[k] for k in row.keys()}
    out.update(changes)
    return out


class ShardRouter:
    """The reading side of a store, over every shard's store, in combined ids (what building hits needs)."""

    def __init__(self, stores: Sequence):
        self.stores = list(stores)

    def _groups(self, ids) -> dict[int, list[int]]:
        ids = np.asarray(list(ids), dtype=np.int64)
        out: dict[int, list[int]] = {}
        for s, i in zip(shard_of(ids).tolist(), local_ids(ids).tolist()):
            out.setdefault(int(s), []).append(int(i))
        return out

    def chunks_by_id(self, chunk_ids) -> dict[int, dict]:
        out = {}
        for s, ids in self._groups(chunk_ids).items():
            off = offset_of(s)
            for cid, row in self.stores[s].chunks_by_id(ids).items():
                out[cid + off] = _row(row, id=cid + off, doc=row["doc"] + off)
        return out

    def documents_by_rowid(self, rowids) -> dict[int, dict]:
        out = {}
        for s, ids in self._groups(rowids).items():
            off = offset_of(s)
            out.update({r + off: _row(row, id=r + off) for r, row in self.stores[s].documents_by_rowid(ids).items()})
        return out

    def annotations(self, rowids) -> dict[int, dict]:
        out = {}
        for s, ids in self._groups(rowids).items():
            out.update({r + offset_of(s): a for r, a in self.stores[s].annotations(ids).items()})
        return out

    def char_before(self, chunks: Sequence[dict], width: int = 1) -> dict[int, str]:
        out: dict[int, str] = {}
        by_shard: dict[int, list[dict]] = {}
        for c in chunks:
            s = int(shard_of(np.array([c["id"]]))[0])
            off = offset_of(s)
            by_shard.setdefault(s, []).append({**c, "id": c["id"] - off, "doc": c["doc"] - off})
        for s, rows in by_shard.items():
            out.update({cid + offset_of(s): ch for cid, ch in self.stores[s].char_before(rows, width).items()})
        return out

    def chunk_texts(self, chunk_ids) -> dict[int, str]:
        out = {}
        for s, ids in self._groups(chunk_ids).items():
            out.update({cid + offset_of(s): t for cid, t in self.stores[s].chunk_texts(ids).items()})
        return out

    @contextmanager
    def read_transaction(self):
        """One read transaction on every shard's store (stores with ``read_transaction``: a server's
        per-thread stores), so a read sees each shard as of one moment."""
        with ExitStack() as stack:
            for store in self.stores:
                stack.enter_context(store.read_transaction())
            yield

    def close(self) -> None:
        for store in self.stores:
            store.close()


class ShardedIndex:
    """Shards behind one folder: :meth:`create`, :meth:`open`; :meth:`add`, :meth:`remove`,
    :meth:`sync` route documents by id; :meth:`search` answers like one index over all of them."""

    def __init__(self, path: Path, shards: list[Index], names: list[str]):
        self.path = Path(path)
        self.shards = shards
        self.names = names
        self._combined: tuple[tuple, Snapshot | None] | None = None  # (each shard's generation, snapshot)
        self.remote = None  # RayShards when searching through Ray actors
        self.parallel = True  # in process: shards searched by a thread each (see _pool)
        self._executor = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, path: str | Path, n_shards: int, encoder="default", **settings) -> ShardedIndex:
        """A new sharded index of ``n_shards`` empty shards, each created with ``Index.create(encoder,
        **settings)`` (the same model, chunking and retrievers)."""
        from ...models.heads.encoder import Encoder

        path = Path(path)
        if not isinstance(n_shards, int) or n_shards < 1:
            raise EncoderkitError(f"--shards must be at least 1, not {n_shards!r}", hint="e.g. --shards 2")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise EncoderkitError(f"'{path}' exists and is not an empty folder", hint="pick a new folder for the index")
        enc = encoder if isinstance(encoder, Encoder) else Encoder.load(encoder)
        path.mkdir(parents=True, exist_ok=True)
        names = [shard_name(i) for i in range(n_shards)]
        shards = [Index.create(path / n, encoder=enc, **settings) for n in names]
        write_shards(path, names)
        return cls(path, shards, names)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, backend: str = "auto") -> ShardedIndex:
        path = Path(path)
        names = read_shards(path)["shards"]
        first = Index.open(path / names[0], readonly=readonly, backend=backend)
        shards = [first] + [Index.open(path / n, first.encoder, readonly=readonly, backend=backend) for n in names[1:]]
        fp = first.manifest["model"]["fingerprint"]
        for n, s in zip(names, shards):
            if s.manifest["model"]["fingerprint"] != fp or s.retrievers != first.retrievers:
                raise EncoderkitError(
                    f"shard {n} of '{path}' was built with another model or retrievers",
                    hint="rebuild that shard with the index's settings",
                )
        return cls(path, shards, names)

    def add_shard(self) -> str:
        """Add an empty shard with the first shard's settings; new documents start going to it."""
        first = self.shards[0]
        m = first.manifest
        name = shard_name(len(self.names))
        chunking = m["chunking"]
        shard = Index.create(
            self.path / name,
            encoder=first.encoder,
            chunk_size=chunking["size"],
            chunk_overlap=chunking["overlap"],
            titles=chunking.get("titles", "auto"),
            retrievers=first.retrievers,
            retriever_settings={e["name"]: e.get("settings") or {} for e in m["retrievers"]},
        )
        self.shards.append(shard)
        self.names.append(name)
        write_shards(self.path, self.names)
        return name

    def close(self) -> None:
        for s in self.shards:
            s.close()
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ routing and writing
    def holder(self, doc_id: str) -> int | None:
        """The shard holding ``doc_id`` now, if any."""
        for i, s in enumerate(self.shards):
            if s.store.visible_documents(s.generation, [doc_id]):
                return i
        return None

    def shard_for(self, doc_id: str) -> int:
        """Where ``doc_id`` goes: the shard holding it, else the rendezvous winner."""
        held = self.holder(doc_id)
        return held if held is not None else self.names.index(route(doc_id, self.names))

    def add(self, docs: Iterable, **kw) -> dict[str, UpdateReport]:
        """Add or replace documents, each in its shard; returns each touched shard's report."""
        groups: dict[int, list] = {}
        for d in docs:
            doc_id = str(d["id"] if isinstance(d, dict) else d.doc_id)
            groups.setdefault(self.shard_for(doc_id), []).append(d)
        return {self.names[i]: self.shards[i].add(g, **kw) for i, g in sorted(groups.items())}

    def remove(self, ids: Iterable[str]) -> dict[str, UpdateReport]:
        groups: dict[int, list[str]] = {}
        for doc_id in ids:
            held = self.holder(str(doc_id))
            if held is not None:
                groups.setdefault(held, []).append(str(doc_id))
        return {self.names[i]: self.shards[i].remove(g) for i, g in sorted(groups.items())}

    def sync(self, paths: Sequence[str | Path], **kw) -> dict[str, UpdateReport]:
        """Index files and folders incrementally, each document in its shard (every shard walks the
        paths and keeps its own documents; a vanished file is removed from the shard holding it)."""
        owner: dict[str, int] = {}

        def accepts(i: int):
            def accept(doc_id: str) -> bool:
                if doc_id not in owner:
                    owner[doc_id] = self.shard_for(doc_id)
                return owner[doc_id] == i

            return accept

        return {n: s.sync(paths, accept=accepts(i), **kw) for i, (n, s) in enumerate(zip(self.names, self.shards))}

    # ------------------------------------------------------------------ searching
    @property
    def retrievers(self) -> list[str]:
        return self.shards[0].retrievers

    @property
    def manifest(self) -> dict:
        """The first shard's manifest (every shard has the same model, chunking and retrievers)."""
        return self.shards[0].manifest

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def use_ray(self, address: str | None = "local", *, backend: str = "auto") -> None:
        """Search through one Ray actor per shard from now on (see :mod:`encoderkit.index.shards.ray_actors`)."""
        from .ray_actors import RayShards

        self.remote = RayShards(self.path, len(self.names), address=address, backend=backend, previous=self.remote)
        self._combined = None

    def snapshot(self) -> Snapshot | None:
        """One Snapshot over every shard's live generation, in combined ids."""
        if getattr(self, "remote", None) is not None:
            return self._remote_snapshot()
        snaps = [s.snapshot() for s in self.shards]
        key = tuple((id(x), x.gen) if x is not None else None for x in snaps)
        if self._combined is not None and self._combined[0] == key:
            return self._combined[1]  # no shard committed since: reuse (tie order reads every document row)
        entries = [
            (i, snap.gen, snap.chunk_ids, snap.chunk_docs, snap.n_docs, snap.live, snap.retrievers)
            for i, snap in enumerate(snaps)
            if snap is not None
        ]
        pool = self._pool(len(entries))
        views = {i: {n: ShardView(retrievers[n], offset_of(i), pool) for n in self.retrievers} for i, *_, retrievers in entries}
        templates = {n: entries[0][6][n].template for n in self.retrievers} if entries else {}
        combined = self._combine(entries, views, templates)
        self._combined = (key, combined)
        return combined

    def _pool(self, n_parts: int):
        """Threads that search the shards in parallel (one per shard, at most one per core); None when
        there is one shard or one core, or ``parallel`` is off."""
        from ...runtime import cpu_count

        workers = min(n_parts, cpu_count())
        if not self.parallel or workers < 2:
            return None
        if self._executor is None or self._executor._max_workers != workers:
            from concurrent.futures import ThreadPoolExecutor

            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="encoderkit-shard")
        return self._executor

    def _remote_snapshot(self) -> Snapshot | None:
        """The combined snapshot from the shard actors, described again only after a shard committed."""
        from ...retrieval.registry import get as get_retriever

        stamp = tuple(_mtime(self.path / n / MANIFEST) for n in self.names)
        if self._combined is not None and self._combined[0] == stamp:
            return self._combined[1]
        described = self.remote.describe()
        entries = [
            (i, d["gen"], d["chunk_ids"], d["chunk_docs"], d["n_docs"], d["live"], None)
            for i, d in enumerate(described)
            if d is not None
        ]
        stats = {n: bool(getattr(get_retriever(n), "collection_statistics", False)) for n in self.retrievers}
        views = {i: self.remote.views(i, self.retrievers, offset_of(i), stats) for i, *_ in entries}
        templates = {n: views[entries[0][0]][n] for n in self.retrievers} if entries else {}
        combined = self._combine(entries, views, templates)
        self._combined = (stamp, combined)
        return combined

    def _combine(self, entries: list, views: dict, templates: dict) -> Snapshot | None:
        """One Snapshot from each non-empty shard's (index, gen, chunk ids, chunk docs, documents, live
        chunks) and its retrievers' ``views`` in combined ids."""
        if not entries:
            return None
        names = self.retrievers
        chunk_ids, chunk_docs, parts = [], [], {n: [] for n in names}
        ties: list[tuple[str, int]] = []
        for i, gen, ids, docs, _, _, _ in entries:
            off = offset_of(i)
            chunk_ids.append(np.asarray(ids, np.int64) + off)
            chunk_docs.append(np.asarray(docs, np.int64) + off)
            for n in names:
                parts[n].append(Part(chunk_ids[-1], None, views[i][n]))
            shard = self.shards[i]
            ties += [(doc_id, row["id"] + off) for doc_id, row in shard.store.visible_documents(gen).items()]
        retrievers = {n: SegmentedRetriever(n, parts[n], templates[n]) for n in names}
        out = Snapshot(
            sum(int(e[1]) for e in entries),
            np.concatenate(chunk_ids),
            np.concatenate(chunk_docs),
            retrievers,
            sum(int(e[4]) for e in entries),
            live=sum(int(e[5] if e[5] is not None else len(e[2])) for e in entries),
        )
        ties.sort(key=lambda t: t[0], reverse=True)  # trec_eval's order among equal scores: descending id
        out.set_tie_order(np.array([r for _, r in ties], dtype=np.int64))
        return out

    def rank_many(self, queries: Sequence[str], options: SearchOptions | None = None, **overrides) -> list[QueryRanking]:
        """Like :meth:`Index.rank_many`, over all shards (keys are combined ids)."""
        o = SearchOptions.of(options, **overrides)
        stages = parse_mode(o.mode, self.retrievers)
        snap = self.snapshot()
        allowed = None
        parsed = parse_filters(o.filters)
        if parsed and snap is not None:  # a field is known when any shard has it
            check_fields(parsed, set().union(*(s.store.filter_fields(s.generation) for s in self.shards)))
            allowed = np.concatenate(
                [
                    np.asarray(allowed_documents(s.store, s.generation, parsed, check=False), dtype=np.int64) + offset_of(i)
                    for i, s in enumerate(self.shards)
                ]
            )
        router = ShardRouter([s.store for s in self.shards])
        return rank(
            snap,
            [clean_text(q) if isinstance(q, str) else q for q in queries],
            stages,
            o,
            chunk_texts=router.chunk_texts,
            allowed_docs=allowed,
            default_rule=stored_rule(self.shards[0].manifest) if self.shards else None,
        )

    def search_many(self, queries: Sequence[str], options: SearchOptions | None = None, **overrides) -> list[list[Hit]]:
        o = SearchOptions.of(options, **overrides).check()
        return [ranking_hits(self.store, r, o.k) for r in self.rank_many(queries, SearchOptions.of(o, depth=max(o.depth, o.k)))]

    def search(self, query: str, options: SearchOptions | None = None, **overrides) -> list[Hit]:
        return self.search_many([query], options, **overrides)[0]

    def set_fusion_rule(self, rule) -> None:
        """One fusion rule for the whole index, stored in every shard's manifest (searches read the first's)."""
        for shard in self.shards:
            shard.set_fusion_rule(rule)

    # ------------------------------------------------------------------ what a server reads
    @property
    def store(self) -> ShardRouter:
        """The shards' stores read as one (combined ids)."""
        return ShardRouter([s.store for s in self.shards])

    @property
    def generation(self) -> int:
        """The sum of the shards' generations (grows with every commit of any shard)."""
        return sum(s.generation for s in self.shards)

    @property
    def encoder(self):
        return self.shards[0].encoder

    def stats(self) -> dict:
        per = [s.stats() for s in self.shards]
        out = {"path": str(self.path), "generation": self.generation, "shards": len(per)}
        for key in ("documents", "chunks", "size_bytes", "segments"):
            out[key] = sum(int(p.get(key) or 0) for p in per)
        out.update(model=per[0]["model"], retrievers=per[0]["retrievers"], per_shard=per)
        return out

    def health(self, *, full: bool = False):
        """Every shard's health in one: problems and notes prefixed with the shard's name."""
        from ..storage.integrity import Health

        out = Health("full" if full else "cheap", self.generation)
        for name, shard in zip(self.names, self.shards):
            h = shard.health(full=full)
            out.problems += [f"{name}: {p}" for p in h.problems]
            out.notes += [f"{name}: {n}" for n in h.notes]
            out.checked_files += h.checked_files
        return out

    def hits(self, ranking: QueryRanking, k: int) -> list[Hit]:
        return ranking_hits(self.store, ranking, k)

    def document(self, doc_id: str) -> dict | None:
        """The stored view of ``doc_id`` (see :func:`encoderkit.index.read.documents.document_view`) from the
        shard holding it."""
        from ..read.documents import document_view

        held = self.holder(doc_id)
        if held is None:
            return None
        shard = self.shards[held]
        return document_view(shard.store, shard.generation, doc_id)

    def doc_ids(self) -> dict[int, str]:
        """Combined document row id -> document id, every live document."""
        out = {}
        for i, s in enumerate(self.shards):
            out.update({r + offset_of(i): d for r, d in s.doc_ids().items()})
        return out


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
