"""A time limit for one file's extraction, so a hostile or pathological file cannot stall a run.

On the main thread the limit is a ``SIGALRM`` timer whose handler raises inside the extractor (every
extractor here is Python code, which the signal interrupts between bytecodes). Elsewhere (a server
worker thread) signals are not available: the extractor runs in a daemon thread that is abandoned
when the time is up (it finishes in the background; the run goes on without that file).
Written by hand: no library offers a portable per-call deadline for arbitrary Python code.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class TimeLimitExceeded(Exception):
    pass


def run_with_time_limit(fn: Callable[[], T], seconds: float | None) -> T:
    """``fn()``, or :class:`TimeLimitExceeded` after ``seconds`` (None or <= 0: no limit).

    >>> run_with_time_limit(lambda: 42, 5)
    42
    """
    if not seconds or seconds <= 0:
        return fn()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _with_alarm(fn, seconds)
    return _with_thread(fn, seconds)


def _with_alarm(fn: Callable[[], T], seconds: float) -> T:
    def on_alarm(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, _ = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, seconds if not outer_delay else min(seconds, outer_delay))
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # somebody else's timer was running: give it back (approximately)
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - seconds, 0.001))


def _with_thread(fn: Callable[[], T], seconds: float) -> T:
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True, name="encoderkit-extract")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeLimitExceeded()
    if "error" in box:
        raise box["error"]
    return box["value"]
