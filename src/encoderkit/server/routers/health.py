"""``GET /health`` and ``GET /info``."""

from __future__ import annotations


def router(state):
    from fastapi import APIRouter

    r = APIRouter(tags=["health"])
    index = state.index

    @r.get("/health")
    def health():
        return {"status": "ok", "generation": index.generation, "documents": len(index)}

    @r.get("/info")
    def info():
        m = index.manifest
        return {
            "stats": index.stats(),
            "model": m["model"],
            "chunking": m["chunking"],
            "retrievers": m["retrievers"],
            "reranker": state.reranker.describe() if state.reranker else None,
            "writes": state.allow_writes,
        }

    return r
