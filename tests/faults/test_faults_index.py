"""Fault injection, the index: damaged artifacts are detected and repaired from the store without
re-encoding, malformed manifests are one-line errors, full disks lose nothing, kills during repair
are safe, output is safe for terminals and JSON (issue #15, items 4-7)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli, write
from encoderkit import Index
from encoderkit.errors import EncoderkitError

pytestmark = pytest.mark.faults

DOCS = [
    {"id": "cats", "title": "Cats", "text": "Cats purr when they are content and sleep most of the day."},
    {"id": "dogs", "title": "Dogs", "text": "Dogs bark at strangers and love long walks in the park."},
    {"id": "python", "title": "Python", "text": "Python is a programming language with readable syntax."},
    {"id": "tea", "title": "Tea", "text": "Green tea is brewed at a lower temperature than black tea."},
]
QUERIES = ["bark park", "readable language", "green tea", "sleep"]


def _results(index):
    return [[h.doc_id for h in index.search(q, k=4)] for q in QUERIES]


@pytest.fixture
def built(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add(DOCS + [{"id": "gone", "text": "A document about barking parks, deleted later."}])
    index.remove(["gone"])  # the segment gets a deletion marker (del-000002.npy)
    baseline = _results(index)
    index.close()
    return tmp_path / "ix", baseline


def _gen(path):
    """The first segment's folder (what the damage cases below overwrite)."""
    return path / json.loads((path / "manifest.json").read_text())["segments"][0]["name"]


def _npy(path, array):
    np.save(path, array, allow_pickle=False)


