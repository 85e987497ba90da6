"""Reranking: ``POST /v1/rerank`` (Cohere v1 / Jina shape), ``POST /v2/rerank`` (Cohere v2) and the
TEI-style ``POST /rerank``.

Scored by the server's ``--rerank`` model (a cross-encoder, or ColBERT late interaction), or, when it
has none, by the index's bi-encoder (cosine of embeddings); ``model`` and ``scorer`` in the response say
which. Cohere and Jina clients send ``documents`` as strings or ``{"text": ...}`` objects; ``top_n``
keeps the best n; ``return_documents`` echoes each document's text.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from .shared import ApiError, check_count, check_model, check_query, check_texts, served_names


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # max_chunks_per_doc, rank_fields, priority, ... accepted

    model: Optional[str] = Field(None, description="The served rerank model (see GET /v1/models); may be omitted.")
    query: str
    documents: List[Union[str, Dict[str, Any]]] = Field(..., description='Strings or objects with a "text" field.')
    top_n: Optional[int] = Field(None, ge=1)
    return_documents: bool = False


class TeiRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str
    texts: List[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool = True


def document_texts(documents: list) -> list[str]:
    out = []
    for i, d in enumerate(documents):
        if isinstance(d, str):
            out.append(d)
        elif isinstance(d.get("text"), str):
            out.append(d["text"])
        else:
            raise ApiError(
                422, f'documents[{i}] is an object without a "text" string', param=f"documents[{i}]", code="invalid_value"
            )
    return out


def router(state):
    from fastapi import APIRouter

    r = APIRouter(tags=["rerank"])
    lim = state.config.limits

    def scorer():
        if state.reranker is not None:
            kind = getattr(state.reranker, "kind", "cross-encoder")
            return state.reranker, kind
        from ..models import BiEncoderScorer

        return BiEncoderScorer(state.index.encoder), "bi-encoder"

    def score(query: str, texts: list[str]):
        check_query(query, lim.max_query_chars)
        check_count(len(texts), lim.max_documents, "document", "documents", "--max-documents")
        check_texts(texts, lim.max_input_chars, "documents", allow_blank=True)
        model, kind = scorer()
        scores = [float(s) for s in model.score(query, texts)]
        order = sorted(range(len(texts)), key=lambda i: -scores[i])
        return model, kind, scores, order

    def cohere(req: RerankRequest, version: str):
        texts = document_texts(req.documents)
        model, kind = scorer()
        check_model(req.model, served_names(model, state.config.reranker), "rerank")
        model, kind, scores, order = score(req.query, texts)
        top = order[: req.top_n] if req.top_n else order
        results = []
        for i in top:
            row = {"index": i, "relevance_score": scores[i]}
            if req.return_documents:
                row["document"] = {"text": texts[i]}
            results.append(row)
        tokens = sum(state.count_tokens([req.query, *texts]))
        return {
            "id": str(uuid.uuid4()),
            "model": model.name,
            "scorer": kind,
            "results": results,
            "meta": {"api_version": {"version": version}, "billed_units": {"search_units": 1}},
            "usage": {"total_tokens": tokens},
        }

    @r.post("/v1/rerank", summary="Rerank documents for a query (Cohere v1 / Jina shape)")
    def rerank_v1(req: RerankRequest):
        return cohere(req, "1")

    @r.post("/v2/rerank", summary="Rerank documents for a query (Cohere v2 shape)")
    def rerank_v2(req: RerankRequest):
        return cohere(req, "2")

    @r.post("/rerank", summary="Rerank texts for a query (Hugging Face TEI shape)")
    def rerank_tei(req: TeiRerankRequest):
        model, kind, scores, order = score(req.query, req.texts)
        out = []
        for i in order:
            row = {"index": i, "score": scores[i]}
            if req.return_text:
                row["text"] = req.texts[i]
            out.append(row)
        return out

    return r
