"""An update killed at any point leaves the index searchable at its last generation, and the next
run resumes. The child pauses at a chosen point (by patching a function in its own process) and
the test kills it there: deterministic, no timing."""

import signal

import pytest

from conftest import write
from encoderkit import Index
from support.children import _run_child


def _corpus(root, n, tag):
    for i in range(n):
        write(root / f"doc{i:03d}.txt", f"document {i} about {tag} number {i} " + "filler words " * 10)


@pytest.fixture
def base(tmp_path, tiny_encoder):
    src = tmp_path / "docs"
    _corpus(src, 5, "apples")
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.sync([src])
    _corpus(src, 40, "bananas")  # rewrites doc000-004, adds 35 more
    return index, src


def test_kill_during_encoding_then_search_and_resume(tmp_path, base):
    index, src = base
    run = f"from encoderkit import Index; Index.open({str(index.path)!r}).sync([{str(src)!r}], write_every=4)"
    proc = _run_child(tmp_path, "encoderkit.index.storage.store:Store.add_documents", 3, run)  # 3 groups of 4 written
    proc.kill()
    proc.wait()
    _assert_old_state_then_resume(index.path, src, expect_resumed=True)


def _assert_old_state_then_resume(path, src, expect_resumed):
    reader = Index.open(path)
    assert reader.generation == 1 and len(reader) == 5
    hits = reader.search("apples", mode="bm25", k=10)
    assert len(hits) == 5 and all("apples" in h.text for h in hits)
    assert reader.search("bananas", mode="bm25") == []
    report = reader.sync([src])
    assert report.committed and report.generation == 2
    assert (report.added, report.updated) == (35, 5)
    if expect_resumed:
        assert report.resumed == 12 and report.chunks_encoded == 40 - 12
    assert len(reader) == 40 and len(reader.search("bananas", mode="bm25", k=50)) == 40
    assert reader.search("apples", mode="bm25") == []
    # exactly one visible copy of each document, no leftovers in the store
    assert reader.store.count_visible(2) == (40, 40)


def test_kill_before_manifest_switch(tmp_path, base):
    index, src = base
    run = f"from encoderkit import Index; Index.open({str(index.path)!r}).sync([{str(src)!r}])"
    proc = _run_child(tmp_path, "encoderkit.index.write.commit:write_manifest", 1, run, before=True)
    proc.kill()
    proc.wait()
    assert (index.path / "seg-000002").is_dir()  # the new segment is written, the manifest not switched
    assert (index.path / "seg-000001" / "del-000002.npy").is_file()  # nor are the deletions it names
    reader = Index.open(index.path)
    assert reader.generation == 1 and [s["name"] for s in reader.manifest["segments"]] == ["seg-000001"]
    assert reader.manifest["segments"][0]["deleted"] == 0
    report = reader.sync([src])
    assert report.resumed == 40 and report.chunks_encoded == 0 and report.generation == 2
    assert sorted(p.name for p in index.path.glob("seg-*")) == ["seg-000001", "seg-000002"]
    assert reader.search("bananas", mode="bm25", k=50) and not reader.search("apples", mode="bm25")


def test_ctrl_c_in_cli_exits_130_and_keeps_index(tmp_path, base):
    index, src = base
    run = f"from encoderkit.cli import main; main(['index', {str(src)!r}, '--index', {str(index.path)!r}, '-q'])"
    proc = _run_child(tmp_path, "encoderkit.index.storage.store:Store.add_documents", 1, run)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)  # generous: a loaded 2-core machine can take a minute to unwind
    assert proc.returncode == 130 and "interrupted" in err
    _assert_old_state_then_resume(index.path, src, expect_resumed=False)
