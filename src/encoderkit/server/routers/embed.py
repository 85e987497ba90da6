"""``POST /encode``: vectors from the index's own model."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field


class EncodeRequest(BaseModel):
    texts: list[str] = Field(..., min_length=1, max_length=1024)
    pooling: Optional[Literal["mean", "cls", "max", "weighted_mean", "last"]] = None
    normalize: bool = True


def router(state):
    from fastapi import APIRouter

    r = APIRouter(tags=["embeddings"])
    index = state.index

    @r.post("/encode")
    def encode(req: EncodeRequest):
        with state.lock:
            vecs = index.encoder.encode(req.texts, pooling=req.pooling, normalize=req.normalize)
        return {"model": index.manifest["model"]["name"], "dim": int(vecs.shape[1]), "vectors": vecs.tolist()}

    return r
