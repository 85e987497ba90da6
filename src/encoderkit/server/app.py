"""HTTP API over an index: a thin FastAPI layer on :class:`encoderkit.index.Index`.

    encoderkit serve --index my-index [--rerank runs/reranker] [--allow-writes] [--port 8000]

Endpoints: ``GET /health``, ``GET /info``, ``POST /search``, ``POST /encode``; with ``--allow-writes``
also ``POST /documents`` (add or replace) and ``POST /documents/delete``. Requests are validated
(bad input is a 422 naming the field); an index error is a 400 with the same one-line message as the
CLI. One lock serialises access to the index (SQLite connection and model), so the server is safe
under concurrent requests.

>>> from fastapi.testclient import TestClient                      # doctest: +SKIP
>>> client = TestClient(create_app("my-index"))                      # doctest: +SKIP
>>> client.post("/search", json={"query": "key rotation", "k": 3}).json()["hits"][0]["doc_id"]  # doctest: +SKIP
"""


# No `from __future__ import annotations` here: FastAPI must see the request models (defined inside
# create_app) as real classes, not strings, to read them from the request body.
import threading
from pathlib import Path
from typing import Literal, Optional

from .. import __version__
from ..errors import EncoderkitError


def create_app(index_dir: str | Path, *, backend: str = "auto", reranker: str | None = None,
               rerank_backend: str = "torch", allow_writes: bool = False):
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    from ..index.index import Index
    from ..retrieval.snippets import best_passage

    index = Index.open(index_dir, backend=backend)
    rr = None
    if reranker:
        from ..models.cross_encoder import Reranker

        rr = Reranker.load(reranker, backend=rerank_backend)
    lock = threading.Lock()
    app = FastAPI(title="encoderkit", version=__version__,
                  description="Search (BM25, dense, hybrid, reranked) and embeddings over one index.")

    class SearchRequest(BaseModel):
        query: str = Field(..., min_length=1, description="What to search for.")
        mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
        k: int = Field(10, ge=1, le=1000)
        depth: int = Field(100, ge=1, le=10000)
        chunks: bool = False
        rerank: bool = Field(False, description="Re-score with the server's reranker (needs --rerank).")
        rerank_depth: int = Field(50, ge=1, le=1000)

    class EncodeRequest(BaseModel):
        texts: list[str] = Field(..., min_length=1, max_length=1024)
        pooling: Optional[Literal["mean", "cls", "max", "weighted_mean", "last"]] = None
        normalize: bool = True

    class Document(BaseModel):
        id: str = Field(..., min_length=1)
        text: str = Field(..., min_length=1)
        title: str = ""
        path: str = ""

    class DocumentsRequest(BaseModel):
        documents: list[Document] = Field(..., min_length=1)

    class DeleteRequest(BaseModel):
        ids: list[str] = Field(..., min_length=1)

    @app.exception_handler(EncoderkitError)
    def _user_error(request, exc: EncoderkitError):
        return JSONResponse(status_code=400, content={"error": str(exc)})

    @app.get("/health")
    def health():
        return {"status": "ok", "generation": index.generation, "documents": len(index)}

    @app.get("/info")
    def info():
        m = index.manifest
        return {"stats": index.stats(), "model": m["model"], "chunking": m["chunking"], "bm25": m["bm25"],
                "dense": m["dense"], "reranker": rr.describe() if rr else None, "writes": allow_writes}

    @app.post("/search")
    def search(req: SearchRequest):
        if req.rerank and rr is None:
            raise HTTPException(400, "this server has no reranker; start it with --rerank DIR")
        with lock:
            hits = index.search(req.query, mode=req.mode, k=req.k, depth=max(req.depth, req.k),
                                by="chunk" if req.chunks else "document", reranker=rr if req.rerank else None,
                                rerank_depth=req.rerank_depth)
        rows = []
        for h in hits:
            s, e, passage = best_passage(h.text, req.query)
            rows.append({**h.to_dict(), "snippet": passage, "snippet_start": h.start + s, "snippet_end": h.start + e})
        return {"query": req.query, "mode": req.mode, "hits": rows}

    @app.post("/encode")
    def encode(req: EncodeRequest):
        with lock:
            vecs = index.encoder.encode(req.texts, pooling=req.pooling, normalize=req.normalize)
        return {"model": index.manifest["model"]["name"], "dim": int(vecs.shape[1]), "vectors": vecs.tolist()}

    if allow_writes:
        @app.post("/documents")
        def add(req: DocumentsRequest):
            with lock:
                report = index.add([d.model_dump() for d in req.documents], show_progress=False)
            return report.to_dict()

        @app.post("/documents/delete")
        def delete(req: DeleteRequest):
            with lock:
                report = index.remove(req.ids)
            return report.to_dict()

    return app
