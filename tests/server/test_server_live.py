"""`encoderkit serve` in a child process on 127.0.0.1, driven by real clients: OpenAI's and Cohere's
Python packages, raw sockets (malformed text, idle and slow connections), the access log."""

import http.client
import json
import resource
import socket
import time

import numpy as np
import pytest

from encoderkit import Index
from support.servers import cli_server, server_log, thread_server

KEY = "live-test-key-0123456789"
DOCS = [
    {"id": "cats", "title": "Cats", "text": "Cats purr when they are content. They sleep most of the day."},
    {"id": "dogs", "title": "Dogs", "text": "Dogs bark at strangers in the park. A dog needs a daily walk."},
    {"id": "owls", "title": "Owls", "text": "Owls hunt at night. Their feathers make their flight silent."},
]


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_encoder, tiny_cross_encoder_dir):
    """One server for the module, with an API key, a cross-encoder, a 1,024-descriptor limit (the
    limit a new user's shell often has) and a 2 s header timeout."""
    tmp = tmp_path_factory.mktemp("live")
    index = Index.create(tmp / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add(DOCS, export_onnx=False)
    index.close()
    keyfile = tmp / "keys.txt"
    keyfile.write_text(f"# test key\n{KEY}\n")
    with cli_server(
        "--index",
        str(tmp / "ix"),
        "--api-key-file",
        str(keyfile),
        "--rerank",
        str(tiny_cross_encoder_dir),
        "--header-timeout",
        "2",
        fd_limit=1024,
    ) as (base, proc):
        yield base, proc


def test_openai_client_round_trip(live, tiny_encoder):
    import openai

    base, _ = live
    client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=30)
    texts = ["a cat sleeps", "dogs bark at night"]
    res = client.embeddings.create(model="tiny-bert", input=texts)  # the client asks for base64 and decodes it
    got = np.array([d.embedding for d in res.data])
    np.testing.assert_allclose(got, tiny_encoder.encode(texts), atol=1e-5)
    assert res.model == "tiny-bert" and res.usage.total_tokens > 0 and [d.index for d in res.data] == [0, 1]
    floats = client.embeddings.create(model="tiny-bert", input="a cat sleeps", encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, got[0], atol=1e-5)
    assert [m.id for m in client.models.list()][0] == "tiny-bert"
    bad = openai.OpenAI(base_url=base + "/v1", api_key="not-the-key-at-all", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="invalid API key"):
        bad.embeddings.create(model="tiny-bert", input="x")
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.embeddings.create(model="text-embedding-3-small", input="x")


def test_cohere_client_rerank(live, tiny_cross_encoder_dir):
    import cohere

    from encoderkit.models.heads.cross_encoder import Reranker

    base, _ = live
    docs = ["Owls hunt at night.", "Dogs bark at strangers.", "Cats purr."]
    want = Reranker.load(tiny_cross_encoder_dir).score("dogs", docs)
    v2 = cohere.ClientV2(api_key=KEY, base_url=base, timeout=30)
    res = v2.rerank(model="tiny-ce", query="dogs", documents=docs, top_n=2)
    assert [r.index for r in res.results] == list(np.argsort(-want)[:2])
    np.testing.assert_allclose([r.relevance_score for r in res.results], np.sort(want)[::-1][:2], atol=1e-5)
    v1 = cohere.Client(api_key=KEY, base_url=base, timeout=30)
    res1 = v1.rerank(model="tiny-ce", query="dogs", documents=docs, return_documents=True)
    assert res1.results[0].document.text == docs[res1.results[0].index]


def _raw(base):
    host, port = base.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def test_malformed_text_keeps_the_connection(live):
    base, _ = live
    conn = _raw(base)
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for body in (b'{"query": "\\ud800"}', b'{"query": "\xff"}', b'{"input": ["ok", "\\udc00x"]}'):
        conn.request("POST", "/v1/search", body=body, headers=auth)
        r = conn.getresponse()
        err = json.loads(r.read())["error"]
        assert r.status == 400 and err["code"] == "invalid_text", err
    conn.request("POST", "/v1/search", body=json.dumps({"query": "dogs"}), headers=auth)  # same connection
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["hits"][0]["doc_id"] == "dogs"
    conn.close()
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as s:
        s.sendall(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert s.recv(200).startswith(b"HTTP/1.1 400")


def test_idle_sockets_do_not_starve_others(live):
    """1,100 connections that never send a byte, against a server limited to 1,024 descriptors."""
    base, proc = live
    port = int(base.rsplit(":", 1)[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"this test process may open only {hard} files")
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (max(soft, 1400) if hard == resource.RLIM_INFINITY else min(max(soft, 1400), hard), hard)
    )
    idle = []
    try:
        for _ in range(1100):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))  # never sends a byte
            idle.append(s)
        time.sleep(1.0)
        t = time.monotonic()
        conn = _raw(base)
        conn.request("GET", "/v1/info", headers={"Authorization": f"Bearer {KEY}"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["stats"]["documents"] == 3
        assert time.monotonic() - t < 5
        conn.close()
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    log = server_log(proc)
    assert "Too many open files" not in log and len(log) < 2_000_000


def test_slow_request_head_is_cut(live):
    base, _ = live
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")  # never finishes its head
        t = time.monotonic()
        assert s.recv(100) == b""  # closed by the server
        assert 1.0 < time.monotonic() - t < 6
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # says nothing at all
        t = time.monotonic()
        assert s.recv(100) == b"" and time.monotonic() - t < 6


def test_access_log_is_structured_without_bodies(live):
    base, proc = live
    conn = _raw(base)
    secret = "very-secret-query-text"
    conn.request("POST", "/v1/search?token=abc", body=json.dumps({"query": secret}), headers={"Authorization": f"Bearer {KEY}"})
    conn.getresponse().read()
    conn.close()
    time.sleep(0.3)
    log = server_log(proc)
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    req = [x for x in lines if x.get("event") == "request" and x.get("route") == "/v1/search"]
    assert req and {"request_id", "client", "method", "path", "status", "ms", "bytes"} <= set(req[-1])
    assert secret not in log and KEY not in log and "token=abc" not in log
    for line in log.splitlines():  # nothing but the start line and JSON records: no library chatter
        assert line.startswith(("{", "encoderkit: serving")), line


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_both_http_parsers_cut_slow_heads_and_refuse_bad_targets(parser, tmp_path, tiny_encoder):
    pytest.importorskip(parser)
    from encoderkit.server.app import create_app
    from encoderkit.server.config import Limits, ServerConfig

    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(DOCS[:1], export_onnx=False)
    index.close()
    app = create_app(tmp_path / "ix", ServerConfig(limits=Limits(header_timeout_s=1.0)))
    with thread_server(app, parser=parser) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(1000).startswith(b"HTTP/1.1 200")
            t = time.monotonic()
            s.sendall(b"GET /health HTTP/1.1\r\n")  # a second, unfinished head on the kept-alive connection
            assert s.recv(100) == b"" and 0.5 < time.monotonic() - t < 5
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = s.recv(1000)
            assert answer.startswith(b"HTTP/1.1 400") and b'"code":"bad_http_request"' in answer
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            answer = s.recv(1000)
            assert answer.startswith(b"HTTP/1.1 400") and b'"type":"invalid_request_error"' in answer
