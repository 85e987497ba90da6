"""Concurrent readers of one index: a SQLite connection per thread, and reads pinned to one generation.

A server answers many requests at once from a thread pool. :class:`ThreadLocalStore` stands in for the
index's :class:`~encoderkit.index.storage.store.Store` on the read side and gives each thread its own read-only
connection (SQLite connections must not be shared by concurrent readers). :func:`pinned_read` runs a
read inside one SQLite read transaction opened while the index's manifest names the generation whose
artifacts the read uses; in WAL mode that transaction sees the database as it was then, so rows a
later commit purges are still there for it, and rows of its generation (written before that
generation's manifest) always are. With the searcher's rule (every result from the generation its
ranking came from), a reader never sees half of a commit, whatever the writer does meanwhile.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from ...errors import EncoderkitError
from .store import Store


class ThreadLocalStore:
    """A :class:`Store`-compatible object whose connection belongs to the calling thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.readonly = True
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.Lock()

    def _store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.path, readonly=True)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def __getattr__(self, name):  # every read method of Store, on this thread's connection
        return getattr(self._store(), name)

    def visible_documents(self, gen: int, wanted=None):
        """Read for building a generation's snapshot (cached and shared by every thread): it must see the
        latest commit, so inside a pinned read transaction it goes through a second connection."""
        store = self._store()
        if wanted is not None:  # a few documents, read inside the caller's transaction
            return store.visible_documents(gen, wanted)
        if not store.conn.in_transaction:
            return store.visible_documents(gen)
        fresh = getattr(self._local, "fresh", None)
        if fresh is None:
            fresh = self._local.fresh = Store(self.path, readonly=True)
            with self._lock:
                self._stores.append(fresh)
        return fresh.visible_documents(gen)

    @property
    def conn(self):
        return self._store().conn

    @contextmanager
    def read_transaction(self):
        """One read transaction on this thread's connection; the snapshot is taken on entry."""
        conn = self._store().conn
        if conn.in_transaction:  # nested: the outer transaction already pins the snapshot
            yield
            return
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchone()
            yield
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for s in self._stores:
                try:
                    s.close()
                except Exception:  # another thread's connection: closing may race its last use
                    pass
            self._stores.clear()


class _Moved(Exception):
    pass


def pinned_read(index, fn, *, attempts: int = 8):
    """``fn(snapshot)`` with every store read inside one read transaction that matches ``snapshot``'s
    generation; retried when a commit lands while the transaction opens. ``index.store`` must be a
    :class:`ThreadLocalStore`. ``fn`` may call :func:`check_same` to assert a ranking's snapshot."""
    for _ in range(attempts):
        snap = index.snapshot()
        with index.store.read_transaction():
            if index.snapshot() is not snap:
                continue
            try:
                return fn(snap)
            except _Moved:
                continue
    raise EncoderkitError("the index is being updated too quickly to read one generation", hint="retry the request")


def check_same(ranking_snapshot, snap) -> None:
    """Raise (and so retry :func:`pinned_read`) when a ranking was computed on another generation."""
    if ranking_snapshot is not snap:
        raise _Moved