DAMAGE = {
    "vectors truncated": lambda g: (g / "dense/vectors.npy").write_bytes((g / "dense/vectors.npy").read_bytes()[:200]),
    "vectors garbage": lambda g: (g / "dense/vectors.npy").write_bytes(os.urandom((g / "dense/vectors.npy").stat().st_size)),
    "vectors NaN": lambda g: _npy(g / "dense/vectors.npy", np.full(np.load(g / "dense/vectors.npy").shape, np.nan, "float32")),
    "vectors scaled (same size)": lambda g: _npy(g / "dense/vectors.npy", np.load(g / "dense/vectors.npy") * 3),
    "vectors wrong dimension": lambda g: _npy(g / "dense/vectors.npy", np.ones((4, 7), "float32") / np.sqrt(7)),
    "vectors deleted": lambda g: (g / "dense/vectors.npy").unlink(),
    "chunk_docs zeroed": lambda g: _npy(g / "chunk_docs.npy", np.zeros_like(np.load(g / "chunk_docs.npy"))),
    "chunk_ids shuffled": lambda g: _npy(g / "chunk_ids.npy", np.load(g / "chunk_ids.npy")[::-1].copy()),
    "chunk_ids deleted": lambda g: (g / "chunk_ids.npy").unlink(),
    "bm25 postings overwritten (same size)": lambda g: _npy(
        g / "bm25/postings_docs.npy", np.load(g / "bm25/postings_docs.npy") + 1000
    ),
    "bm25 counts overwritten (same size)": lambda g: _npy(g / "bm25/postings_tfs.npy", np.load(g / "bm25/postings_tfs.npy") * 0),
    "bm25 vocab garbage": lambda g: (g / "bm25/terms.bin").write_text("{not json"),
    "bm25 term hashes deleted": lambda g: (g / "bm25/term_hashes.npy").unlink(),
    "deletion marker overwritten (same size)": lambda g: _npy(g / "del-000002.npy", np.array([0], np.int32)),
    "segment folder deleted": lambda g: shutil.rmtree(g),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_detected_then_repaired_without_reencoding(built, damage, capsys, monkeypatch):
    path, baseline = built
    DAMAGE[damage](_gen(path))
    with pytest.raises(EncoderkitError) as err:
        Index.open(path).search("bark", k=3)
    msg = str(err.value)
    assert "is damaged" in msg and "--repair" in msg and "\n" not in msg
    code, out, _ = run_cli(capsys, "verify", "--index", path)
    assert code == 1 and "DAMAGED" in out and "--repair" in out
    code, out, _ = run_cli(capsys, "info", "--index", path)
    assert code == 0 and "DAMAGED" in out
    code, out, _ = run_cli(capsys, "verify", "--index", path, "--json")
    assert code == 1 and json.loads(out)["ok"] is False and json.loads(out)["problems"]
    from encoderkit.models.heads.encoder import Encoder

    monkeypatch.setattr(Encoder, "encode", lambda *a, **k: pytest.fail("repair must not re-encode"))
    code, out, err_ = run_cli(capsys, "index", "--index", path, "--repair")
    assert code == 0 and "nothing re-encoded" in out, err_
    monkeypatch.undo()
    with Index.open(path) as index:
        assert _results(index) == baseline
        assert index.health(full=True).ok
    assert run_cli(capsys, "verify", "--index", path)[0] == 0
    code, out, _ = run_cli(capsys, "info", "--index", path, "--json")
    assert code == 0 and json.loads(out)["health"]["ok"] is True


def test_update_with_nothing_new_repairs_instead_of_saying_up_to_date(built, tmp_path, capsys):
    path, baseline = built
    src = write(tmp_path / "docs" / "a.txt", "a note about herons")
    with Index.open(path) as index:
        index.sync([src.parent])
        baseline = _results(index)
    DAMAGE["vectors NaN"](_gen(path))
    code, out, _ = run_cli(capsys, "index", src.parent, "--index", path, "--no-onnx")
    assert code == 0 and "repaired" in out and "up to date" not in out
    with Index.open(path) as index:
        assert _results(index) == baseline


MANIFEST_DAMAGE = {
    "missing key": (lambda m: m.pop("counts"), "'counts' is missing"),
    "wrong type": (lambda m: m.update(generation="3"), "'generation' should be an integer"),
    "nested wrong type": (lambda m: m["model"].update(dim=None), "'model.dim' should be an integer"),
    "artifacts escapes the folder": (lambda m: m.update(artifacts="../../etc"), "'artifacts' should name"),
    "retrievers not a list": (lambda m: m.update(retrievers={"bm25": {}}), "'retrievers' should be a list"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_DAMAGE))
def test_malformed_manifest_is_one_line_and_repairable(built, case, capsys):
    path, baseline = built
    m = json.loads((path / "manifest.json").read_text())
    change, expected = MANIFEST_DAMAGE[case]
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))
    code, _, err = run_cli(capsys, "search", "bark", "--index", path)
    assert code == 2 and expected in err and "--repair" in err and err.count("\n") == 1
    code, out, err = run_cli(capsys, "index", "--index", path, "--repair")
    assert code == 0 and "rewritten from the copy" in out, err
    with Index.open(path) as index:
        assert _results(index) == baseline


@pytest.mark.parametrize("content", [b"", b"\x00\xff garbage \xfe", b"[1, 2, 3]", b'{"format": "encoderkit-index"'])
def test_garbage_or_deleted_manifest_is_recovered(built, content, capsys):
    path, baseline = built
    (path / "manifest.json").write_bytes(content)
    code, _, err = run_cli(capsys, "info", "--index", path)
    assert code == 2 and "--repair" in err and "Traceback" not in err
    (path / "manifest.json").unlink()
    code, _, err = run_cli(capsys, "search", "bark", "--index", path)
    assert code == 2 and "lost its manifest.json" in err
    assert run_cli(capsys, "index", "--index", path, "--repair")[0] == 0
    with Index.open(path) as index:
        assert _results(index) == baseline


