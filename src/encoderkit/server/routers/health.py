"""``GET /health`` (public: liveness and whether keys are required), ``GET /v1/info`` (older: ``/info``)
and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from dataclasses import asdict


def router(state):
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse, Response

    from ..models import describe

    r = APIRouter(tags=["health"])

    @r.get("/health", summary="Liveness (no key needed); 503 when the encoder's worker is not running")
    def health():
        index = state.index
        body = {"status": "ok", "generation": index.generation, "documents": len(index), "auth": bool(state.keys)}
        batcher = state.batcher
        if batcher is not None and not batcher.alive:
            body.update(status="unhealthy", reason="the encoder's batching worker is not running")
            return JSONResponse(body, status_code=503)
        if batcher is not None and getattr(batcher, "restarts", 0):
            body["worker_restarts"] = batcher.restarts
        return body

    def info():
        index = state.index
        m = index.manifest
        return {
            "stats": index.stats(),
            "model": m["model"],
            "chunking": m["chunking"],
            "retrievers": m["retrievers"],
            "modes": ["hybrid", *index.retrievers],
            "reranker": describe(state.reranker) if state.reranker is not None else None,
            "classifier": describe(state.classifier) if state.classifier is not None else None,
            "extractor": describe(state.extractor) if state.extractor is not None else None,
            "writes": state.allow_writes,
            "limits": asdict(state.config.limits),
            "batching": asdict(state.config.batching),
        }

    r.get("/v1/info", summary="The index, models and limits of this server")(info)
    r.get("/info", tags=["legacy"], deprecated=True, summary="Same as /v1/info")(info)

    @r.get("/metrics", summary="Prometheus metrics")
    def metrics():
        mt = state.metrics
        mt.queue_depth.set(state.batcher.depth if state.batcher is not None else 0)
        mt.generation.set(state.index.generation)
        mt.documents.set(len(state.index))
        body, ctype = mt.render()
        return Response(body, media_type=ctype)

    return r
