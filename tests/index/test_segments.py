"""The segmented index: updates cost what they change and answer exactly like a rebuild; merges change
nothing a search returns; kills during commits and merges leave a searchable index; readers keep
searching (and keep their files) while a writer merges; two processes share a memory-mapped index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from encoderkit import Index
from encoderkit.retrieval.dense import DenseParams
from support.corpus import QUERIES, WORDS, make_docs


def state(index: Index, modes=("bm25", "dense")) -> dict:
    """Every query's full chunk ranking per mode, as (doc id, chunk start, score) sorted by score then
    by (doc id, start): comparable between indexes whose chunk ids differ."""
    out = {}
    for mode in modes:
        for q in QUERIES:
            hits = index.search(q, mode=mode, by="chunk", k=1000, depth=1000)
            out[(mode, q)] = sorted(((h.doc_id, h.start, h.score) for h in hits), key=lambda t: (-round(t[2], 5), t[0], t[1]))
    for q in QUERIES:
        out[("hybrid", q)] = [(h.doc_id, round(h.score, 9)) for h in index.search(q, k=1000, depth=1000)]
    return out


def assert_same(a: dict, b: dict, tol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert [x[:2] for x in a[key]] == [x[:2] for x in b[key]], key
        assert np.allclose([x[-1] for x in a[key]], [x[-1] for x in b[key]], atol=tol, rtol=0), key


def documents(index: Index) -> dict:
    rows = ",".join(str(r) for r in index.doc_ids())
    sql = (
        "SELECT d.doc_id, GROUP_CONCAT(c.text, '|') FROM documents d JOIN chunks c ON c.doc = d.id "
        f"WHERE d.id IN ({rows}) GROUP BY d.doc_id"
    )
    return dict(index.store.conn.execute(sql).fetchall())


@pytest.mark.parametrize("method", ["lucene", "bm25+"])
def test_add_update_delete_sequences_equal_a_rebuild(tmp_path, tiny_encoder, method):
    settings = {"bm25": {"method": method}}
    index = Index.create(tmp_path / "inc", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4, retriever_settings=settings)
    index.set_merge_policy(factor=3, floor=4, max_deleted=0.25)
    live: dict[str, dict] = {}
    rng = np.random.default_rng(7)
    merged = 0
    for round_ in range(7):
        new = make_docs(6, seed=100 + round_, prefix=f"r{round_}-")
        changed = []
        for doc_id in sorted(live)[: 2 if round_ % 2 else 1]:  # replace some existing ones
            changed.append({**live[doc_id], "text": live[doc_id]["text"] + " " + " ".join(rng.choice(WORDS, 5))})
        report = index.add(new + changed, show_progress=False)
        merged += len(report.merges)
        live.update({d["id"]: d for d in new + changed})
        gone = [d for d in sorted(live) if rng.random() < 0.2][:3]
        if gone:
            report = index.remove(gone)
            assert report.segments_added == 0 and report.chunks_deleted > 0 and not report.full_build
            for d in gone:
                live.pop(d)
    assert merged > 0 and len(index.manifest["segments"]) > 1  # merges happened, and segments remain
    rebuilt = Index.create(tmp_path / "one", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4, retriever_settings=settings)
    rebuilt.add(list(live.values()))
    assert len(rebuilt.manifest["segments"]) == 1
    assert documents(index) == documents(rebuilt) and len(index) == len(live)
    assert_same(state(index), state(rebuilt))
    assert index.health(full=True).ok


def test_updates_write_only_what_changed(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    index.set_merge_policy(auto=False)
    index.add(make_docs(40, seed=1))
    first = index.manifest["segments"][0]
    files = {p: p.stat().st_mtime_ns for p in (index.path / first["name"]).rglob("*")}
    r = index.add([{"id": "d001", "text": "a changed document about glaciers"}, {"id": "new", "text": "volcano island"}])
    assert (r.updated, r.added, r.segments_added, r.chunks_encoded) == (1, 1, 1, 2) and not r.full_build
    segs = index.manifest["segments"]
    assert [s["name"] for s in segs] == [first["name"], "seg-000002"] and segs[1]["chunks"] == 2
    assert segs[0]["deleted"] > 0 and segs[0]["deletes"] == "del-000002.npy"
    assert {p: p.stat().st_mtime_ns for p in files} == files  # the first segment's files were not rewritten
    r = index.remove(["d002", "nothere"])
    assert r.removed == 1 and r.segments_added == 0 and r.chunks_encoded == 0
    assert index.manifest["segments"][0]["deletes"] == "del-000003.npy"
    assert not (index.path / first["name"] / "del-000002.npy").exists()  # the older marker was collected
    assert "d002" not in {h.doc_id for h in index.search("river", k=100)}


def test_merges_keep_results_identical(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    index.set_merge_policy(auto=False)
    for i in range(6):
        index.add(make_docs(8, seed=i, prefix=f"b{i}-"))
    index.remove([f"b{i}-00{j}" for i in range(6) for j in range(0, 8, 3)])
    before = state(index)
    chunks = index.manifest["counts"]["chunks"]
    report = index.optimize(max_segments=2)
    assert (report.segments_before, report.segments_after) == (6, 2)
    assert_same(state(index), before, tol=0)
    report = index.optimize()
    assert report.segments_after == 1 and index.manifest["segments"][0]["deleted"] == 0
    assert index.manifest["counts"]["chunks"] == chunks == index.manifest["segments"][0]["chunks"]
    assert_same(state(index), before, tol=0)
    assert sorted(p.name for p in index.path.glob("seg-*")) == [index.manifest["segments"][0]["name"]]
    assert index.health(full=True).ok and index.optimize().merges == []


def test_automatic_merges_keep_the_segment_count_logarithmic(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=0)
    index.set_merge_policy(factor=3, floor=2)
    for i in range(27):
        index.add([{"id": f"x{i}", "text": f"document {i} about " + " ".join(WORDS[i : i + 3])}])
    sizes = [s["chunks"] for s in index.manifest["segments"]]
    assert sum(sizes) == 27 and len(sizes) <= 6, sizes  # 27 one-chunk updates: a handful of segments


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "hnsw", "ann_min_chunks": 10},
        {"kind": "ivf", "ann_min_chunks": 10, "nprobe": 64},
        {"quantization": "int8"},
        {"quantization": "binary", "oversample": 50},
        {"quantization": "binary", "rescore": "int8", "oversample": 50},
        {"kind": "ivfpq", "ann_min_chunks": 10, "nprobe": 64, "pq_m": 4, "oversample": 50},
    ],
)
def test_dense_variants_search_segments_and_skip_deleted(tmp_path, tiny_encoder, params):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=0, dense=DenseParams(**params))
    index.set_merge_policy(auto=False)
    docs = make_docs(120, seed=5)
    index.add(docs[:80])
    index.add(docs[80:])
    target = docs[17]
    index.remove([docs[18]["id"]])
    top = index.search(f"{target['title']} {target['text']}", mode="dense", k=3)
    assert top[0].doc_id == target["id"] and top[0].score == pytest.approx(1.0, abs=0.02)
    found = {h.doc_id for h in index.search(f"{docs[18]['title']} {docs[18]['text']}", mode="dense", k=120, depth=120)}
    assert docs[18]["id"] not in found
    seg = index.path / index.manifest["segments"][0]["name"] / "dense"
    meta = json.loads((seg / "dense.json").read_text())
    assert meta["built"] == params.get("kind", "flat") and meta["quantization"] == params.get("quantization", "none")
    assert index.health(full=True).ok
    index.optimize()
    assert index.search(f"{target['title']} {target['text']}", mode="dense", k=1)[0].doc_id == target["id"]


def test_binary_rescoring_recall_against_exact(tmp_path, tiny_encoder):
    from encoderkit.retrieval.dense import DenseIndex

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(60, 256)).astype(np.float32)  # clustered, as embeddings of real text are
    x = np.repeat(centers, 50, axis=0) + 0.8 * rng.normal(size=(3000, 256)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = centers[:50] + 0.8 * rng.normal(size=(50, 256)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = DenseIndex.build(x, DenseParams())
    binary = DenseIndex.build(x, DenseParams(quantization="binary", oversample=20))
    recall = np.mean(
        [len(set(a[0].tolist()) & set(b[0].tolist())) / 10 for a, b in zip(exact.search(q, 10), binary.search(q, 10))]
    )
    assert recall >= 0.9
    same = [(a, b) for a, b in zip(exact.search(q, 10), binary.search(q, 10)) if a[0][0] == b[0][0]]
    assert len(same) >= 45 and all(a[1][0] == b[1][0] for a, b in same)  # rescored with the float vectors: exact scores


def test_vectors_are_memory_mapped(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=0)
    index.add(make_docs(20, seed=2))
    snap = index.snapshot()
    dense = snap.retrievers["dense"].parts[0].retriever
    bm25 = snap.retrievers["bm25"].parts[0].retriever
    assert isinstance(dense.index.vectors, np.memmap) and isinstance(bm25.postings.docs, np.memmap)


# ---------------------------------------------------------------------------------------------- processes
READER = textwrap.dedent("""
    import json, sys, time
    from encoderkit import Index
    path, queries, out, rounds = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4], int(sys.argv[5])
    expected = json.load(open(sys.argv[3]))
    index = Index.open(path, readonly=True)
    seen, bad, gens = 0, [], set()
    print("READY", flush=True)
    for r in range(rounds):
        for q in queries:
            got = [[h.doc_id, round(h.score, 5)] for h in index.search(q, k=10)]
            gens.add(index.generation)
            seen += 1
            if got != expected[q]:
                bad.append([q, got])
    json.dump({"seen": seen, "bad": bad, "generations": sorted(gens)}, open(out, "w"))
