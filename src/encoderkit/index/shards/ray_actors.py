"""Searching a sharded index with one Ray actor per shard (``encoderkit search/serve ... --ray``).

Each actor opens its shard read-only and holds its retrievers in memory; the process that answers
queries keeps only the shards' SQLite stores (to build hits) and the combined chunk ids. A query is
answered exactly as :class:`~encoderkit.index.shards.sharded.ShardedIndex` answers it in one process: for BM25
every actor returns its share of the collection statistics, the sums go back to every actor, each
scores its own chunks, and the rankings merge by score (:class:`~encoderkit.retrieval.segmented.
SegmentedRetriever`, asking every actor before awaiting any). An actor pins the generation it last
described, so a shard committing mid-query never mixes two generations into one ranking.

Actors are named after the index folder, so several server replicas share them (``get_if_exists``).

>>> actor_name("/data/ix", 2) == actor_name("/data/ix/", 2), actor_name("/data/ix", 0).startswith("encoderkit-shard-")
(True, True)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

NAMESPACE = "encoderkit"  # shard actors live here, so server replicas (in Ray Serve's namespace) find them
START_TIMEOUT_ENV = "ENCODERKIT_RAY_START_TIMEOUT"  # seconds the shard actors get to open their shards
DEFAULT_START_TIMEOUT_S = 600.0


def actor_name(index_dir: str | Path, shard: int) -> str:
    """The Ray actor name of shard ``shard`` of the index at ``index_dir`` (same folder, same actor)."""
    digest = hashlib.sha1(os.path.abspath(os.fspath(index_dir)).rstrip("/").encode()).hexdigest()[:12]
    return f"encoderkit-shard-{digest}-{shard}"


class ShardServer:
    """The body of one shard's actor: the shard opened read-only, answering for its pinned snapshot."""

    def __init__(self, path: str, backend: str = "auto", threads: int = 1):
        from ...runtime.threads import configure_torch
        from ..index import Index

        os.environ["ENCODERKIT_THREADS"] = str(max(1, int(threads)))
        configure_torch()
        self.index = Index.open(path, readonly=True, backend=backend)
        self.pinned = None

    def describe(self) -> dict | None:
        """Pin the shard's live generation and say what it holds (chunk ids, their documents, sizes)."""
        snap = self.index.snapshot()
        self.pinned = snap
        if snap is None:
            return None
        return {
            "gen": int(snap.gen),
            "chunk_ids": snap.chunk_ids,
            "chunk_docs": snap.chunk_docs,
            "n_docs": int(snap.n_docs),
            "live": int(snap.live if snap.live is not None else len(snap.chunk_ids)),
        }

    def _retriever(self, name: str):
        if self.pinned is None:
            self.describe()
        return self.pinned.retrievers[name]

    def encode_queries(self, name: str, queries: Sequence[str]) -> Any:
        return self._retriever(name).encode_queries(list(queries))

    def statistics(self, name: str, encoded: Any) -> dict:
        return self._retriever(name).statistics(encoded)

    def search(self, name: str, queries: Sequence[str], k: int, encoded: Any, stats: dict | None) -> list:
        r = self._retriever(name)
        kwargs = {"stats": stats} if getattr(r, "collection_statistics", False) else {}
        return [(np.asarray(i, np.int64), np.asarray(s, np.float32)) for i, s in r.search(list(queries), k, encoded, **kwargs)]

    def ping(self) -> int:
        return os.getpid()


class Pending:
    """A remote answer not awaited yet (see :func:`encoderkit.retrieval.segmented.resolve`)."""

    def __init__(self, ref, offset: int = 0):
        self.ref, self.offset = ref, int(offset)

    def result(self):
        import ray

        value = ray.get(self.ref)
        if not self.offset:
            return value
        return [(ids + self.offset, sc) for ids, sc in value]


class RemoteShardView:
    """One shard's retriever ``name`` answering from its actor, in combined ids (like ShardView)."""

    skips_deleted = True  # the shard drops its own deleted chunks

    def __init__(self, actor, name: str, offset: int, collection_statistics: bool):
        self.actor, self.name, self.offset = actor, name, int(offset)
        self.collection_statistics = collection_statistics
        self.settings: dict = {}

    def encode_queries(self, queries: Sequence[str]) -> Any:
        import ray

        return ray.get(self.actor.encode_queries.remote(self.name, list(queries)))

    def statistics(self, encoded: Any, live: np.ndarray | None = None) -> Pending:
        return Pending(self.actor.statistics.remote(self.name, encoded))

    def search(self, queries: Sequence[str], k: int, encoded: Any = None, live=None, stats: dict | None = None) -> Pending:
        return Pending(self.actor.search.remote(self.name, list(queries), int(k), encoded, stats), self.offset)

    def rerank_scores(self, query: str, chunk_ids: Sequence[int], reranker) -> None:
        return None  # stored late-interaction vectors stay in the actor: the caller encodes the texts


