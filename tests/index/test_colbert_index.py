"""The colbert retriever in a segmented index: search modes, updates as new segments, merges that keep
the largest part's centroids (equal to a build with those centroids), recluster, reranking from stored
vectors across segments, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit import Index
from encoderkit.index.write.commit import ChunkReader
from encoderkit.retrieval.base import ChunkSet
from encoderkit.retrieval.colbert.retriever import ColBERTRetriever

TOPICS = ["cats purr and nap", "rivers flow to the sea", "vaccines train immunity", "tax law for companies", "green tea brewing"]


def docs(start: int, n: int, tag: str = "") -> list[dict]:
    return [
        {
            "id": f"d{i}",
            "title": f"doc {i}",
            "text": f"{TOPICS[i % 5]} {tag} item {i}. " + " ".join(TOPICS[(i * 3) % 5].split()[:2]),
        }
        for i in range(start, start + n)
    ]


def make_index(path, encoder, model_dir, **colbert):
    return Index.create(
        path,
        encoder=encoder,
        retrievers=["bm25", "dense", "colbert"],
        retriever_settings={"colbert": {"model": str(model_dir), **colbert}},
    )


def retriever_of(index: Index) -> ColBERTRetriever:
    return index.snapshot().retrievers["colbert"]


def test_colbert_in_an_index_modes_stats_and_bad_inputs(tmp_path, tiny_encoder, tiny_colbert_dir):
    index = make_index(tmp_path / "ix", tiny_encoder, tiny_colbert_dir)
    index.add(docs(0, 30) + [{"id": "punct", "text": "!!! ... ,,, ???"}], export_onnx=False)
    assert index.retrievers == ["bm25", "dense", "colbert"] and len(index) == 31
    hits = index.search("cats purr", mode="colbert", k=3)
    assert len(hits) == 3 and set(hits[0].stages) == {"colbert"}
    three = index.search("cats purr", mode="bm25+dense+colbert", k=5)
    assert set(three[0].stages) <= {"bm25", "dense", "colbert"} and "colbert" in three[0].stages
    assert index.search("cats purr", k=5)[0].stages.keys() == three[0].stages.keys()  # hybrid = all three
    weighted = index.search("cats purr", mode="bm25+colbert", fusion="weighted", weights={"colbert": 2.0}, k=5)
    assert 0 <= weighted[0].score <= 1
    long = index.search("tea " * 300, mode="colbert", k=2)  # longer than the 32-token query limit: truncated
    assert len(long) == 2
    assert "punct" in {h.doc_id for h in index.search("???", mode="colbert", k=40)}  # all-punctuation doc is indexed
    st = index.manifest["build"]["retriever_stats"]["colbert"]
    assert st["chunks"] == 31 and st["nbits"] == 2 and st["bytes_per_token"] == 2 + 16 * 2 // 8
    assert st["drift"]["drift"] == 0 and not st["drift"]["recluster_recommended"]
    assert (index.path / index.manifest["segments"][0]["name"] / "colbert" / "codes.npy").is_file()


def live_chunk_set(index: Index, retriever: ColBERTRetriever) -> ChunkSet:
    ids = np.array([r[0] for r in index.store.chunk_rows(index.generation)], np.int64)
    return ChunkReader(index.store).chunk_set(retriever, ids)


def test_updates_add_segments_and_merges_keep_the_largest_parts_centroids(tmp_path, tiny_encoder, tiny_colbert_dir):
    index = make_index(tmp_path / "ix", tiny_encoder, tiny_colbert_dir, search="plaid", nprobe=4)
    index.set_merge_policy(auto=False)
    index.add(docs(0, 40), export_onnx=False)
    first = index.manifest["segments"][0]["name"]
    codec_before = retriever_of(index).parts[0].retriever.index.codec
    report = index.add(docs(40, 6, "new") + docs(5, 1, "changed"), export_onnx=False)  # 6 new, 1 replaced
    assert set(report.incremental) == {"bm25", "dense", "colbert"} and len(index.manifest["segments"]) == 2
    report = index.remove(["d7", "d12", "d41"])
    assert set(report.incremental) == {"bm25", "dense", "colbert"} and index.manifest["segments"][0]["name"] == first
    before = {q: [(h.doc_id, round(h.score, 4)) for h in index.search(q, mode="colbert", k=8)] for q in ("cats purr", "new item")}
    assert index.optimize().segments_after == 1
    live = retriever_of(index).parts[0].retriever
    assert np.array_equal(live.index.codec.centroids, codec_before.centroids)  # kept, not retrained
    drift = index.manifest["build"]["retriever_stats"]["colbert"]["drift"]
    assert drift["tokens_added_since_training"] > 0 and live.stats()["drift"]["tokens_added_since_training"] > 0
    # a build from every live chunk's stored payload with the same centroids gives the same structure
    fresh = ColBERTRetriever(live.settings, index.context)
    fresh.build(live_chunk_set(index, fresh), codec=live.index.codec)
    assert np.array_equal(fresh.ids, live.ids)
    for name in ("codes", "residuals", "doclens", "ivf_docs", "ivf_offsets"):
        assert np.array_equal(np.asarray(getattr(fresh.index, name)), np.asarray(getattr(live.index, name))), name
    queries = ["cats purr", "rivers sea", "tax companies", "new item", "vaccines"]
    assert [(a.tolist(), b.tolist()) for a, b in fresh.search(queries, 8)] == [
        (a.tolist(), b.tolist()) for a, b in live.search(queries, 8)
    ]
    after = {q: [h.doc_id for h in index.search(q, mode="colbert", k=8)] for q in before}
    assert all(len(after[q]) == len(before[q]) for q in before)


def test_recluster_growth_and_settings(tmp_path, tiny_encoder, tiny_colbert_dir):
    index = make_index(tmp_path / "ix", tiny_encoder, tiny_colbert_dir)
    index.set_merge_policy(auto=False)
    index.add(docs(0, 10), export_onnx=False)
    assert retriever_of(index).parts[0].retriever.meta["codec_trained_on_chunks"] == 10
    index.add(docs(10, 8), export_onnx=False)
    index.add(docs(18, 8), export_onnx=False)
    index.optimize()  # 26 > 2 x 10 (the largest part's centroids): the merged segment's are retrained
    assert retriever_of(index).parts[0].retriever.meta["codec_trained_on_chunks"] == 26
    report = index.sync([], recluster=True)  # forced: every retriever rebuilt from payloads, nothing encoded
    assert report.committed and report.incremental == [] and report.chunks_encoded == 0
    index.reconfigure(retriever_settings={"colbert": {"nprobe": 3}})  # a search setting: nothing rebuilt
    assert not index.sync([]).full_build
    index.reconfigure(retriever_settings={"colbert": {"nbits": 1}})  # a build setting: rebuilt, not re-encoded
    report = index.sync([])
    assert report.full_build and report.payloads_filled == 0
    assert index.manifest["build"]["retriever_stats"]["colbert"]["bytes_per_token"] == 2 + 2
    index.reconfigure(retriever_settings={"colbert": {"pool_factor": 2, "nbits": 0}})
    index.sync([])
    st = index.manifest["build"]["retriever_stats"]["colbert"]
    assert st["pool_factor"] == 2 and st["bytes_per_token"] == 2 + 32
    assert len(index.search("cats purr", mode="colbert", k=3)) == 3


def test_rerank_with_stored_vectors_or_encoded_on_the_fly(tmp_path, tiny_encoder, tiny_colbert_dir, tiny_colbert, monkeypatch):
    from encoderkit.models.heads.colbert import ColBERT

    index = make_index(tmp_path / "ix", tiny_encoder, tiny_colbert_dir, nbits=0)  # float16: scores comparable
    index.set_merge_policy(auto=False)
    index.add(docs(0, 12), export_onnx=False)
    index.add(docs(12, 8), export_onnx=False)  # two segments: each chunk is re-scored by the one holding it
    assert len(index.manifest["segments"]) == 2
    reranker = ColBERT.load(tiny_colbert_dir)
    calls = []
    monkeypatch.setattr(reranker, "score", lambda q, p: calls.append(len(p)) or np.zeros(len(p), np.float32))
    hits = index.search("cats purr", mode="bm25", reranker=reranker, rerank_depth=10, k=10)
    assert not calls and all("rerank" in h.stages for h in hits[:5])  # the index's own vectors were used
    texts = index.chunk_texts([h.chunk_id for h in hits[:5]])
    direct = tiny_colbert.score("cats purr", [texts[h.chunk_id] for h in hits[:5]])
    stored = np.array([h.stages["rerank"]["score"] for h in hits[:5]])
    np.testing.assert_allclose(stored, direct, atol=0.05)
    other = make_index(tmp_path / "ix2", tiny_encoder, tiny_colbert_dir)
    other.add(docs(0, 5), export_onnx=False)
    other.reconfigure(retrievers=["bm25", "dense"])  # no colbert vectors: encoded on the fly
    other.sync([])
    other.search("cats", mode="bm25", reranker=reranker, k=3)
    assert calls


def test_bad_colbert_settings_and_missing_model(tmp_path, tiny_encoder, tiny_colbert_dir):
    from encoderkit.errors import EncoderkitError

    with pytest.raises(EncoderkitError, match="nbits 3"):
        make_index(tmp_path / "a", tiny_encoder, tiny_colbert_dir, nbits=3)
    with pytest.raises(EncoderkitError, match="unknown colbert retriever setting"):
        make_index(tmp_path / "b", tiny_encoder, tiny_colbert_dir, bits=2)
    index = make_index(tmp_path / "c", tiny_encoder, tmp_path / "nowhere")
    with pytest.raises(EncoderkitError, match="ColBERT model .* unavailable"):
        index.add(docs(0, 3), export_onnx=False)
