"""Scale-out on Ray, on a real local cluster (a head node and a worker node process, started and stopped
here): a distributed build equals the local build (documents, chunks, vectors), a worker killed
mid-build is retried and loses nothing, sharded search through one actor per shard equals one index,
adding a shard keeps it so, the CLI and the server take --ray, and a missing Ray is one line."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from conftest import run_cli
from encoderkit import Index
from encoderkit.errors import EncoderkitError
from encoderkit.index.shards.sharded import ShardedIndex
from support.corpus import QUERIES, make_docs
from support.shard_checks import assert_same, results

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install "encoderkit[ray]"')
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    """A head node and one worker node (each its own raylet process, 1 CPU), on this machine."""
    from ray.cluster_utils import Cluster

    from encoderkit.runtime.ray_cluster import disconnect

    disconnect()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield c.address
    disconnect()
    c.shutdown()


def stored(index: Index) -> dict:
    """doc id -> (its chunks' texts, its dense vectors), read from the store at the live generation."""
    store, gen = index.store, index.generation
    docs = store.visible_documents(gen)
    out = {}
    for doc_id, row in docs.items():
        chunks = store.conn.execute("SELECT id, text FROM chunks WHERE doc = ? ORDER BY ord", (row["id"],)).fetchall()
        payloads = store.payloads_of("dense", [c["id"] for c in chunks])
        vectors = np.stack([np.frombuffer(payloads[c["id"]][1], dtype=np.float32) for c in chunks])
        out[doc_id] = ([c["text"] for c in chunks], vectors)
    return out


def assert_same_build(a: Index, b: Index) -> None:
    sa, sb = stored(a), stored(b)
    assert sa.keys() == sb.keys()
    for doc_id in sa:
        assert sa[doc_id][0] == sb[doc_id][0], doc_id
        np.testing.assert_allclose(sa[doc_id][1], sb[doc_id][1], atol=1e-5)


def local_build(tmp_path, encoder, docs, name="local") -> Index:
    idx = Index.create(tmp_path / name, encoder=encoder, chunk_size=24, chunk_overlap=4)
    idx.add(docs, export_onnx=False, show_progress=False)
    return idx


def test_distributed_build_equals_the_local_build(cluster, tmp_path, tiny_encoder):
    from encoderkit.index.shards.ray_build import RayEncoding

    docs = make_docs(40, 3)
    local = local_build(tmp_path, tiny_encoder, docs)
    remote = RayEncoding(cluster, workers=2, batch_docs=4)
    dist = Index.create(tmp_path / "ray", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    report = dist.add(docs, export_onnx=False, show_progress=False, encode_with=remote)
    assert report.added == 40 and report.chunks_encoded == sum(len(v[0]) for v in stored(local).values())
    assert remote.last["workers"] == 2 and remote.last["duplicates_dropped"] == 0
    assert_same_build(local, dist)
    assert_same(results(local), results(dist))
    # an update through Ray touches only what changed
    changed = [dict(d, text=d["text"] + " volcano glacier") for d in docs[:3]]
    report = dist.add(changed, export_onnx=False, show_progress=False, encode_with=remote)
    local.add(changed, export_onnx=False, show_progress=False)
    assert report.updated == 3 and report.unchanged == 0
    assert_same_build(local, dist)


def test_files_are_read_on_the_cluster_like_locally(cluster, tmp_path, tiny_encoder):
    from encoderkit.index.shards.ray_build import RayEncoding

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    for i, d in enumerate(make_docs(12, 4)):
        (folder / ("sub" if i % 3 == 0 else ".") / f"{d['id']}.md").write_text(f"# Title {i}\n\n{d['text']}\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (folder / "empty.txt").write_text("")
    (folder / "image.png").write_bytes(b"\x89PNG")
    local = Index.create(tmp_path / "local", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    a = local.sync([folder], export_onnx=False, show_progress=False)
    dist = Index.create(tmp_path / "ray", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    b = dist.sync([folder], export_onnx=False, show_progress=False, encode_with=RayEncoding(cluster, workers=2))
    assert a.added == b.added == 12
    assert sorted(map(str, a.skipped)) == sorted(map(str, b.skipped)) and len(a.skipped) == 3
    assert_same_build(local, dist)
    titles = lambda idx: sorted(r["title"] for r in idx.store.visible_documents(idx.generation).values())
    assert titles(local) == titles(dist)
    # unchanged files cost only a hash, on the cluster too
    again = dist.sync([folder], export_onnx=False, show_progress=False, encode_with=RayEncoding(cluster, workers=2))
    assert again.unchanged == 12 and again.chunks_encoded == 0


def test_a_worker_killed_mid_build_is_retried_and_loses_nothing(cluster, tmp_path, tiny_encoder, monkeypatch):
    from encoderkit.index.shards.ray_build import FAULT_ENV, RayEncoding

    marker = tmp_path / "killed"
    monkeypatch.setenv(FAULT_ENV, str(marker))
    docs = make_docs(30, 5)
    dist = Index.create(tmp_path / "ray", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    remote = RayEncoding(cluster, workers=2, batch_docs=3)
    report = dist.add(docs, export_onnx=False, show_progress=False, encode_with=remote)
    assert marker.is_file()  # a worker process really exited in the middle of its batch
    assert report.added == 30 and len(dist) == 30
    monkeypatch.delenv(FAULT_ENV)
    assert_same_build(local_build(tmp_path, tiny_encoder, docs), dist)


def test_index_on_ray_with_a_killed_worker_prints_only_its_json(cluster, tmp_path, tiny_model_dir):
    """A killed worker's "(raylet) ..." lines went to stdout (so `index --ray --json` was not JSON) and a
    core_worker.cc line printed despite -q: Ray's output now never reaches stdout, and with -q/--json it
    goes to a log file."""
    import os
    import subprocess
    import sys

    from encoderkit.index.shards.ray_build import FAULT_ENV

    folder = tmp_path / "docs"
    for d in make_docs(30, 3):
        (folder / f"{d['id']}.txt").parent.mkdir(exist_ok=True)
        (folder / f"{d['id']}.txt").write_text(d["text"])
    env = {
        **os.environ,
        FAULT_ENV: str(tmp_path / "killed"),
        "ENCODERKIT_THREADS": "1",
        "ENCODERKIT_CACHE": str(tmp_path / "cache"),
    }
    args = ["index", str(folder), "--index", str(tmp_path / "ix"), "--model", str(tiny_model_dir), "--no-onnx"]
    r = subprocess.run(
        [sys.executable, "-m", "encoderkit", *args, "--ray", cluster, "--workers", "2", "--json", "-q"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "killed").is_file()  # a worker really died mid-build
    assert json.loads(r.stdout)["added"] == 30  # stdout is the JSON and nothing else
    assert "core_worker" not in r.stderr and "(raylet)" not in r.stderr


def test_sharded_search_through_actors_equals_one_index_and_after_adding_a_shard(cluster, tmp_path, tiny_encoder):
    docs = make_docs(50, 7)
    six = ShardedIndex.create(tmp_path / "sharded", 3, encoder=tiny_encoder)
    six.add(docs, export_onnx=False, show_progress=False)
    one = Index.create(tmp_path / "one", encoder=tiny_encoder)
    one.add(docs, export_onnx=False, show_progress=False)
    six.use_ray(cluster)
    assert len(six.remote.actors) == 3
    assert_same(results(one), results(six))
    # a new shard, new documents routed to it and the others; a delete: still one index's answers
    six.add_shard()
    more = make_docs(20, 8, prefix="n")
    six.add(more, export_onnx=False, show_progress=False)
    six.remove(["d003", "d017"])
    six.use_ray(cluster)  # the new shard gets its actor
    assert len(six.remote.actors) == 4 and len(six.shards[3]) > 0
    live = [d for d in docs if d["id"] not in ("d003", "d017")] + more
    rebuilt = Index.create(tmp_path / "rebuilt", encoder=tiny_encoder)
    rebuilt.add(live, export_onnx=False, show_progress=False)
    assert_same(results(rebuilt), results(six))
    remote = six.remote
    six.close()
    assert remote.actors == [] and remote.owned == []


def test_shard_actors_that_do_not_start_in_time_are_one_line_and_stopped(cluster, tmp_path, tiny_encoder, monkeypatch):
    from encoderkit.errors import EncoderkitError
    from encoderkit.index.shards.ray_actors import START_TIMEOUT_ENV, actor_name

    sharded = ShardedIndex.create(tmp_path / "sharded", 2, encoder=tiny_encoder)
    sharded.add(make_docs(6, 3), export_onnx=False, show_progress=False)
    monkeypatch.setenv(START_TIMEOUT_ENV, "0.001")  # no actor process starts that fast
    with pytest.raises(EncoderkitError, match="did not start within 0.001 s") as err:
        sharded.use_ray(cluster)
    assert START_TIMEOUT_ENV in err.value.hint
    assert sharded.remote is None  # still searched in this process
    monkeypatch.setenv(START_TIMEOUT_ENV, "ten minutes")
    with pytest.raises(EncoderkitError, match="not a number of seconds"):
        sharded.use_ray(cluster)
    for i in range(2):  # stopped, not left behind (a killed actor's name is released shortly after)
        for _ in range(100):
            try:
                ray.get_actor(actor_name(tmp_path / "sharded", i), namespace="encoderkit")
            except ValueError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"shard actor {i} still alive")
    sharded.close()


def test_cli_builds_and_searches_shards_on_ray(cluster, tmp_path, tiny_model_dir, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    for d in make_docs(24, 9):
        (folder / f"{d['id']}.txt").write_text(d["text"])
    # precision pinned in both builds: the default chooses by measured speed, and the two must agree
    code, out, err = run_cli(
        capsys, "index", str(folder), "--index", str(tmp_path / "ix"), "--model", str(tiny_model_dir),
        "--shards", "2", "--ray", cluster, "--workers", "2", "--no-onnx", "--json", "--encode-precision", "fp32",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["added"] == 24
    code, out, err = run_cli(
        capsys, "index", str(folder), "--index", str(tmp_path / "plain"), "--model", str(tiny_model_dir), "--no-onnx", "-q",
        "--encode-precision", "fp32",
    )  # fmt: skip
    assert code == 0, err
    for mode in ("bm25", "dense", "hybrid"):
        args = ("search", QUERIES[0], "--mode", mode, "-k", "5", "--json")
        code, with_ray, err = run_cli(capsys, *args, "--index", str(tmp_path / "ix"), "--ray", cluster)
        assert code == 0, err
        code, plain, err = run_cli(capsys, *args, "--index", str(tmp_path / "plain"))
        assert code == 0, err
        ids = lambda text: [h["doc_id"] for h in json.loads(text)["hits"]]
        assert ids(with_ray) == ids(plain) and len(ids(plain)) == 5, mode


def test_server_serves_shards_through_actors(cluster, tmp_path, tiny_encoder):
    from fastapi.testclient import TestClient

    from encoderkit.server import create_app

    docs = make_docs(30, 11)
    six = ShardedIndex.create(tmp_path / "sharded", 2, encoder=tiny_encoder)
    six.add(docs, export_onnx=False, show_progress=False)
    six.close()
    one = Index.create(tmp_path / "one", encoder=tiny_encoder)
    one.add(docs, export_onnx=False, show_progress=False)
    with TestClient(create_app(tmp_path / "sharded", ray=cluster), base_url="http://localhost") as client:
        for mode in ("bm25", "dense", "hybrid"):
            got = client.post("/v1/search", json={"query": QUERIES[1], "mode": mode, "k": 5}).json()
            assert "hits" in got, got
            want = [h.doc_id for h in one.search(QUERIES[1], mode=mode, k=5)]
            assert [h["doc_id"] for h in got["hits"]] == want, mode
        assert client.get("/health").json()["documents"] == 30
        assert client.get(f"/v1/documents/{docs[0]['id']}").json()["doc_id"] == docs[0]["id"]


def test_serve_replicas_answer_over_http(cluster, tmp_path, tiny_encoder):
    import socket
    import urllib.request

    from encoderkit.server import ray_serve
    from encoderkit.server.config import ServerConfig

    six = ShardedIndex.create(tmp_path / "sharded", 2, encoder=tiny_encoder)
    six.add(make_docs(20, 12), export_onnx=False, show_progress=False)
    six.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = ray_serve.start(tmp_path / "sharded", ServerConfig(ray=cluster, access_log=False), port=port, replicas=2)
    try:
        req = urllib.request.Request(
            f"{url}/v1/search",
            data=json.dumps({"query": QUERIES[0], "mode": "bm25", "k": 3}).encode(),
            headers={"content-type": "application/json"},
        )
        for _ in range(4):  # bounded: a few requests, spread over the replicas by the proxy
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert len(json.loads(resp.read())["hits"]) == 3
    finally:
        ray_serve.stop(tmp_path / "sharded")


def test_gpus_per_worker_on_a_cluster_without_gpus_is_refused_at_once(cluster, tmp_path, capsys):
    """Ray would wait for ever for a GPU the cluster does not have: refused before any work (issue 32)."""
    from encoderkit.index.shards.ray_build import RayEncoding

    with pytest.raises(EncoderkitError, match="has 0 GPU"):
        RayEncoding(cluster, gpus_per_worker=1).connect()
    code, out, err = run_cli(capsys, "index", str(tmp_path), "--index", str(tmp_path / "ix"), "--gpus-per-worker", "1")
    assert code == 2 and "--gpus-per-worker needs --ray" in err
