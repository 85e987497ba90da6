"""The /v1/classify, /v1/extract and rerank routers against small fake models injected into the server
state (these test the routers: the models' own tests live with the models)."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from encoderkit import Index
from encoderkit.server.app import create_app
from encoderkit.server.config import Limits, ServerConfig
from encoderkit.server.state import ServerState


class FakeClassifier:
    name = "fake-topics"

    def __init__(self):
        self.calls = []

    def predict(self, texts, top_k=None):
        self.calls.append((list(texts), top_k))
        out = []
        for t in texts:
            labels = [{"label": "pets", "score": 0.9 if "cat" in t else 0.2}, {"label": "other", "score": 0.1}]
            out.append(labels[: top_k or 1])
        return out

    def describe(self):
        return {"name": self.name, "kind": "classifier", "labels": ["pets", "other"]}


class FakeExtractor:
    name = "fake-ner"

    def extract(self, texts, min_confidence=0.0):
        out = []
        for t in texts:
            ents = []
            i = t.find("Paris")
            if i >= 0:
                ents.append({"text": "Paris", "label": "LOC", "start": i, "end": i + 5, "score": 0.8})
            out.append({"entities": [e for e in ents if e["score"] >= min_confidence], "relations": []})
        return out

    def describe(self):
        return {"name": self.name, "kind": "extractor", "labels": ["LOC"]}


class FakeColbert:
    """What the ColBERT reranker offers the server: score(query, passages), name, describe()."""

    name = "fake-colbert"
    kind = "colbert"

    def score(self, query, passages):
        q = set(query.lower().split())
        return np.array([len(q & set(p.lower().split())) for p in passages], dtype=np.float32)

    def describe(self):
        return {"name": self.name, "kind": self.kind}


@pytest.fixture
def state(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add([{"id": "a", "text": "Cats purr."}, {"id": "b", "text": "Dogs bark loudly at night."}], export_onnx=False)
    index.close()
    st = ServerState.open(tmp_path / "ix", ServerConfig(limits=Limits(max_inputs=3, max_input_chars=40)))
    st.classifier, st.extractor, st.reranker = FakeClassifier(), FakeExtractor(), FakeColbert()
    return st


@pytest.fixture
def client(state):
    with TestClient(create_app(state), base_url="http://localhost") as c:
        yield c


def test_classify(client, state):
    r = client.post("/v1/classify", json={"input": ["a cat", "a tax form"], "top_k": 2}).json()
    assert r["model"] == "fake-topics" and [d["index"] for d in r["data"]] == [0, 1]
    assert r["data"][0]["labels"][0] == {"label": "pets", "score": 0.9} and len(r["data"][1]["labels"]) == 2
    assert state.classifier.calls[-1] == (["a cat", "a tax form"], 2)
    one = client.post("/v1/classify", json={"input": "a cat", "model": "fake-topics"}).json()
    assert len(one["data"]) == 1 and len(one["data"][0]["labels"]) == 1
    assert client.post("/v1/classify", json={"input": ["a"] * 4}).status_code == 422
    assert client.post("/v1/classify", json={"input": "x" * 41}).json()["error"]["param"] == "input[0]"
    assert client.post("/v1/classify", json={"input": "x", "model": "other"}).status_code == 404
    assert client.get("/v1/info").json()["classifier"]["labels"] == ["pets", "other"]
    assert {m["kind"] for m in client.get("/v1/models").json()["data"]} == {"embedding", "rerank", "classify", "extract"}


def test_extract(client):
    r = client.post("/v1/extract", json={"input": ["I live in Paris.", "nothing here"]}).json()
    ent = r["data"][0]["entities"][0]
    assert r["model"] == "fake-ner" and ent["label"] == "LOC" and "I live in Paris."[ent["start"] : ent["end"]] == "Paris"
    assert r["data"][1]["entities"] == []
    high = client.post("/v1/extract", json={"input": "Paris", "min_confidence": 0.9}).json()
    assert high["data"][0]["entities"] == []
    assert client.post("/v1/extract", json={"input": "x", "min_confidence": 2}).status_code == 422


def test_rerank_with_colbert_style_model(client):
    r = client.post("/v1/rerank", json={"query": "dogs bark", "documents": ["cats purr", "dogs bark loudly", "dogs"]}).json()
    assert r["model"] == "fake-colbert" and r["scorer"] == "colbert"
    assert [x["index"] for x in r["results"]] == [1, 2, 0]
    hits = client.post("/v1/search", json={"query": "dogs bark", "rerank": True}).json()["hits"]
    assert hits[0]["doc_id"] == "b" and "rerank" in hits[0]["stages"]


def test_without_task_models_the_routes_are_absent(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix2", encoder=tiny_encoder)
    index.add([{"id": "a", "text": "Cats purr."}], export_onnx=False)
    index.close()
    with TestClient(create_app(tmp_path / "ix2"), base_url="http://localhost") as c:
        assert c.post("/v1/classify", json={"input": "x"}).status_code == 404
        assert c.post("/v1/extract", json={"input": "x"}).status_code == 404


def test_real_task_models_behind_the_routes(tmp_path, tiny_encoder, tiny_model_dir):
    """The routers with the project's own model classes loaded from folders, as `encoderkit serve
    --classify/--extract/--rerank` loads them: a zero-shot classifier, a (briefly trained) tagger and
    a ColBERT model over the tiny backbone."""
    from encoderkit.data.corpora.conll import TaggedDoc
    from encoderkit.tasks.classify import Classifier
    from encoderkit.training.loop import TrainConfig
    from encoderkit.training.tagging import train_tagger
    from support.colbert import make_tiny_colbert

    Classifier.zero_shot({"pets": "cats and dogs", "tax": "tax forms"}, model=tiny_model_dir, template="{label}.").save(
        tmp_path / "zs"
    )
    words = "Merkel met Smith in Paris and Berlin . the said".split()
    tags = ["B-PER", "O", "B-PER", "O", "B-LOC", "O", "B-LOC", "O", "O", "O"]
    docs = [TaggedDoc(words * 2, tags * 2, [0, 10]) for _ in range(4)]
    train_tagger(
        docs[:3], docs[3:], tmp_path / "ner", model=str(tiny_model_dir), max_length=32, stride=8,
        train_config=TrainConfig(max_steps=2, batch_size=2, lr=1e-3), show_progress=False,
    )  # fmt: skip
    make_tiny_colbert(tmp_path / "colbert", tiny_model_dir)
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add([{"id": "a", "text": "Cats purr."}, {"id": "b", "text": "Dogs bark loudly at night."}], export_onnx=False)
    index.close()
    cfg = ServerConfig(classifier=str(tmp_path / "zs"), extractor=str(tmp_path / "ner"), reranker=str(tmp_path / "colbert"))
    with TestClient(create_app(tmp_path / "ix", cfg), base_url="http://localhost") as c:
        r = c.post("/v1/classify", json={"input": ["a cat", "my tax form"], "top_k": 2}).json()
        assert [sorted(x["label"] for x in d["labels"]) for d in r["data"]] == [["pets", "tax"]] * 2
        assert all(abs(sum(x["score"] for x in d["labels"]) - 1) < 1e-4 for d in r["data"])  # probabilities
        text = "Merkel met Smith in Paris ."
        ex = c.post("/v1/extract", json={"input": [text]}).json()["data"][0]
        assert isinstance(ex["entities"], list)
        for e in ex["entities"]:  # whatever a 2-step tagger finds, its offsets are the text's own
            assert text[e["start"] : e["end"]] == e["text"]
        rr = c.post("/v1/rerank", json={"query": "dogs bark", "documents": ["cats purr", "dogs bark loudly"]}).json()
        assert sorted(x["index"] for x in rr["results"]) == [0, 1] and all(
            np.isfinite(x["relevance_score"]) for x in rr["results"]
        )
        assert {m["kind"] for m in c.get("/v1/models").json()["data"]} == {"embedding", "rerank", "classify", "extract"}