""")


def _spawn_reader(tmp_path, path, expected, rounds, name="reader"):
    script = tmp_path / "reader.py"
    script.write_text(READER)
    exp = tmp_path / f"{name}-expected.json"
    exp.write_text(json.dumps(expected))
    out = tmp_path / f"{name}.json"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), json.dumps(QUERIES), str(exp), str(out), str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ENCODERKIT_QUIET": "1", "ENCODERKIT_THREADS": "1"},
    )
    assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
    return proc, out


def _results(index):
    return {q: [[h.doc_id, round(h.score, 5)] for h in index.search(q, k=10)] for q in QUERIES}


def test_readers_keep_searching_during_merges(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    index.set_merge_policy(auto=False)
    for i in range(8):
        index.add(make_docs(10, seed=20 + i, prefix=f"m{i}-"))
    index.remove([f"m{i}-00{j}" for i in range(8) for j in (1, 4)])
    expected = _results(index)
    readers = [_spawn_reader(tmp_path, index.path, expected, rounds=40, name=f"r{n}") for n in range(2)]
    for target in (6, 4, 2, 1):
        index.optimize(max_segments=target)
    for proc, _ in readers:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    for _, out in readers:
        res = json.loads(out.read_text())
        assert res["seen"] == 40 * len(QUERIES) and res["bad"] == []
    assert _results(index) == expected
    index.add([{"id": "late", "text": "a late note on comets"}])  # the next commit collects what readers held
    names = {s["name"] for s in index.manifest["segments"]}
    assert {p.name for p in index.path.glob("seg-*")} == names


def test_a_held_generation_keeps_its_files_until_released(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=0)
    index.set_merge_policy(auto=False)
    index.add(make_docs(10, seed=1))
    index.add(make_docs(10, seed=2, prefix="e"))
    reader = Index.open(index.path, readonly=True)
    before = _results(reader)
    old = {s["name"] for s in reader.manifest["segments"]}
    index.optimize()
    assert all((index.path / name).is_dir() for name in old)  # the reader's generation is held
    assert _results(reader) == before  # ... and it moves to the merged segment by itself
    index.add([{"id": "z", "text": "glacier"}])
    assert not any((index.path / name).exists() for name in old)
    reader.close()


def test_two_processes_search_one_memory_mapped_index(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    index.add(make_docs(60, seed=3))
    expected = _results(index)
    readers = [_spawn_reader(tmp_path, index.path, expected, rounds=30, name=f"p{n}") for n in range(2)]
    for proc, out in readers:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        res = json.loads(out.read_text())
        assert res["bad"] == [] and res["generations"] == [index.generation]
