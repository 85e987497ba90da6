"""``POST /search``: any mode the index has (hybrid, one retriever, or several joined by '+')."""

# No `from __future__ import annotations`: FastAPI must see the request model (a class made per app,
# knowing the index's retrievers) as a real class, not a string.

from pydantic import BaseModel, Field, field_validator


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, description="What to search for.")
    mode: str = Field("hybrid", description="hybrid | a retriever of the index (bm25, dense, ...) | several joined by '+'.")
    k: int = Field(10, ge=1, le=1000)
    depth: int = Field(100, ge=1, le=10000)
    chunks: bool = False
    rerank: bool = Field(False, description="Re-score with the server's reranker (needs --rerank).")
    rerank_depth: int = Field(50, ge=1, le=1000)


def router(state):
    from fastapi import APIRouter, HTTPException

    from ...errors import EncoderkitError
    from ...retrieval.pipeline import parse_mode
    from ...retrieval.snippets import hit_row

    r = APIRouter(tags=["search"])
    index = state.index

    class Request(SearchRequest):
        @field_validator("mode")
        @classmethod
        def known_mode(cls, v: str) -> str:
            try:
                parse_mode(v, index.retrievers)
            except EncoderkitError as exc:
                raise ValueError(str(exc)) from None
            return v

    @r.post("/search")
    def search(req: Request):
        if req.rerank and state.reranker is None:
            raise HTTPException(400, "this server has no reranker; start it with --rerank DIR")
        with state.lock:
            hits = index.search(
                req.query,
                mode=req.mode,
                k=req.k,
                depth=max(req.depth, req.k),
                by="chunk" if req.chunks else "document",
                reranker=state.reranker if req.rerank else None,
                rerank_depth=req.rerank_depth,
            )
        return {"query": req.query, "mode": req.mode, "hits": [hit_row(h, req.query) for h in hits]}

    return r
