"""``POST /v1/context``: search, then a prompt-ready context within a token budget, with citations (doc
id, path, title, offsets, section) and a chosen order (``best_first``, or ``edges``: best at both ends,
against "lost in the middle"). Tokens are counted with the index model's tokenizer: a language model's
own tokenizer counts differently, so leave some headroom in ``budget_tokens``."""

from typing import Literal

from pydantic import Field

from .search import SearchRequest, search_hits
from .shared import ApiError, check_range


class ContextRequest(SearchRequest):
    budget_tokens: int = Field(1024, description="Most tokens the context may hold.")
    order: Literal["best_first", "edges"] = Field("best_first", description="edges: best passages at both ends.")
    k: int = Field(20, description="Candidate passages considered (best first).")


def router(state):
    from fastapi import APIRouter

    from ...retrieval.context import BudgetTooSmall, assemble_context

    r = APIRouter(tags=["search"])
    lim = state.config.limits

    @r.post("/v1/context", summary="Search and assemble a context for a language model")
    def context(req: ContextRequest):
        check_range(req.budget_tokens, lim.max_context_tokens, "budget_tokens", "--max-context-tokens")
        ranking, hits = search_hits(state, req, by="chunk")
        passages = [
            {
                "doc_id": h.doc_id,
                "chunk_id": h.chunk_id,
                "title": h.title,
                "path": h.path,
                "section": h.section,
                "start": h.start,
                "end": h.end,
                "score": h.score,
                "text": h.text,
            }
            for h in hits
        ]
        try:
            out = assemble_context(
                passages, budget=req.budget_tokens, count_tokens=lambda s: state.count_tokens([s])[0], order=req.order
            )
        except BudgetTooSmall as exc:
            raise ApiError(
                422, f"budget_tokens={exc.budget} holds no passage: ask for at least {exc.needed}", param="budget_tokens"
            ) from None
        snap = ranking.snapshot
        return {
            "query": req.query,
            "mode": req.mode,
            "order": req.order,
            "budget_tokens": req.budget_tokens,
            "generation": snap.gen if snap is not None else state.index.generation,
            **out,
        }

    return r
