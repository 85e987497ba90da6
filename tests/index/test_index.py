import json
import sqlite3

import numpy as np
import pytest

from conftest import make_tiny_model, write
from encoderkit import Encoder, Index
from encoderkit.data.files.sources import SourceDoc
from encoderkit.errors import EncoderkitError
from encoderkit.index.write.plan import plan_update
from encoderkit.retrieval.dense import DenseParams

DOCS = [
    {"id": "cats", "title": "Cats", "text": "Cats purr when they are content and sleep most of the day."},
    {"id": "dogs", "title": "Dogs", "text": "Dogs bark at strangers and love long walks in the park."},
    {"id": "python", "title": "Python", "text": "Python is a programming language with readable syntax."},
    {"id": "tea", "title": "Tea", "text": "Green tea is brewed at a lower temperature than black tea."},
]


@pytest.fixture
def idx(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add(DOCS)
    yield index
    index.close()


def test_add_and_search_all_modes(idx):
    assert len(idx) == 4 and idx.generation == 1
    assert idx.search("why does my dog bark", mode="bm25")[0].doc_id == "dogs"
    # identical text -> identical vector -> cosine 1: dense must rank it first even with a random model
    # (the title is not prepended here because the text already starts with it)
    top = idx.search(DOCS[2]["text"], mode="dense", k=4)
    assert top[0].doc_id == "python" and top[0].score == pytest.approx(1.0, abs=1e-4)
    hits = idx.search("green tea temperature", mode="hybrid", k=4)
    assert hits[0].doc_id == "tea"
    assert set(hits[0].stages) == {"bm25", "dense"} and hits[0].stages["bm25"]["rank"] == 1
    assert hits[0].score == pytest.approx(1 / 61 + 1 / (60 + hits[0].stages["dense"]["rank"]))
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert hits[0].text in DOCS[3]["text"] and hits[0].title == "Tea"


def test_one_result_per_document_unless_chunks(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=16, chunk_overlap=2)
    long = " ".join(["gravity bends light near massive stars."] * 12)
    index.add([{"id": "long", "text": long}, {"id": "short", "text": "gravity is weak."}])
    docs = index.search("gravity light", mode="bm25", k=10)
    assert [h.doc_id for h in docs].count("long") == 1
    chunks = index.search("gravity light", mode="bm25", k=10, by="chunk")
    assert [h.doc_id for h in chunks].count("long") > 1
    assert all(long[h.start : h.end] == h.text for h in chunks if h.doc_id == "long")


def test_update_replace_remove(idx):
    r = idx.add([dict(DOCS[0]), {"id": "dogs", "title": "Dogs", "text": "Dogs howl at the moon."}])
    assert (r.unchanged, r.updated, r.added) == (1, 1, 0) and r.generation == 2
    assert idx.search("howl moon", mode="bm25")[0].doc_id == "dogs"
    assert all("bark" not in h.text for h in idx.search("bark strangers", mode="bm25"))
    r = idx.remove(["tea", "not-there"])
    assert r.removed == 1 and len(idx) == 3
    assert "tea" not in {h.doc_id for h in idx.search("tea", mode="hybrid", k=10)}
    r = idx.add(DOCS[:1])
    assert r.unchanged == 1 and not r.committed and idx.generation == 3


def test_api_input_validation(idx):
    with pytest.raises(EncoderkitError, match="duplicate document id 'a'"):
        idx.add([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(EncoderkitError, match="no text"):
        idx.add([{"id": "a"}])
    with pytest.raises(EncoderkitError, match="is empty"):
        idx.add([{"id": "a", "text": "  "}])
    with pytest.raises(EncoderkitError, match="empty query"):
        idx.search("  ")
    with pytest.raises(EncoderkitError, match="unknown search mode"):
        idx.search("x", mode="sparse")
    assert len(idx) == 4  # nothing lost


def test_folder_sync_is_incremental(tmp_path, tiny_encoder):
    src = tmp_path / "docs"
    write(src / "a.md", "# Alpha\nThe alpha document talks about rivers.")
    write(src / "b.txt", "The beta document talks about mountains.")
    write(src / "c.txt", "The gamma document talks about deserts.")
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    r = index.sync([src])
    assert r.added == 3 and r.chunks_encoded == 3
    r = index.sync([src])
    assert (r.unchanged, r.chunks_encoded, r.committed) == (3, 0, False)
    write(src / "b.txt", "The beta document now talks about glaciers.")
    (src / "c.txt").unlink()
    write(src / "d.rst", "Delta\n=====\n\nThe delta document talks about oceans.")
    r = index.sync([src])
    assert (r.added, r.updated, r.removed, r.unchanged, r.chunks_encoded) == (1, 1, 1, 1, 2)
    assert index.search("glaciers", mode="bm25")[0].path.endswith("b.txt")
    assert index.search("deserts", mode="bm25") == []
    # a file that becomes unreadable keeps its previous version (nothing indexed is lost)
    write(src / "a.md", b"\x00binary now")
    r = index.sync([src])
    assert r.kept_previous and index.search("rivers", mode="bm25")[0].path.endswith("a.md")
    # syncing another root never removes documents from the first
    other = write(tmp_path / "other" / "e.txt", "epsilon talks about forests")
    r = index.sync([other.parent])
    assert r.added == 1 and r.removed == 0 and len(index) == 4
    r = index.sync([src], rebuild=True)
    assert r.chunks_encoded == 2 and r.updated == 2  # a.md kept (unreadable), b and d re-encoded


def test_reopen_uses_manifest_and_checks_encoder(idx, tmp_path, tiny_model_dir):
    path = idx.path
    m = json.loads((path / "manifest.json").read_text())
    assert m["format_version"] == 3 and m["model"]["pooling"] == "mean" and m["model"]["normalize"] is True
    assert [seg["name"] for seg in m["segments"]] == ["seg-000001"] and m["segments"][0]["chunks"] == 4
    settings = {r["name"]: r["settings"] for r in m["retrievers"]}
    assert m["chunking"]["size"] == 32 and settings["bm25"]["method"] == "lucene" and m["counts"]["documents"] == 4
    assert [r["name"] for r in m["retrievers"]] == ["bm25", "dense"] and settings["dense"]["kind"] == "flat"
    reopened = Index.open(path)
    assert reopened.search("bark", mode="bm25")[0].doc_id == "dogs"
    assert reopened.encoder.fingerprint == idx.encoder.fingerprint
    other = Encoder.load(make_tiny_model(tmp_path / "other", seed=7))
    with pytest.raises(EncoderkitError, match="fingerprint"):
        Index.open(path, encoder=other)
    with pytest.raises(EncoderkitError, match="pooling"):
        Index.open(path, encoder=Encoder.load(tiny_model_dir, pooling="cls"))


def test_rebuild_with_other_model(idx, tmp_path):
    other = Encoder.load(make_tiny_model(tmp_path / "other", seed=3))
    idx.reconfigure(other)
    with pytest.raises(EncoderkitError, match="--rebuild"):
        idx.add([{"id": "new", "text": "a new document"}])
    assert len(idx) == 4
    r = idx.sync([], rebuild=True)  # nothing from disk: re-encode nothing, but settings switch
    assert r.committed
    reopened = Index.open(idx.path)
    assert reopened.manifest["model"]["fingerprint"] == other.fingerprint


def test_errors_opening_bad_indexes(tmp_path, idx):
    with pytest.raises(EncoderkitError, match="does not exist"):
        Index.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderkitError, match="not an encoderkit index"):
        Index.open(tmp_path / "empty")
    manifest = idx.path / "manifest.json"
    good = manifest.read_text()
    manifest.write_text(good.replace('"format_version": 3', '"format_version": 99'))
    with pytest.raises(EncoderkitError, match="format version 99, newer than"):
        Index.open(idx.path)
    manifest.write_text(good[:50])
    with pytest.raises(EncoderkitError, match="corrupted"):
        Index.open(idx.path)
    manifest.write_text(good)
    (idx.path / "index.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EncoderkitError, match="index.db is corrupted"):
        Index.open(idx.path)


def test_damaged_artifacts_and_missing_model(tmp_path, tiny_model_dir):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    index = Index.create(tmp_path / "ix", encoder=Encoder.load(model))
    index.add(DOCS)
    (index.path / index.manifest["segments"][0]["name"] / "dense" / "vectors.npy").write_bytes(b"garbage")
    with pytest.raises(EncoderkitError, match="damaged"):
        Index.open(index.path).search("cats")
    shutil.rmtree(model)
    with pytest.raises(EncoderkitError, match="model this index was built with is missing"):
        _ = Index.open(index.path).encoder


def test_create_refuses_existing(tmp_path, idx, tiny_encoder):
    with pytest.raises(EncoderkitError, match="already exists"):
        Index.create(idx.path, encoder=tiny_encoder)
    write(tmp_path / "full" / "x.txt", "x")
    with pytest.raises(EncoderkitError, match="not an empty folder"):
        Index.create(tmp_path / "full", encoder=tiny_encoder)


def test_second_writer_is_refused(idx):
    import fcntl

    with open(idx.path / "write.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        other = Index.open(idx.path)
        with pytest.raises(EncoderkitError, match="being updated by another process"):
            other.add([{"id": "x", "text": "y"}])
        assert other.search("cats", mode="bm25")  # reading is never blocked


def test_reader_sees_new_generation(idx):
    reader = Index.open(idx.path)
    assert reader.search("howl", mode="bm25") == []
    idx.add([{"id": "wolf", "text": "Wolves howl."}])
    assert reader.search("howl", mode="bm25")[0].doc_id == "wolf"


def test_empty_index_search(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    assert index.search("anything") == []


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_dense_indexes(tmp_path, tiny_encoder, kind):
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    docs = [{"id": str(i), "text": " ".join(rng.choice(words, 12))} for i in range(200)]
    index = Index.create(tmp_path / kind, encoder=tiny_encoder, dense=DenseParams(kind=kind, nprobe=64, ann_min_chunks=50))
    index.add(docs)
    top = Index.open(index.path).search(docs[17]["text"], mode="dense", k=1)
    assert top[0].score == pytest.approx(1.0, abs=1e-4)  # duplicates may tie; the score must be exact
    seg = index.path / index.manifest["segments"][0]["name"] / "dense"
    assert (seg / "index.faiss").is_file() and json.loads((seg / "dense.json").read_text())["built"] == kind


def test_plan_update_is_pure_and_resumes():
    visible = {
        "a": {"id": 1, "content_hash": "h1", "settings_key": "k"},
        "b": {"id": 2, "content_hash": "h2", "settings_key": "k"},
    }
    a = SourceDoc("a", "text a", content_hash="h1")
    b2 = SourceDoc("b", "text b2", content_hash="h2b")
    c = SourceDoc("c", "text c", content_hash="h3")
    pending = {("c", "h3", "k"): 10, ("z", "hz", "k"): 11}
    plan = plan_update([a, b2, c], {"gone"}, visible, pending, "k")
    assert plan.unchanged == 1 and plan.updated == 1 and plan.added == 1 and plan.resumed == 1
    assert [d.doc_id for d in plan.encode] == ["b"] and plan.keep_pending == {10}
    assert plan.remove_rows == [2] and plan.drop_pending == [11]
    plan = plan_update([a], {"b"}, visible, {}, "k2")  # settings changed: nothing reusable
    assert [d.doc_id for d in plan.encode] == ["a"] and plan.removed == 1


def test_no_pickle_on_disk(idx):
    for f in idx.path.rglob("*.npy"):
        np.load(f, allow_pickle=False)  # raises if an object array had been pickled
    con = sqlite3.connect(idx.path / "index.db")
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"


def test_parallel_first_stages_equal_serial(idx, monkeypatch):
    """Hybrid search runs its first stages in threads; the rankings are exactly those of running them
    one after the other, also for several queries at once and under concurrent searches."""
    from concurrent.futures import ThreadPoolExecutor

    from encoderkit.retrieval import pipeline

    queries = ["green tea temperature", "why does my dog bark", "python lists", "tea"]

    def run():
        return [[(h.doc_id, round(h.score, 6), sorted(h.stages)) for h in idx.search(q, mode="hybrid", k=4)] for q in queries]

    monkeypatch.setenv("ENCODERKIT_PARALLEL_STAGES", "0")
    assert not pipeline.parallel_stages(2)
    serial = run()
    monkeypatch.setenv("ENCODERKIT_PARALLEL_STAGES", "1")
    monkeypatch.setattr(pipeline, "parallel_stages", lambda n: n > 1)  # also on a one-core runner
    assert run() == serial
    with ThreadPoolExecutor(4) as pool:  # searches from several request threads share the stage pool
        assert all(r == serial for r in pool.map(lambda _: run(), range(8)))


def test_summary_and_info_report_the_same_size(tmp_path, tiny_model_dir, capsys):
    """The size after `index` (write-ahead log not yet folded in, a reader lease) differed from `info`'s."""
    from conftest import run_cli

    write(tmp_path / "docs" / "a.txt", "Rivers run to the sea. " * 40)
    ix = tmp_path / "ix"
    for extra in ("first", "second"):  # a new index, then an incremental update
        write(tmp_path / "docs" / f"{extra}.md", f"# {extra}\n" + "Mountains rise above the plain. " * 30)
        code, out, err = run_cli(
            capsys, "index", tmp_path / "docs", "--index", ix, "--model", tiny_model_dir, "--no-onnx", "--json"
        )
        assert code == 0, err
        after_index = json.loads(out)["totals"]["size_bytes"]
        code, out, err = run_cli(capsys, "info", "--index", ix, "--json")
        info = json.loads(out)
        assert code == 0 and info["stats"]["size_bytes"] == after_index == info["footprint"]["disk_total"]