class RayShards:
    """The actors of one sharded index (started, or found by name when another process started them)."""

    def __init__(
        self,
        index_dir: Path,
        n_shards: int,
        *,
        address: str | None = "local",
        backend: str = "auto",
        threads: int = 1,
        previous: RayShards | None = None,
    ):
        from ...runtime.ray_cluster import connect, require_ray

        ray = require_ray()
        timeout = _start_timeout()  # read before any actor starts: a bad value leaves nothing behind
        self.info = connect(address)
        remote_cls = ray.remote(num_cpus=0)(ShardServer)
        self.actors, self.owned = [], []
        kept = list(previous.actors) if previous is not None else []  # a shard was added: keep the running ones
        started = []  # the actors this call creates (stopped again if they do not come up)
        for i, name in enumerate(_shard_names(index_dir, n_shards)):
            if i < len(kept):
                self.actors.append(kept[i])
                if any(kept[i] is a for a in previous.owned):
                    self.owned.append(kept[i])
                continue
            try:  # started by another process (a server's replicas share them): use, never stop
                self.actors.append(ray.get_actor(actor_name(index_dir, i), namespace=NAMESPACE))
                continue
            except ValueError:
                pass
            actor = remote_cls.options(
                name=actor_name(index_dir, i),
                namespace=NAMESPACE,
                get_if_exists=True,
                max_restarts=3,
                max_task_retries=3,
            ).remote(str(Path(index_dir) / name), backend, threads)
            self.actors.append(actor)
            self.owned.append(actor)
            started.append(actor)
        self._await_start(ray, index_dir, started, timeout)

    def _await_start(self, ray, index_dir: Path, started: list, timeout: float) -> None:
        """Every actor answers a ping within ``ENCODERKIT_RAY_START_TIMEOUT`` seconds, or the ones this call
        started are stopped and the caller gets one line (a full cluster must not hang a search)."""
        from ...errors import EncoderkitError

        try:
            ray.get([a.ping.remote() for a in self.actors], timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            _kill(ray, started)
            raise EncoderkitError(
                f"the shard actors of {index_dir} did not start within {timeout:g} s",
                hint=f"check the cluster has live nodes and free workers (`ray status`), or raise {START_TIMEOUT_ENV}",
            ) from None
        except ray.exceptions.RayActorError as exc:
            _kill(ray, started)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EncoderkitError(
                f"a shard actor of {index_dir} failed to start: {first}",
                hint="every node must see the index folder at the same path (a shared file system)",
            ) from None

    def describe(self) -> list[dict | None]:
        import ray

        return ray.get([a.describe.remote() for a in self.actors])

    def views(self, i: int, names: Sequence[str], offset: int, statistics: dict[str, bool]) -> dict[str, RemoteShardView]:
        return {n: RemoteShardView(self.actors[i], n, offset, statistics[n]) for n in names}

    def close(self) -> None:
        """Stop the actors this process started (the index's files are untouched)."""
        import ray

        _kill(ray, self.owned)
        self.actors, self.owned = [], []


def _start_timeout() -> float:
    from ...errors import EncoderkitError

    raw = os.environ.get(START_TIMEOUT_ENV, str(DEFAULT_START_TIMEOUT_S))
    try:
        return float(raw)
    except ValueError:
        raise EncoderkitError(f"{START_TIMEOUT_ENV}={raw!r} is not a number of seconds", hint="e.g. 600") from None


def _kill(ray, actors) -> None:
    for a in actors:
        try:
            ray.kill(a)
        except Exception:  # already gone
            pass


def _shard_names(index_dir: Path, n_shards: int) -> list[str]:
    from .routing import read_shards

    return read_shards(Path(index_dir))["shards"][:n_shards]


def stop_actors(index_dir: str | Path, n_shards: int) -> None:
    """Kill the shard actors of the index at ``index_dir`` wherever they were started from."""
    import ray

    for i in range(n_shards):
        try:
            ray.kill(ray.get_actor(actor_name(index_dir, i), namespace=NAMESPACE))
        except ValueError:  # not running
            pass


__all__ = ["NAMESPACE", "stop_actors", "Pending", "RayShards", "RemoteShardView", "ShardServer", "actor_name"]
