"""``POST /v1/embeddings`` (OpenAI's request and response shape), ``GET /v1/models``, and the older
``POST /encode``.

Requests go through the micro-batcher: concurrent requests share one forward pass. ``encoding_format``
is ``float`` or ``base64`` (little-endian float32, what OpenAI's client asks for by default and decodes
itself); ``dimensions`` may only shorten vectors of a model trained for it (Matryoshka: its
``encoderkit_model.json`` lists ``matryoshka_dims``), since truncating any other model's vectors
silently damages them. Inputs longer than the model's token limit are truncated to it, as
sentence-transformers does (``"truncate": false`` makes that an error instead, as in TEI); ``usage``
counts the tokens the model read.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import List, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, Field

from .shared import ApiError, as_list, check_count, check_model, check_texts, over_limit, served_names, submit, wait


class EmbeddingsRequest(BaseModel):
    input: Union[str, List[str], List[int], List[List[int]]] = Field(..., description="A text or a list of texts.")
    model: Optional[str] = Field(None, description="The served embedding model (see GET /v1/models); may be omitted.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = Field(None, ge=1, description="Shorter vectors, only for Matryoshka-trained models.")
    user: Optional[str] = Field(None, description="Accepted for compatibility; ignored.")
    truncate: bool = Field(True, description="Truncate inputs longer than the model's limit (false: refuse them).")


class EncodeRequest(BaseModel):
    texts: List[str] = Field(..., min_length=1)
    pooling: Optional[Literal["mean", "cls", "max", "weighted_mean", "last"]] = None
    normalize: bool = True


def matryoshka_dims(model: dict) -> list[int]:
    """Dimensions a model was trained to be truncated to (from its ``encoderkit_model.json``)."""
    path = Path(model.get("path") or "")
    meta = path / "encoderkit_model.json"
    if meta.is_file():
        try:
            return [int(d) for d in json.loads(meta.read_text()).get("matryoshka_dims") or []]
        except (OSError, ValueError, TypeError):
            return []
    return []


def router(state):
    from fastapi import APIRouter
    from fastapi.responses import Response

    from ..http_errors import safe_json

    r = APIRouter(tags=["embeddings"])
    lim = state.config.limits
    created = int(time.time())

    def model_info() -> dict:
        return state.index.manifest["model"]

    @r.post("/v1/embeddings", summary="Embed texts (OpenAI-compatible)")
    async def embeddings(req: EmbeddingsRequest):
        m = model_info()
        check_model(req.model, served_names(name=m.get("name"), spec=m.get("spec"), path=m.get("path")), "embedding")
        texts = as_list(req.input)
        if texts and not all(isinstance(t, str) for t in texts):
            raise ApiError(
                422,
                "token-id input is not supported: this model's tokenizer is not OpenAI's; send text",
                param="input",
                code="invalid_value",
            )
        check_count(len(texts), lim.max_inputs, "input", "input", "--max-inputs")
        check_texts(texts, lim.max_input_chars, "input")
        enc = state.index.encoder.unwrapped
        dim = int(m["dim"])
        if req.dimensions is not None and req.dimensions != dim:
            allowed = matryoshka_dims(m)
            if req.dimensions not in allowed:
                raise ApiError(
                    422,
                    f"model {m['name']} gives {dim}-dimensional vectors and was not trained for shorter ones "
                    f"(truncating them would damage them); omit dimensions" + (f" or use one of {allowed}" if allowed else ""),
                    param="dimensions",
                    code="invalid_value",
                )
        if sum(len(t) for t in texts) < 20_000:
            counts = state.count_tokens(texts)
        else:  # long inputs: tokenize off the event loop, which must keep answering other requests
            from starlette.concurrency import run_in_threadpool

            counts = await run_in_threadpool(state.count_tokens, texts)
        room = enc.max_length - 2  # [CLS] and [SEP]
        for i, c in enumerate(counts):
            if c > lim.max_input_tokens:
                raise over_limit(
                    f"input[{i}] has {c} tokens; the limit is {lim.max_input_tokens} (--max-input-tokens)", f"input[{i}]"
                )
            if not req.truncate and c > room:
                raise ApiError(
                    422,
                    f"input[{i}] has {c} tokens; model {m['name']} reads at most {room} (truncate=false)",
                    param=f"input[{i}]",
                    code="input_too_long",
                )
        used = [min(c, room) for c in counts]
        fut = submit(state.batcher, texts, (enc, None, True, None), sum(u + 2 for u in used))
        vecs = np.asarray(await wait(fut, lim.request_timeout_s), dtype=np.float32)
        if req.dimensions is not None and req.dimensions < dim:
            vecs = vecs[:, : req.dimensions]
            vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        if req.encoding_format == "base64":
            data = [
                {"object": "embedding", "index": i, "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")}
                for i, v in enumerate(vecs)
            ]
        else:
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)]
        body = {
            "object": "list",
            "data": data,
            "model": m["name"],
            "usage": {"prompt_tokens": sum(used), "total_tokens": sum(used)},
        }
        return Response(safe_json(body), media_type="application/json")

    @r.get("/v1/models", summary="Models this server serves (OpenAI-compatible list)")
    def models():
        m = model_info()
        data = [
            {
                "id": m["name"],
                "object": "model",
                "created": created,
                "owned_by": "encoderkit",
                "kind": "embedding",
                "dim": m["dim"],
            }
        ]
        for kind, model in (("rerank", state.reranker), ("classify", state.classifier), ("extract", state.extractor)):
            if model is not None:
                data.append(
                    {
                        "id": getattr(model, "name", kind),
                        "object": "model",
                        "created": created,
                        "owned_by": "encoderkit",
                        "kind": kind,
                    }
                )
        return {"object": "list", "data": data}

    @r.post("/encode", tags=["legacy"], deprecated=True, summary="Vectors from the index's model (use /v1/embeddings)")
    async def encode(req: EncodeRequest):
        check_count(len(req.texts), lim.max_inputs, "text", "texts", "--max-inputs")
        check_texts(req.texts, lim.max_input_chars, "texts", allow_blank=True)
        key = (state.index.encoder.unwrapped, req.pooling, req.normalize, None)
        fut = submit(state.batcher, req.texts, key, sum(min(len(t) // 3 + 2, state.encoder.max_length) for t in req.texts))
        vecs = np.asarray(await wait(fut, lim.request_timeout_s), dtype=np.float32)
        body = {"model": model_info()["name"], "dim": int(vecs.shape[1]), "vectors": vecs.tolist()}
        return Response(safe_json(body), media_type="application/json")

    return r
