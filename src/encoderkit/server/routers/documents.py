"""Documents: ``GET /v1/documents/{doc_id}`` (the stored text, for the search page's document view) and,
only with ``--allow-writes``, ``POST /v1/documents`` (add or replace) and ``POST /v1/documents/delete``
(older paths: ``/documents``, ``/documents/delete``). Writes run one at a time; each is one committed
generation, which readers see all at once or not at all."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .shared import ApiError, check_count


class Document(BaseModel):
    id: str = Field(..., min_length=1)
    text: str = Field(..., min_length=1)
    title: str = ""
    path: str = ""
    meta: dict = Field(default_factory=dict)


class DocumentsRequest(BaseModel):
    documents: list[Document]


class DeleteRequest(BaseModel):
    ids: list[str]


def router(state, *, writes: bool):
    from fastapi import APIRouter

    from ...index.read.documents import document_view

    r = APIRouter(tags=["documents"])
    lim = state.config.limits

    @r.get("/v1/documents/{doc_id:path}", summary="One document's stored text and chunks")
    def get_document(doc_id: str):
        index = state.index

        def view(snap):
            if hasattr(index, "document"):  # a sharded index: the shard holding it answers
                return index.document(doc_id)
            gen = snap.gen if snap is not None else index.generation
            return document_view(index.store, gen, doc_id)

        doc = state.read(view)
        if doc is None:
            raise ApiError(404, f"no document {doc_id!r} in the index", param="doc_id", code="document_not_found")
        return doc

    if not writes:
        return r

    def add(req: DocumentsRequest):
        check_count(len(req.documents), lim.max_documents, "document", "documents", "--max-documents")
        with state.write_lock:
            report = state.writer().add([d.model_dump() for d in req.documents], show_progress=False, export_onnx=False)
        return report.to_dict()

    def delete(req: DeleteRequest):
        check_count(len(req.ids), lim.max_documents, "id", "ids", "--max-documents")
        with state.write_lock:
            report = state.writer().remove(req.ids)
        return report.to_dict()

    r.post("/v1/documents", summary="Add or replace documents")(add)
    r.post("/v1/documents/delete", summary="Remove documents by id")(delete)
    r.post("/documents", tags=["legacy"], deprecated=True, summary="Add or replace documents (use /v1/documents)")(add)
    r.post("/documents/delete", tags=["legacy"], deprecated=True, summary="Remove documents (use /v1/documents/delete)")(delete)
    return r
