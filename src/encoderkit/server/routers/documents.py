"""``POST /documents`` (add or replace) and ``POST /documents/delete``; only with --allow-writes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Document(BaseModel):
    id: str = Field(..., min_length=1)
    text: str = Field(..., min_length=1)
    title: str = ""
    path: str = ""


class DocumentsRequest(BaseModel):
    documents: list[Document] = Field(..., min_length=1)


class DeleteRequest(BaseModel):
    ids: list[str] = Field(..., min_length=1)


def router(state):
    from fastapi import APIRouter

    r = APIRouter(tags=["documents"])
    index = state.index

    @r.post("/documents")
    def add(req: DocumentsRequest):
        with state.lock:
            report = index.add([d.model_dump() for d in req.documents], show_progress=False)
        return report.to_dict()

    @r.post("/documents/delete")
    def delete(req: DeleteRequest):
        with state.lock:
            report = index.remove(req.ids)
        return report.to_dict()

    return r
