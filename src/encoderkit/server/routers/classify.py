"""``POST /v1/classify`` (with ``--classify MODEL``): labels with scores for each input text."""

from __future__ import annotations

from typing import List, Optional, Union

from pydantic import BaseModel, Field

from .shared import as_list, check_count, check_model, check_texts, served_names


class ClassifyRequest(BaseModel):
    input: Union[str, List[str]] = Field(..., description="A text or a list of texts.")
    model: Optional[str] = None
    top_k: Optional[int] = Field(None, ge=1, description="Best k labels per text (default: the model's own rule).")


def router(state):
    from fastapi import APIRouter

    r = APIRouter(tags=["classify"])
    lim = state.config.limits

    @r.post("/v1/classify", summary="Classify texts")
    def classify(req: ClassifyRequest):
        clf = state.classifier
        check_model(req.model, served_names(clf, state.config.classifier), "classification")
        texts = as_list(req.input)
        check_count(len(texts), lim.max_inputs, "input", "input", "--max-inputs")
        check_texts(texts, lim.max_input_chars, "input")
        preds = clf.predict(texts, top_k=req.top_k)
        data = [
            {
                "object": "classification",
                "index": i,
                "labels": [{"label": str(p["label"]), "score": float(p["score"])} for p in labels],
            }
            for i, labels in enumerate(preds)
        ]
        return {"object": "list", "model": served_names(clf, state.config.classifier)[0], "data": data}

    return r