def test_future_version_says_upgrade(built, capsys):
    path, _ = built
    m = json.loads((path / "manifest.json").read_text())
    m["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(m))
    code, _, err = run_cli(capsys, "search", "bark", "--index", path)
    assert code == 2 and "newer than this encoderkit" in err and "upgrade" in err


def test_damaged_store_is_reported_not_repaired(built, capsys):
    path, _ = built
    (path / "index.db").write_bytes(b"not sqlite" * 100)
    code, _, err = run_cli(capsys, "index", "--index", path, "--repair")
    assert code == 2 and "index.db" in err and "--rebuild" in err and "Traceback" not in err


# ---------------------------------------------------------------------------- full disk
def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device", "gen-000002/dense/vectors.npy")


def _no_temp_left(path):
    return [p.name for p in path.iterdir() if ".tmp" in p.name]


def test_disk_full_while_building_artifacts(tmp_path, tiny_encoder, monkeypatch):
    import encoderkit.retrieval.dense as dense

    src = tmp_path / "docs"
    for i in range(6):
        write(src / f"d{i}.txt", f"document {i} about rivers and lakes number {i}")
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add(DOCS)
    before = _results(index)
    monkeypatch.setattr(dense.DenseIndex, "save", _enospc)
    with pytest.raises(EncoderkitError, match="disk full writing") as err:
        index.sync([src], export_onnx=False)
    assert "free" in str(err.value) and "resumes" in str(err.value)
    assert _no_temp_left(index.path) == [] and _results(index) == before  # previous state intact
    monkeypatch.undo()
    r = index.sync([src], export_onnx=False)
    assert r.resumed == 6 and r.chunks_encoded == 0  # the encoded work was kept


def test_disk_full_in_the_store_keeps_saved_groups(tmp_path, tiny_encoder, monkeypatch):
    from encoderkit.index.storage.store import Store

    src = tmp_path / "docs"
    for i in range(12):
        write(src / f"d{i:02d}.txt", f"document {i} about mountains number {i}")
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    real, calls = Store.add_documents, [0]

    def add(self, *a, **k):
        calls[0] += 1
        if calls[0] == 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *a, **k)

    monkeypatch.setattr(Store, "add_documents", add)
    with pytest.raises(EncoderkitError, match="disk full writing .*index.db"):
        index.sync([src], write_every=4, export_onnx=False)
    monkeypatch.undo()
    r = index.sync([src], write_every=4, export_onnx=False)
    assert r.resumed == 8 and r.chunks_encoded == 4 and len(index) == 12


def test_disk_full_writing_the_manifest(tmp_path, tiny_encoder, monkeypatch):
    import encoderkit.index.storage.manifest as manifest

    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.add(DOCS[:2])
    before = (index.path / "manifest.json").read_text()
    monkeypatch.setattr(manifest.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(EncoderkitError, match="disk full"):
        index.add(DOCS[2:])
    monkeypatch.undo()
    assert (index.path / "manifest.json").read_text() == before and _no_temp_left(index.path) == []
    assert sorted(Index.open(index.path).doc_ids().values()) == ["cats", "dogs"]


def _mount_tmpfs(target, size_kb):
    target.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(target)], capture_output=True)
    return r.returncode == 0


