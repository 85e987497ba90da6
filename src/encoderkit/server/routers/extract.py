"""``POST /v1/extract`` (with ``--extract MODEL``): entities (and relations, when the model has them) for
each input text, with character offsets and confidences."""

from __future__ import annotations

from typing import List, Optional, Union

from pydantic import BaseModel, Field

from .shared import as_list, check_count, check_model, check_texts, served_names


class ExtractRequest(BaseModel):
    input: Union[str, List[str]] = Field(..., description="A text or a list of texts.")
    model: Optional[str] = None
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Drop results below this confidence.")


def router(state):
    from fastapi import APIRouter

    r = APIRouter(tags=["extract"])
    lim = state.config.limits

    @r.post("/v1/extract", summary="Extract entities and relations")
    def extract(req: ExtractRequest):
        ext = state.extractor
        check_model(req.model, served_names(ext, state.config.extractor), "extraction")
        texts = as_list(req.input)
        check_count(len(texts), lim.max_inputs, "input", "input", "--max-inputs")
        check_texts(texts, lim.max_input_chars, "input")
        results = ext.extract(texts, min_confidence=req.min_confidence)
        data = [{"object": "extraction", "index": i, **dict(res)} for i, res in enumerate(results)]
        return {"object": "list", "model": served_names(ext, state.config.extractor)[0], "data": data}

    return r
