"""kill -9 in the middle of a ColBERT update (while the new segment's compressed index is being written):
the index still searches at its last committed generation, and the next run finishes the update with
the result a clean run gives."""

from __future__ import annotations

from conftest import write
from encoderkit import Index
from support.children import _run_child


def _corpus(root, n, tag):
    for i in range(n):
        write(root / f"doc{i:03d}.txt", f"document {i} about {tag} number {i} " + "filler words " * 10)


def test_kill_during_colbert_update_then_search_and_finish(tmp_path, tiny_encoder, tiny_colbert_dir):
    src = tmp_path / "docs"
    _corpus(src, 30, "apples")
    index = Index.create(
        tmp_path / "ix",
        encoder=tiny_encoder,
        retrievers=["bm25", "dense", "colbert"],
        retriever_settings={"colbert": {"model": str(tiny_colbert_dir)}},
    )
    index.sync([src], export_onnx=False)
    before = [(h.doc_id, h.score) for h in index.search("apples number 3", mode="colbert", k=5)]
    for i in range(30, 36):  # a few new documents: the commit writes a new segment
        write(src / f"doc{i:03d}.txt", f"document {i} about bananas number {i}")
    run = f"from encoderkit import Index; Index.open({str(index.path)!r}).sync([{str(src)!r}], export_onnx=False)"
    proc = _run_child(tmp_path, "encoderkit.retrieval.colbert.plaid:PlaidIndex.encode", 1, run)
    proc.kill()
    proc.wait()
    reader = Index.open(index.path)
    assert reader.generation == 1 and len(reader) == 30
    assert [(h.doc_id, h.score) for h in reader.search("apples number 3", mode="colbert", k=5)] == before
    report = reader.sync([src], export_onnx=False)
    assert report.committed and report.added == 6 and report.resumed == 6 and report.chunks_encoded == 0
    assert "colbert" in report.incremental
    hits = reader.search("bananas", mode="bm25+colbert", k=40)
    assert len(reader) == 36 and {f"doc{i:03d}" for i in range(30, 36)} <= {h.doc_id.rsplit("/", 1)[-1][:6] for h in hits}
