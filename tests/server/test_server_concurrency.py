"""Concurrency: the micro-batcher hands every caller its own results, concurrent HTTP requests share
forward passes, reads take no lock, and no reader ever sees half of a committed write."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import numpy as np
import pytest

from encoderkit import Index
from encoderkit.server.app import create_app
from encoderkit.server.batcher import DirectRunner, MicroBatcher, Overloaded
from encoderkit.server.config import BatchSettings, ServerConfig
from support.servers import thread_server

KEY = "concurrency-key-0123456789"


def test_batcher_returns_each_caller_its_own_results_in_order():
    batches = []

    def run(items, key):
        batches.append((key, list(items)))
        time.sleep(0.005)  # a forward pass takes time: callers pile up meanwhile
        return [(key, x * 2) for x in items]

    b = MicroBatcher(run, max_wait_ms=5, max_batch_tokens=10_000, max_batch_items=64)
    try:

        def caller(i):
            items = list(range(i * 100, i * 100 + 1 + i % 4))
            key = "mean" if i % 3 else "cls"
            return i, key, items, b.submit(items, key=key, cost=len(items)).result(timeout=10)

        with ThreadPoolExecutor(48) as pool:
            results = list(pool.map(caller, range(48)))
    finally:
        b.close()
    for _i, key, items, got in results:
        assert got == [(key, x * 2) for x in items]  # its own items, its own order, its own key
    assert len(batches) < 48 and max(len(items) for _, items in batches) > 4  # requests were merged
    assert all(len({type(x) for x in items}) == 1 for _, items in batches)


def test_batcher_budget_and_failure_isolation():
    seen = []

    def run(items, key):
        seen.append(len(items))
        if "bad" in items:
            raise ValueError("bad item")
        return [x.upper() for x in items]

    b = MicroBatcher(run, max_wait_ms=50, max_batch_tokens=4, max_batch_items=100)
    try:
        futs = [b.submit([f"t{i}"], cost=1) for i in range(6)] + [b.submit(["bad"], cost=1)] + [b.submit(["ok"], cost=1)]
        assert [f.result(5) for f in futs[:6]] == [[f"T{i}"] for i in range(6)]
        with pytest.raises(ValueError, match="bad item"):
            futs[6].result(5)
        assert futs[7].result(5) == ["OK"]
    finally:
        b.close()
    assert max(seen) <= 4  # the token budget bounds every forward pass
    full = MicroBatcher(lambda items, key: time.sleep(0.2) or items, max_queue=1)
    try:
        full.submit([1])
        time.sleep(0.05)
        full.submit([2])
        with pytest.raises(Overloaded):
            full.submit([3])
    finally:
        full.close()
    direct = DirectRunner(lambda items, key: [x + 1 for x in items], workers=2)
    assert direct.submit([1, 2]).result(5) == [2, 3]
    direct.close()


@pytest.fixture
def index_dir(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add(
        [{"id": f"g{i}", "title": f"G{i}", "text": f"shared words version v0 item {i}"} for i in range(4)]
        + [{"id": "other", "text": "something unrelated about owls"}],
        export_onnx=False,
    )
    index.close()
    return tmp_path / "ix"


def test_concurrent_embeddings_share_forward_passes(index_dir, tiny_encoder):
    app = create_app(index_dir, ServerConfig(batching=BatchSettings(max_wait_ms=20)))
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(40)]
    want = tiny_encoder.encode(texts)
    with thread_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:

        def one(i):
            r = client.post("/v1/embeddings", json={"input": texts[i]})
            return i, r.json()["data"][0]["embedding"]

        with ThreadPoolExecutor(20) as pool:
            got = dict(pool.map(one, range(40)))
        metrics = client.get("/metrics").text
    for i in range(40):
        np.testing.assert_allclose(got[i], want[i], atol=1e-5)
    count = float(next(x for x in metrics.splitlines() if x.startswith("encoderkit_batch_requests_count")).split()[-1])
    assert count < 40  # 40 requests, fewer forward passes


def test_reads_take_no_lock_while_a_write_holds_one(index_dir):
    app = create_app(index_dir, ServerConfig(api_keys=(KEY,), allow_writes=True))
    state = app.state.ek
    with thread_server(app) as base, httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {KEY}"}) as c:
        with state.write_lock:  # a write in progress
            r = c.post("/v1/search", json={"query": "shared", "mode": "bm25"})
            assert r.status_code == 200 and len(r.json()["hits"]) == 4


def test_no_reader_sees_half_a_commit(index_dir):
    """Each write replaces the four g* documents with a new version; readers must always see exactly four,
    all of one version, and generations never going back."""
    app = create_app(index_dir, ServerConfig(api_keys=(KEY,), allow_writes=True))
    auth = {"Authorization": f"Bearer {KEY}"}
    problems, seen_versions, n_reads = [], set(), [0]
    stop = threading.Event()
    with thread_server(app) as base:

        def reader():
            last_gen = 0
            with httpx.Client(base_url=base, timeout=30, headers=auth) as c:
                while not stop.is_set():
                    r = c.post(
                        "/v1/search", json={"query": "shared words", "mode": "bm25", "k": 10, "fields": ["doc_id", "text"]}
                    )
                    body = r.json()
                    if r.status_code != 200:
                        problems.append(body)
                        continue
                    hits = [h for h in body["hits"] if h["doc_id"].startswith("g")]
                    versions = {h["text"].split("version ")[1].split()[0] for h in hits}
                    if len(hits) != 4 or len(versions) != 1:
                        problems.append((body["generation"], [h["text"] for h in hits]))
                    if body["generation"] < last_gen:
                        problems.append(("generation went back", last_gen, body["generation"]))
                    last_gen = body["generation"]
                    seen_versions.update(versions)
                    n_reads[0] += 1

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for t in readers:
            t.start()
        with httpx.Client(base_url=base, timeout=60, headers=auth) as w:
            for v in range(1, 9):
                docs = [{"id": f"g{i}", "title": f"G{i}", "text": f"shared words version v{v} item {i}"} for i in range(4)]
                r = w.post("/v1/documents", json={"documents": docs})
                assert r.status_code == 200 and r.json()["committed"], r.text
                time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for t in readers:
            t.join(30)
    assert not problems, problems[:3]
    assert n_reads[0] > 20 and len(seen_versions) >= 3  # readers really ran across several commits


def test_busy_server_answers_429(index_dir):
    from encoderkit.server.config import Limits

    app = create_app(index_dir, ServerConfig(limits=Limits(max_in_flight=1)))
    state = app.state.ek
    real = state.index.rank_many
    state.index.rank_many = lambda *a, **kw: time.sleep(1.0) or real(*a, **kw)
    with thread_server(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        slow = threading.Thread(target=lambda: c.post("/v1/search", json={"query": "shared"}))
        slow.start()
        time.sleep(0.3)
        r = c.post("/v1/search", json={"query": "shared"})
        slow.join()
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "too_many_requests"
        assert c.post("/v1/search", json={"query": "shared"}).status_code == 200  # and serving again
    full = create_app(index_dir, ServerConfig(batching=BatchSettings(max_queue=0)))
    with thread_server(full) as base, httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/v1/embeddings", json={"input": "x"})
        assert r.status_code == 429 and "waiting for the model" in r.json()["error"]["message"]


def test_batcher_survives_cancelled_callers_in_every_state_and_serves_the_next_100():
    """A caller that gave up (its future cancelled at a request timeout) while queued, carried into the next
    batch, running or done must not end the worker: the next 100 requests all succeed."""
    gate = threading.Event()
    started = threading.Event()

    def run(items, key):
        if "block" in items:
            started.set()
            assert gate.wait(10)
        return [f"{x}!" for x in items]

    b = MicroBatcher(run, max_wait_ms=1, max_batch_tokens=3, max_batch_items=3)
    try:
        running = b.submit(["block"], cost=1)
        assert started.wait(5)
        queued = b.submit(["q1"], cost=1)  # waits in the queue while "block" runs
        carried = b.submit(["c1", "c2", "c3"], cost=3)  # over the budget with q1: carried into a batch of its own
        done = b.submit(["d"], cost=1)
        assert queued.cancel() and carried.cancel()  # not picked up yet: cancellable
        assert not running.cancel()  # running: cannot be cancelled any more
        gate.set()
        assert running.result(5) == ["block!"]
        assert done.result(5) == ["d!"]
        assert not done.cancel()  # done: cancelling is a no-op
        futures = [b.submit([f"n{i}"], cost=1) for i in range(100)]
        assert [f.result(5) for f in futures] == [[f"n{i}!"] for i in range(100)]
        assert b.alive and b.restarts == 0
    finally:
        gate.set()
        b.close()


def test_batcher_worker_survives_a_failing_batch_callback_and_restarts_if_its_thread_died():
    calls = []

    def on_batch(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("metrics broke")

    b = MicroBatcher(lambda items, key: [x + 1 for x in items], max_wait_ms=1, on_batch=on_batch)
    try:
        assert b.submit([1]).result(5) == [2]  # answered before the callback failed
        assert b.submit([2]).result(5) == [3]  # the worker lived through it
        assert len(calls) == 2
        # a worker thread that died anyway (here: told to stop) is restarted by the next submit
        b._q.put(None)
        b._thread.join(5)
        assert not b.alive
        assert b.submit([5]).result(5) == [6]
        assert b.alive and b.restarts == 1
    finally:
        b.close()


def test_server_keeps_encoding_after_timed_out_embedding_requests(index_dir):
    """The reported hang: three /v1/embeddings calls time out (408), and afterwards every request that needs
    the encoder still succeeds; /health says unhealthy only while the worker is really dead."""
    config = ServerConfig(batching=BatchSettings(max_wait_ms=1))
    config = replace(config, limits=config.limits.with_overrides(request_timeout_s=1.0))
    app = create_app(index_dir, config)
    state = app.state.ek
    real_run = state.batcher._run
    slow = {"on": True}

    def run(items, key):
        if slow["on"]:
            time.sleep(1.5)  # longer than the request timeout: the handler answers 408 and cancels
        return real_run(items, key)

    state.batcher._run = run
    with thread_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        with ThreadPoolExecutor(3) as pool:
            codes = list(
                pool.map(lambda i: client.post("/v1/embeddings", json={"input": [f"text {i}"] * 8}).status_code, range(3))
            )
        assert set(codes) == {408}
        slow["on"] = False
        time.sleep(1.6)  # the batches of the timed-out calls finish on the worker
        for i in range(100):
            r = client.post("/v1/embeddings", json={"input": f"later text {i}"})
            assert r.status_code == 200, r.text
        for _ in range(20):  # searches encode their query through the same worker
            r = client.post("/v1/search", json={"query": "owls", "mode": "dense", "k": 1})
            assert r.status_code == 200 and r.json()["hits"][0]["doc_id"] == "other", r.text
        assert client.get("/health").json()["status"] == "ok"
        state.batcher._q.put(None)  # the worker ends: /health must say so
        state.batcher._thread.join(5)
        h = client.get("/health")
        assert h.status_code == 503 and h.json()["status"] == "unhealthy"
