"""Progress of long model work, reported per batch to whoever is listening (e.g. the indexing bar).

Model code calls :func:`batch_done` after every batch; a caller that shows progress wraps its work in
:func:`on_batch`. Nothing is reported when nobody listens. A context variable keeps concurrent work
(threads of a server) apart.

>>> seen = []
>>> with on_batch(seen.append):
...     batch_done(32); batch_done(8)
>>> batch_done(5); seen
[32, 8]
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_LISTENER: ContextVar[Callable[[int], None] | None] = ContextVar("encoderkit_batch_listener", default=None)


@contextmanager
def on_batch(callback: Callable[[int], None]) -> Iterator[None]:
    """Call ``callback(n)`` for every batch of ``n`` items finished inside the block."""
    token = _LISTENER.set(callback)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def batch_done(n: int) -> None:
    """Report a finished batch of ``n`` items (no-op without a listener)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(n)
