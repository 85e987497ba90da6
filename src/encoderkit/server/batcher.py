"""Micro-batching: requests that arrive together share one model forward pass.

On two cores a transformer forward pass over one short sentence costs nearly as much as over thirty:
the fixed cost per call (thread hand-offs, kernel launches, Python) dominates. A :class:`MicroBatcher`
owns one worker thread; callers :meth:`~MicroBatcher.submit` their items and get a future. The worker
takes the first waiting job, adds every job already queued and, when requests have lately been arriving
together, waits at most ``max_wait_ms`` for more (a lone client never waits), up to a budget of
(padded) tokens and items; it then runs one call for
each group of jobs with the same key (e.g. the same pooling) and hands every caller exactly its own
results, in its own order. While a batch runs, new jobs queue and form the next one, so under load the
batch size follows the arrival rate, and at low load the added latency is at most ``max_wait_ms``.
A job that fails takes only itself down: the group is rerun job by job to find it. A caller that gave up
(its future cancelled, e.g. at a request timeout) is skipped, and no exception ends the worker: anything
that escapes a batch fails only that batch's callers, and a worker thread that died anyway is restarted by
the next :meth:`~MicroBatcher.submit` (:attr:`~MicroBatcher.alive` tells ``/health``).

This is the dynamic batching of inference servers (e.g. NVIDIA Triton's dynamic batcher, Hugging Face
TEI's token-budget batching), written here because it must sit inside this process, in front of the
index's own encoder.

>>> b = MicroBatcher(lambda items, key: [x * 10 for x in items], max_wait_ms=1)
>>> b.submit([1, 2, 3]).result(), b.submit([4]).result()
([10, 20, 30], [40])
>>> b.close()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

log = logging.getLogger("encoderkit.server")


class Overloaded(Exception):
    """The queue is full: the caller should answer 429 and let the client retry."""


@dataclass
class _Job:
    items: list
    key: Hashable
    cost: int
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """One worker thread batching ``run(items, key) -> results`` (one result per item, same order)."""

    def __init__(
        self,
        run: Callable[[list, Hashable], Sequence[Any]],
        *,
        max_wait_ms: float = 2.0,
        max_batch_tokens: int = 8192,
        max_batch_items: int = 256,
        max_queue: int = 4096,
        on_batch: Callable[[int, int, int, float], None] | None = None,
        name: str = "encoder",
    ):
        self._run = run
        self.max_wait = max_wait_ms / 1000
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_items = max_batch_items
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._q: queue.Queue = queue.Queue()
        self._carry: _Job | None = None
        self._closed = False
        self._last_jobs = 2  # jobs in the previous batch: 1 means a lone client, who should not wait
        self.name = name
        self.restarts = 0  # worker threads started again after one died
        self._start_lock = threading.Lock()
        self._thread = self._start_worker()

    def _start_worker(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name=f"encoderkit-batcher-{self.name}", daemon=True)
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        """False when the worker thread stopped without :meth:`close` (``/health`` then reports unhealthy
        until the next :meth:`submit` starts a new one)."""
        return self._closed or self._thread.is_alive()

    def _ensure_worker(self) -> None:
        if self._thread.is_alive() or self._closed:
            return
        with self._start_lock:
            if not self._thread.is_alive() and not self._closed:
                log.error("the %s batcher's worker thread had stopped; started a new one", self.name)
                self.restarts += 1
                self._thread = self._start_worker()

    @property
    def depth(self) -> int:
        """Jobs waiting for a forward pass."""
        return self._q.qsize() + (1 if self._carry is not None else 0)

    def submit(self, items: Sequence, key: Hashable = None, cost: int | None = None) -> Future:
        """Queue ``items``; the future resolves to their results (a list) or the exception ``run`` raised."""
        if self._closed:
            raise RuntimeError("batcher is closed")
        if self._q.qsize() >= self.max_queue:
            raise Overloaded(f"{self._q.qsize()} requests are waiting for the model")
        job = _Job(list(items), key, int(cost if cost is not None else len(items)))
        self._q.put(job)
        self._ensure_worker()
        return job.future

    def close(self, timeout: float = 5.0) -> None:
        self._closed = True
        self._q.put(None)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ worker
    def _next(self, timeout: float | None):
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        try:
            return self._q.get(timeout=timeout) if timeout is None or timeout > 0 else self._q.get_nowait()
        except queue.Empty:
            return False

    def _loop(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except BaseException:  # a bug in a batch must not end the worker: its callers already have their answer
                log.exception("the %s batcher's worker survived an error", self.name)

    def _step(self) -> bool:
        """Form and run one batch; False once :meth:`close` asked the worker to stop."""
        first = self._next(None)
        if first is None:
            return False
        batch, tokens, n = [first], first.cost, len(first.items)
        together = self._last_jobs > 1 or not self._q.empty()
        deadline = time.monotonic() + (self.max_wait if together else 0.0)
        stop = False
        while tokens < self.max_batch_tokens and n < self.max_batch_items:
            job = self._next(deadline - time.monotonic())
            if job is False:
                break
            if job is None:
                stop = True
                break
            if tokens + job.cost > self.max_batch_tokens or n + len(job.items) > self.max_batch_items:
                self._carry = job  # starts the next batch
                break
            batch.append(job)
            tokens += job.cost
            n += len(job.items)
        self._last_jobs = len(batch)
        self._execute(batch, tokens)
        return not stop

    def _execute(self, batch: list[_Job], tokens: int) -> None:
        # a future its caller cancelled (a request timeout) is dropped here; the others cannot be cancelled
        # any more, so setting their result below never meets a cancelled future
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        groups: dict[Hashable, list[_Job]] = {}
        for job in live:
            groups.setdefault(job.key, []).append(job)
        t = time.perf_counter()
        try:
            for key, jobs in groups.items():
                self._run_group(key, jobs)
            if self.on_batch is not None and live:
                self.on_batch(sum(len(j.items) for j in live), len(live), tokens, time.perf_counter() - t)
        except BaseException as exc:  # fail only this batch's callers that have no answer yet
            for job in live:
                _settle(job.future, exc=exc)
            raise

    def _run_group(self, key: Hashable, jobs: list[_Job]) -> None:
        items = [x for j in jobs for x in j.items]
        try:
            results = self._run(items, key)
            if len(results) != len(items):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(items)} items")
        except BaseException as exc:
            if len(jobs) == 1:
                _settle(jobs[0].future, exc=exc)
                return
            for j in jobs:  # find the job that failed; the others still get their results
                self._run_group(key, [j])
            return
        pos = 0
        for j in jobs:
            _settle(j.future, result=list(results[pos : pos + len(j.items)]))
            pos += len(j.items)


def _settle(future: Future, *, result: Any = None, exc: BaseException | None = None) -> None:
    """Give ``future`` its answer unless it already has one (a future is answered at most once)."""
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:  # answered meanwhile
        pass


class DirectRunner:
    """The same interface without batching: every job runs on its own, on a thread pool (what a server
    without micro-batching does; the load benchmark compares the two)."""

    def __init__(self, run: Callable[[list, Hashable], Sequence[Any]], *, workers: int = 32, max_queue: int = 4096, **_):
        self._run = run
        self.max_queue = max_queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encoderkit-direct")
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def depth(self) -> int:
        return self._pending

    @property
    def alive(self) -> bool:
        return not self._pool._shutdown

    def submit(self, items: Sequence, key: Hashable = None, cost: int | None = None) -> Future:
        with self._lock:
            if self._pending >= self.max_queue:
                raise Overloaded(f"{self._pending} requests are waiting for the model")
            self._pending += 1

        def job():
            try:
                return list(self._run(list(items), key))
            finally:
                with self._lock:
                    self._pending -= 1

        return self._pool.submit(job)

    def close(self, timeout: float = 5.0) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
