"""The HTTP API: same engine as the CLI, validated input, writes only when enabled."""

import pytest
from fastapi.testclient import TestClient

from encoderkit import Index
from encoderkit.server.app import create_app

DOCS = [
    {"id": "cats", "title": "Cats", "text": "Cats purr when they are content."},
    {"id": "dogs", "title": "Dogs", "text": "Dogs bark at strangers in the park."},
]


@pytest.fixture
def index_dir(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(DOCS)
    index.close()
    return tmp_path / "ix"


def test_search_encode_info(index_dir):
    client = TestClient(create_app(index_dir))
    assert client.get("/health").json() == {"status": "ok", "generation": 1, "documents": 2}
    res = client.post("/search", json={"query": "why do dogs bark", "mode": "bm25", "k": 1}).json()
    assert res["hits"][0]["doc_id"] == "dogs" and "bark" in res["hits"][0]["snippet"]
    assert res["hits"][0]["stages"]["bm25"]["rank"] == 1
    enc = client.post("/encode", json={"texts": ["a", "b c"]}).json()
    assert enc["dim"] == 32 and len(enc["vectors"]) == 2
    assert client.get("/info").json()["writes"] is False


def test_bad_requests(index_dir):
    client = TestClient(create_app(index_dir))
    assert client.post("/search", json={"query": ""}).status_code == 422
    assert client.post("/search", json={"query": "x", "mode": "sparse"}).status_code == 422
    assert client.post("/search", json={"query": "x", "k": 0}).status_code == 422
    r = client.post("/search", json={"query": "x", "rerank": True})
    assert r.status_code == 400 and "no reranker" in r.json()["detail"]
    assert client.post("/documents", json={"documents": [{"id": "x", "text": "y"}]}).status_code in (404, 405)
    r = client.post("/search", json={"query": "   "})
    assert r.status_code == 400 and "empty query" in r.json()["error"]


def test_writes_when_allowed(index_dir):
    client = TestClient(create_app(index_dir, allow_writes=True))
    r = client.post("/documents", json={"documents": [{"id": "owls", "text": "Owls hunt at night."}]}).json()
    assert r["added"] == 1 and r["committed"] is True
    assert client.post("/search", json={"query": "owls night", "mode": "bm25"}).json()["hits"][0]["doc_id"] == "owls"
    assert client.post("/documents/delete", json={"ids": ["owls"]}).json()["removed"] == 1
    assert client.get("/health").json()["documents"] == 2
