"""``POST /v1/search`` (and the older ``POST /search``): any mode the index has (hybrid, one retriever, or
several joined by '+'), optional reranking and filters; hits carry the best-matching passage
(``snippet``) with the spans of the matched query terms (``highlights``) and where each stage ranked
them (``stages``).
"""

# No `from __future__ import annotations`: FastAPI must see the request models as real classes.

from typing import Dict, List, Literal, Optional

from pydantic import BaseModel, Field

from .shared import ApiError, check_query, check_range


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, description="What to search for.")
    mode: str = Field("hybrid", description="hybrid | a retriever of the index (bm25, dense, ...) | several joined by '+'.")
    k: int = Field(10, description="Results to return.")
    depth: int = Field(100, description="Candidates each retriever fetches.")
    chunks: bool = Field(False, description="One result per chunk instead of per document.")
    rerank: bool = Field(False, description="Re-score with the server's reranker (needs --rerank).")
    rerank_depth: int = 50
    rerank_fusion: Literal["none", "rrf"] = "none"
    filters: List[str] = Field(default_factory=list, description="FIELD=VALUE filters, e.g. label=sports, path=docs/*.md.")
    fields: Optional[List[str]] = Field(None, description="Keep only these fields of each hit (default: all).")
    fusion: Optional[Literal["auto", "rrf", "weighted"]] = Field(
        None, description="How to fuse the retrievers (default: the index's calibrated or tuned rule)."
    )
    weights: Optional[Dict[str, float]] = Field(None, description="Per-retriever fusion weights (override the index's rule).")
    explain: bool = Field(False, description="Say what fusion weights this query got and why (`fusion` in the response).")


def search_hits(state, req, *, by: Optional[str] = None):
    """Run ``req`` against one committed generation: (ranking, hits)."""
    from ...errors import EncoderkitError
    from ...index.storage.threadlocal import check_same
    from ...retrieval.options import SearchOptions, parse_mode

    lim = state.config.limits
    for name, limit in (("k", lim.max_k), ("depth", lim.max_depth), ("rerank_depth", lim.max_rerank_depth)):
        if name not in req.model_fields_set:  # a default never trips a limit: it shrinks to it
            setattr(req, name, min(getattr(req, name), limit))
    check_query(req.query, lim.max_query_chars)
    check_range(req.k, lim.max_k, "k", "--max-k")
    check_range(req.depth, lim.max_depth, "depth", "--max-depth")
    check_range(req.rerank_depth, lim.max_rerank_depth, "rerank_depth", "--max-rerank-depth")
    index = state.index
    try:
        parse_mode(req.mode, index.retrievers)
    except EncoderkitError as exc:
        raise ApiError(422, str(exc), param="mode", code="invalid_value") from None
    if req.rerank and state.reranker is None:
        raise ApiError(400, "this server has no reranker; start it with --rerank MODEL", param="rerank")
    options = SearchOptions(
        mode=req.mode,
        k=req.k,
        depth=max(req.depth, req.k),
        by=by or ("chunk" if req.chunks else "document"),
        reranker=state.reranker if req.rerank else None,
        rerank_depth=req.rerank_depth,
        rerank_fusion=req.rerank_fusion,
        filters=tuple(req.filters),
        fusion=req.fusion,
        weights=req.weights,
    )

    def run(snap):
        rankings = index.rank_many([req.query], options)
        check_same(rankings[0].snapshot, snap)
        return rankings[0], index.hits(rankings[0], req.k)

    return state.read(run)


def router(state):
    from fastapi import APIRouter

    from ...retrieval.snippets import hit_row

    r = APIRouter(tags=["search"])

    def search(req: SearchRequest):
        ranking, hits = search_hits(state, req)
        rows = []
        for h in hits:
            rows.append(hit_row(h, req.query, fields=req.fields or None))
        snap = ranking.snapshot
        return {
            "query": req.query,
            "mode": req.mode,
            "generation": snap.gen if snap is not None else state.index.generation,
            "hits": rows,
            "timings_ms": {k: round(v, 3) for k, v in ranking.timings_ms.items()},
            **({"fusion": ranking.fusion} if req.explain and ranking.fusion else {}),
        }

    r.post("/v1/search", summary="Search the index")(search)
    r.post("/search", tags=["legacy"], deprecated=True, summary="Search the index (same as /v1/search)")(search)
    return r