@pytest.mark.parametrize("free_kb", [8, 48, 160])
def test_real_full_disk_on_a_small_tmpfs(tmp_path, tiny_model_dir, free_kb, capsys):
    """A real ENOSPC at several levels (store, artifacts, manifest) on a 1.5 MB tmpfs, where mounting works."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, 1536):
        pytest.skip("cannot mount a tmpfs here (needs root); the injected ENOSPC tests cover this")
    try:
        src = tmp_path / "docs"
        for i in range(40):
            write(src / f"d{i:02d}.txt", f"document {i} about tides and harbours, number {i}. " + "more words here " * 30)
        ix = disk / "ix"
        assert run_cli(capsys, "index", src / "d00.txt", "--index", ix, "--model", tiny_model_dir, "-q", "--no-onnx")[0] == 0
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - free_kb * 1024))
        code, out, err = run_cli(capsys, "index", src, "--index", ix, "-q", "--no-onnx")
        assert "Traceback" not in err
        if code != 0:
            assert code == 2 and "disk full writing" in err and err.count("\n") == 1
            assert _no_temp_left(ix) == []
        (disk / "filler").unlink()
        with Index.open(ix) as index:  # the previous committed state is intact and searchable
            assert len(index) in (1, 40) and index.search("tides", mode="bm25")
        code, out, err = run_cli(capsys, "index", src, "--index", ix, "-q", "--no-onnx", "--json")
        assert code == 0, err
        assert json.loads(out)["totals"]["documents"] == 40
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _tides(index):
    return [(h.doc_id, round(h.score, 5)) for m in ("bm25", "dense") for h in index.search("tides harbours sea", mode=m, k=20)]


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory):
    """A one-layer random BERT with 256-dim vectors: merged vectors big enough to outgrow a nearly full disk."""
    from conftest import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("wide") / "m", hidden=256, layers=1)


@pytest.mark.parametrize("free_kb", [40, 80, 120, 160])
def test_merge_on_a_full_disk_is_one_line_and_keeps_the_index(tmp_path, wide_model_dir, free_kb):
    """Merged vectors and postings are written through memory maps: on a full disk that was a SIGBUS (exit
    135 / -7, no message: measured at 80-160 KB free before the fix). Now the space is reserved first: one
    line, the index as it was, and the merge succeeds once there is room."""
    tiny_model_dir = wide_model_dir
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, 4096):
        pytest.skip("cannot mount a tmpfs here (needs root); the injected ENOSPC tests cover this")
    env = {**os.environ, "ENCODERKIT_QUIET": "1", "ENCODERKIT_THREADS": "1"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "encoderkit", *map(str, args)], capture_output=True, text=True, env=env)

    try:
        ix = disk / "ix"
        for batch in range(4):  # four updates, four segments
            src = tmp_path / f"docs{batch}"
            for i in range(15):
                write(src / f"b{batch}-{i:02d}.txt", f"tides and harbours {batch} {i}. " + "more words about the sea " * 40)
            r = cli("index", src, "--index", ix, "--model", tiny_model_dir, "-q", "--no-onnx", "--no-auto-merge")
            assert r.returncode == 0, r.stderr
        with Index.open(ix) as index:
            baseline = _tides(index)
            assert len(index.manifest["segments"]) == 4
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - free_kb * 1024))
        r = cli("optimize", "--index", ix)
        assert r.returncode in (0, 2), (r.returncode, r.stderr)  # never killed by a signal (SIGBUS: -7 / 135)
        assert "Traceback" not in r.stderr
        if r.returncode == 2:
            assert "disk full writing" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        (disk / "filler").unlink()
        with Index.open(ix) as index:
            assert _tides(index) == baseline and index.health(full=True).ok
        r = cli("optimize", "--index", ix)
        assert r.returncode == 0, r.stderr
        with Index.open(ix) as index:
            assert _tides(index) == baseline and len(index.manifest["segments"]) == 1
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_numpy_short_writes_are_a_full_disk(tmp_path, tiny_encoder, monkeypatch):
    """np.save reports a disk that filled up mid-write as OSError("N requested and M written") without an
    errno: one line, nothing lost, on a fresh build, an update and a merge alike."""
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.set_merge_policy(auto=False)
    index.add(DOCS[:2], export_onnx=False)
    index.add(DOCS[2:3], export_onnx=False)
    before = (index.path / "manifest.json").read_text()
    real_save = np.save

    def short(path, *a, **k):
        if "vectors" in str(path):
            raise OSError("1536 requested and 512 written")
        return real_save(path, *a, **k)

    monkeypatch.setattr(np, "save", short)
    with pytest.raises(EncoderkitError, match="disk full writing") as err:
        index.add(DOCS[3:], export_onnx=False)
    assert "\n" not in str(err.value).strip()
    monkeypatch.undo()
    assert (index.path / "manifest.json").read_text() == before and _no_temp_left(index.path) == []


def test_a_failure_after_the_commit_says_the_update_committed(tmp_path, tiny_model_dir, capsys, monkeypatch):
    """A disk that fills up after the manifest switched (the automatic merge, the store's copy of the
    manifest) cannot undo the commit: exit 0, the update reported as committed, one warning saying what
    failed after it and what to run."""
    from encoderkit.index.storage.store import Store
    from encoderkit.index.write.writer import IndexWriter

    src = tmp_path / "docs"
    ix = tmp_path / "ix"
    for i in range(3):
        write(src / f"a{i}.txt", f"apples number {i}. " * 20)
    assert run_cli(capsys, "index", src, "--index", ix, "--model", tiny_model_dir, "-q", "--no-onnx")[0] == 0

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(ix / "seg-000009"))

    monkeypatch.setattr(IndexWriter, "_auto_merge", full)
    write(src / "b.txt", "bananas are yellow. " * 20)
    code, out, err = run_cli(capsys, "index", src, "--index", ix, "-q", "--no-onnx")
    assert code == 0, err
    assert "update is committed (generation 2)" in out and "disk full" in out and "encoderkit optimize" in out
    assert "keeps its last committed state" not in out + err
    monkeypatch.undo()
    monkeypatch.setattr(
        Store, "save_manifest_copy", lambda self, m: (_ for _ in ()).throw(sqlite3.OperationalError("database or disk is full"))
    )
    write(src / "c.txt", "cherries are red. " * 20)
    code, out, err = run_cli(capsys, "index", src, "--index", ix, "-q", "--no-onnx", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["committed"] and report["generation"] == 3 and "generation 3 is committed" in report["warnings"][0]
    monkeypatch.undo()
    with Index.open(ix) as index:
        assert len(index) == 5 and index.generation == 3 and index.search("cherries", mode="bm25")[0].doc_id.endswith("c.txt")


def _colbert_index(tmp_path, tiny_encoder, tiny_colbert_dir, batches=1):
    topics = ["cats purr and nap", "rivers flow to the sea", "vaccines train immunity", "tax law for companies"]
    index = Index.create(
        tmp_path / "cx", encoder=tiny_encoder, retrievers=["bm25", "dense", "colbert"],
        retriever_settings={"colbert": {"model": str(tiny_colbert_dir)}},
    )  # fmt: skip
    index.set_merge_policy(auto=False)
    for b in range(batches):
        index.add(
            [{"id": f"b{b}-{i}", "text": f"{topics[i % 4]} item {i} batch {b}. {topics[(i * 3) % 4]}"} for i in range(20)],
            export_onnx=False,
        )
    return index


def _colbert_answers(index):
    return [
        [(h.doc_id, round(h.score, 5)) for h in index.search(q, mode=m, k=10)]
        for q in ("cats purr", "sea rivers", "tax law")
        for m in ("colbert", "hybrid")
    ]


def test_flipped_bytes_in_the_colbert_codec_are_found_at_open(tmp_path, tiny_encoder, tiny_colbert_dir, capsys):
    """A 16-byte flip in the codec's centroids used to change ColBERT and hybrid rankings with exit 0 and
    `info` saying ok; the codec is now checksummed at every open."""
    index = _colbert_index(tmp_path, tiny_encoder, tiny_colbert_dir)
    path = index.path
    index.close()
    centroids = next(path.glob("seg-*/colbert/codec/centroids.npy"))
    raw = bytearray(centroids.read_bytes())
    raw[-64:-48] = bytes(255 - b for b in raw[-64:-48])
    centroids.write_bytes(bytes(raw))
    with Index.open(path) as reader:
        assert not reader.health().ok and "centroids.npy" in reader.health().problems[0]
        with pytest.raises(EncoderkitError, match="is damaged: .*colbert/codec/centroids.npy"):
            reader.search("cats purr", mode="colbert")
    code, out, err = run_cli(capsys, "search", "cats purr", "--index", path, "--mode", "colbert")
    assert code == 2 and "is damaged" in err and "--repair" in err
    Index.repair(path)
    with Index.open(path) as reader:
        assert reader.health(full=True).ok and reader.search("cats purr", mode="colbert")


def test_repair_of_a_healthy_colbert_index_keeps_its_answers(tmp_path, tiny_encoder, tiny_colbert_dir):
    """Repair rewrites every segment; it now keeps the centroids of the largest sound segment instead of
    training new ones, so a healthy index answers exactly as before."""
    index = _colbert_index(tmp_path, tiny_encoder, tiny_colbert_dir, batches=3)
    before = _colbert_answers(index)
    path = index.path
    index.close()
    Index.repair(path)
    with Index.open(path) as reader:
        assert reader.health(full=True).ok
        assert _colbert_answers(reader) == before


# ---------------------------------------------------------------------------- kills and concurrency
def test_kill_during_repair_then_repair_again(built, tmp_path):
    from support.children import _run_child

    path, baseline = built
    DAMAGE["vectors NaN"](_gen(path))
    run = f"from encoderkit import Index; Index.repair({str(path)!r})"
    proc = _run_child(tmp_path, "encoderkit.index.write.repair:write_new_segments", 1, run, before=False)
    proc.kill()
    proc.wait()
    with pytest.raises(EncoderkitError, match="is damaged"):  # still the old (damaged) generation: reported, never served
        Index.open(path).search("bark")
    Index.repair(path)
    with Index.open(path) as index:
        assert _results(index) == baseline and index.health(full=True).ok


def test_repair_while_another_process_writes_is_refused(built):
    from encoderkit.index.storage.lock import writer_lock

    path, _ = built
    with writer_lock(path):
        code = (
            "import sys; from encoderkit import Index\n"
            "from encoderkit.errors import EncoderkitError\n"
            f"try:\n    Index.repair({str(path)!r})\nexcept EncoderkitError as e:\n    print(e); sys.exit(3)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and "being updated by another process" in r.stdout


# ---------------------------------------------------------------------------- safe output
HOSTILE_NAMES = ["evil\x1b[31mred.txt", "line\nforged 1. 0.9999 fake.txt", "[red]markup[blink] name.txt", ":thumbs_up: emoji.txt"]


def test_search_output_escapes_hostile_names(tmp_path, tiny_model_dir, capsys):
    src = tmp_path / "docs"
    for name in HOSTILE_NAMES:
        write(src / name, "a note about harbours and lighthouses")
    with open(os.fsencode(src) + b"/bad \xff name.txt", "wb") as fh:
        fh.write(b"a note about harbours too")
    ix = tmp_path / "ix"
    assert run_cli(capsys, "index", src, "--index", ix, "--model", tiny_model_dir, "-q", "--no-onnx")[0] == 0
    code, out, err = run_cli(capsys, "search", "harbours", "--index", ix, "--mode", "bm25", "-k", "10")
    assert code == 0, err
    assert "\x1b" not in out and "\\x1b[31mred" in out
    assert "line\\nforged" in out and "\nforged" not in out
    assert "[red]markup[blink] name" in out and ":thumbs_up:" in out and "\\xff" in out
    code, out, _ = run_cli(capsys, "search", "harbours", "--index", ix, "--mode", "bm25", "--json", "-k", "10")
    paths = {os.path.basename(h["path"]) for h in json.loads(out)["hits"]}
    assert set(HOSTILE_NAMES) | {"bad \\xff name.txt"} == paths


def test_invalid_utf8_query_from_the_command_line(tmp_path, tiny_model_dir, capsys):
    write(tmp_path / "docs" / "a.txt", "caf\u00e9 notes")
    ix = tmp_path / "ix"
    run_cli(capsys, "index", tmp_path / "docs", "--index", ix, "--model", tiny_model_dir, "-q", "--no-onnx")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable.encode(), b"-m", b"encoderkit", b"search", b"caf\xe9 \xff", b"--index", os.fsencode(ix), b"--json"],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    json.loads(r.stdout.decode("utf-8"))  # valid UTF-8 JSON
    assert b"Traceback" not in r.stderr
