""":class:`ShardedIndex`: several ordinary indexes searched as one (layout and routing:
:mod:`encoderkit.index.shards`).

>>> from encoderkit.index.sharded import ShardedIndex
>>> six = ShardedIndex.create("demo-sharded", 2, encoder="default")               # doctest: +SKIP
>>> six.add([{"id": "py", "text": "Python is a programming language."}])         # doctest: +SKIP
>>> six.search("what language should I code in", k=1)[0].doc_id                   # doctest: +SKIP
'py'
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..data.textsafe import clean_text
from ..errors import EncoderkitError
from ..retrieval.pipeline import Snapshot, parse_mode, rank
from ..retrieval.ranking import Hit, QueryRanking
from ..retrieval.segmented import Part, SegmentedRetriever
from ..retrieval.shardview import ShardView, local_ids, offset_of, shard_of
from .filters import allowed_documents, parse_filters
from .index import Index
from .manifest import MANIFEST
from .report import UpdateReport
from .searcher import ranking_hits
from .shards import read_shards, route, shard_name, write_shards


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

    def char_before(self, chunks: Sequence[dict]) -> dict[int, str]:
        out: dict[int, str] = {}
        by_shard: dict[int, list[dict]] = {}
        for c in chunks:
            s = int(shard_of(np.array([c["id"]]))[0])
            off = offset_of(s)
            by_shard.setdefault(s, []).append({**c, "id": c["id"] - off, "doc": c["doc"] - off})
        for s, rows in by_shard.items():
            out.update({cid + offset_of(s): ch for cid, ch in self.stores[s].char_before(rows).items()})
        return out

    def chunk_texts(self, chunk_ids) -> dict[int, str]:
        out = {}
        for s, ids in self._groups(chunk_ids).items():
            out.update({cid + offset_of(s): t for cid, t in self.stores[s].chunk_texts(ids).items()})
        return out


class ShardedIndex:
    """Shards behind one folder: :meth:`create`, :meth:`open`; :meth:`add`, :meth:`remove`,
    :meth:`sync` route documents by id; :meth:`search` answers like one index over all of them."""

    def __init__(self, path: Path, shards: list[Index], names: list[str]):
        self.path = Path(path)
        self.shards = shards
        self.names = names
        self._combined: tuple[tuple, Snapshot | None] | None = None  # (each shard's generation, snapshot)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, path: str | Path, n_shards: int, encoder="default", **settings) -> ShardedIndex:
        """A new sharded index of ``n_shards`` empty shards, each created with ``Index.create(encoder,
        **settings)`` (the same model, chunking and retrievers)."""
        from ..models.encoder import Encoder

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

    def snapshot(self) -> Snapshot | None:
        """One Snapshot over every shard's live generation, in combined ids."""
        snaps = [s.snapshot() for s in self.shards]
        key = tuple((id(x), x.gen) if x is not None else None for x in snaps)
        if self._combined is not None and self._combined[0] == key:
            return self._combined[1]  # no shard committed since: reuse (tie order reads every document row)
        combined = self._combine(snaps)
        self._combined = (key, combined)
        return combined

    def _combine(self, snaps: list) -> Snapshot | None:
        if all(x is None for x in snaps):
            return None
        names = self.retrievers
        chunk_ids, chunk_docs, parts = [], [], {n: [] for n in names}
        ties: list[tuple[str, int]] = []
        template = None
        for i, (shard, snap) in enumerate(zip(self.shards, snaps)):
            if snap is None:
                continue
            off = offset_of(i)
            chunk_ids.append(snap.chunk_ids + off)
            chunk_docs.append(snap.chunk_docs + off)
            for n in names:
                parts[n].append(Part(snap.chunk_ids + off, None, ShardView(snap.retrievers[n], off)))
            ties += [(doc_id, row["id"] + off) for doc_id, row in shard.store.visible_documents(snap.gen).items()]
            template = template or snap
        retrievers = {n: SegmentedRetriever(n, parts[n], template.retrievers[n].template) for n in names}
        gen = sum(int(s.gen) for s in snaps if s is not None)
        out = Snapshot(
            gen,
            np.concatenate(chunk_ids),
            np.concatenate(chunk_docs),
            retrievers,
            sum(int(s.n_docs) for s in snaps if s is not None),
            live=sum(int(s.live if s.live is not None else len(s.chunk_ids)) for s in snaps if s is not None),
        )
        ties.sort(key=lambda t: t[0], reverse=True)  # trec_eval's order among equal scores: descending id
        out.set_tie_order(np.array([r for _, r in ties], dtype=np.int64))
        return out

    def rank_many(
        self, queries: Sequence[str], *, mode: str = "hybrid", filters: Sequence[str] | None = None, **kw
    ) -> list[QueryRanking]:
        """Like :meth:`Index.rank_many`, over all shards (keys are combined ids)."""
        stages = parse_mode(mode, self.retrievers)
        snap = self.snapshot()
        allowed = None
        parsed = parse_filters(filters)
        if parsed and snap is not None:
            allowed = np.concatenate(
                [
                    np.asarray(allowed_documents(s.store, s.generation, parsed), dtype=np.int64) + offset_of(i)
                    for i, s in enumerate(self.shards)
                ]
            )
        router = ShardRouter([s.store for s in self.shards])
        return rank(
            snap,
            [clean_text(q) if isinstance(q, str) else q for q in queries],
            stages,
            chunk_texts=router.chunk_texts,
            allowed_docs=allowed,
            **kw,
        )

    def search_many(self, queries: Sequence[str], *, k: int = 10, depth: int = 100, **kw) -> list[list[Hit]]:
        if not isinstance(k, int) or k < 1:
            raise EncoderkitError(f"k must be a positive number of results, got {k!r}", hint="pass k >= 1")
        router = ShardRouter([s.store for s in self.shards])
        return [ranking_hits(router, r, k) for r in self.rank_many(queries, depth=max(depth, k), **kw)]

    def search(self, query: str, *, k: int = 10, **kw) -> list[Hit]:
        return self.search_many([query], k=k, **kw)[0]

    def doc_ids(self) -> dict[int, str]:
        """Combined document row id -> document id, every live document."""
        out = {}
        for i, s in enumerate(self.shards):
            out.update({r + offset_of(i): d for r, d in s.doc_ids().items()})
        return out


def open_any(path: str | Path, **kw):
    """An :class:`Index` or a :class:`ShardedIndex`, whichever ``path`` holds."""
    from .shards import is_sharded

    path = Path(path)
    if is_sharded(path):
        return ShardedIndex.open(path, **kw)
    if not (path / MANIFEST).is_file():
        raise EncoderkitError(f"no index at '{path}'", hint="create one with `encoderkit index PATH --index DIR`")
    return Index.open(path, **kw)
