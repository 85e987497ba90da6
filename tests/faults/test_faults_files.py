"""Fault injection, hostile files: reading never blocks or reads unbounded data, one bad entry never
aborts a run, and nothing indexed is lost because of a transient problem (issue #15, items 1-3)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import run_cli, write
from encoderkit import Index
from encoderkit.data.files.sources import Skipped, SourceDoc, walk

pytestmark = pytest.mark.faults


def _walk(paths, timeout=20, **kw):
    """walk() in a thread: a hang fails the test instead of blocking the suite."""
    box = {}

    def run():
        box["items"] = list(walk(paths, **kw))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "walk() hung"
    docs = [i for i in box["items"] if isinstance(i, SourceDoc)]
    skipped = [i for i in box["items"] if isinstance(i, Skipped)]
    return docs, skipped


def _reasons(skipped):
    return {os.path.basename(s.path): s.reason for s in skipped}


@pytest.fixture
def index(tmp_path, tiny_encoder):
    ix = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    yield ix
    ix.close()


# ---------------------------------------------------------------------------- never block, never unbounded
def test_fifo_socket_and_devices_are_skipped_without_blocking(tmp_path):
    write(tmp_path / "ok.txt", "a fine document")
    os.mkfifo(tmp_path / "pipe.txt")
    os.symlink("/dev/zero", tmp_path / "zero.txt")
    os.symlink("/dev/urandom", tmp_path / "random.md")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.txt"))
    try:
        t0 = time.perf_counter()
        docs, skipped = _walk([tmp_path])
    finally:
        sock.close()
    assert time.perf_counter() - t0 < 10
    reasons = _reasons(skipped)
    assert [Path(d.path).name for d in docs] == ["ok.txt"]
    assert reasons["pipe.txt"] == "not a regular file (FIFO)"
    assert reasons["zero.txt"] == reasons["random.md"] == "not a regular file (character device)"
    assert reasons["sock.txt"] == "not a regular file (socket)"


def test_type_is_checked_on_the_open_descriptor(tmp_path, monkeypatch):
    """A name that passes the path check but opens as a FIFO (swapped in between) is still refused."""
    import encoderkit.data.files.fileio as fileio

    write(tmp_path / "swap.txt", "looks regular")
    os.mkfifo(tmp_path / "fifo")
    real_open = os.open
    monkeypatch.setattr(fileio.os, "open", lambda p, f, *a: real_open(str(tmp_path / "fifo"), f, *a))
    docs, skipped = _walk([tmp_path / "swap.txt"])
    assert docs == [] and skipped[0].reason == "not a regular file (FIFO)"


def test_size_is_capped_while_reading_not_only_by_stat(tmp_path, monkeypatch):
    import encoderkit.data.files.fileio as fileio

    write(tmp_path / "grows.txt", "x" * 50_000)
    real_fstat, real_stat = os.fstat, os.stat

    class Small:
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return 10 if name == "st_size" else getattr(self._st, name)

    monkeypatch.setattr(fileio.os, "fstat", lambda fd: Small(real_fstat(fd)))
    monkeypatch.setattr(fileio.os, "stat", lambda p, *a, **k: Small(real_stat(p, *a, **k)))
    docs, skipped = _walk([tmp_path], max_bytes=1000)
    assert docs == [] and skipped[0].reason.startswith("too large (more than")


def test_gzip_bomb_stops_at_the_limit(tmp_path):
    (tmp_path / "bomb.txt.gz").write_bytes(gzip.compress(b"a" * 5_000_000))
    (tmp_path / "fine.md.gz").write_bytes(gzip.compress(b"# Zipped\n\nA compressed note about rivers."))
    (tmp_path / "broken.txt.gz").write_bytes(gzip.compress(b"some text")[:12])
    docs, skipped = _walk([tmp_path], max_bytes=100_000)
    reasons = _reasons(skipped)
    assert [d.title for d in docs] == ["Zipped"]
    assert reasons["bomb.txt.gz"].startswith("too large (more than")
    assert "gzip" in reasons["broken.txt.gz"]


def test_a_record_longer_than_the_limit_is_skipped_alone(tmp_path):
    lines = [json.dumps({"_id": "a", "text": "short one"}), json.dumps({"_id": "big", "text": "y" * 20_000})]
    lines += [json.dumps({"_id": "c", "text": "short three"})]
    write(tmp_path / "c.jsonl", "\n".join(lines) + "\n")
    docs, skipped = _walk([tmp_path], max_bytes=1000)
    assert [d.doc_id for d in docs] == ["a", "c"]
    assert skipped[0].line == 2 and skipped[0].reason.startswith("record too large")


def test_slow_extraction_hits_the_time_limit(tmp_path, monkeypatch):
    import threading

    import encoderkit.data.files.sources as sources

    done = threading.Event()

    def forever(text):  # busy until the test ends: an abandoned extraction thread must not burn the
        while not done.is_set():  # CPU (and hold the GIL) for the rest of the test session
            pass

    write(tmp_path / "slow.html", "<p>pathological</p>")
    write(tmp_path / "ok.txt", "fine")
    monkeypatch.setattr(sources, "extract", lambda text, fmt: forever(text) if fmt == "html" else (text, ""))
    t0 = time.perf_counter()
    try:
        docs, skipped = _walk([tmp_path], time_limit=0.5)
    finally:
        done.set()
    assert time.perf_counter() - t0 < 10
    assert [Path(d.path).name for d in docs] == ["ok.txt"]
    assert skipped[0].reason == "extraction timed out (over 0.5 s)"


def test_time_limit_works_off_the_main_thread_too(tmp_path, monkeypatch):
    import encoderkit.data.files.sources as sources

    write(tmp_path / "slow.md", "# slow")
    import threading

    release = threading.Event()  # the stuck extraction blocks until the test is done, not on a clock
    monkeypatch.setattr(sources, "extract", lambda text, fmt: release.wait())
    try:
        docs, skipped = _walk([tmp_path], time_limit=0.5)  # _walk runs it in a worker thread
    finally:
        release.set()
    assert docs == [] and skipped[0].reason.startswith("extraction timed out")


def test_pathological_heading_line_is_linear(tmp_path, tiny_encoder):
    """A crafted Markdown heading made the heading regexes backtrack for minutes (cubic)."""
    from encoderkit.data.chunking import chunk_text

    line = "# a" + " " * 5000 + "#" * 5000 + " " * 5000 + "x"
    write(tmp_path / "evil.md", line + "\n\nbody text\n")
    t0 = time.perf_counter()
    docs, _ = _walk([tmp_path])
    chunk_text(docs[0].text, tiny_encoder.raw_tokenizer(), size=64, overlap=8, fmt="markdown")
    assert time.perf_counter() - t0 < 5


def test_extractor_crash_is_one_skip(tmp_path, monkeypatch):
    import encoderkit.data.files.sources as sources

    def boom(text, fmt):
        if "boom" in text:
            raise ValueError("parser exploded")
        return text, ""

    monkeypatch.setattr(sources, "extract", boom)
    write(tmp_path / "a.txt", "boom")
    write(tmp_path / "b.txt", "calm")
    docs, skipped = _walk([tmp_path])
    assert [Path(d.path).name for d in docs] == ["b.txt"]
    assert skipped[0].reason == "extraction failed (ValueError: parser exploded)"


# ---------------------------------------------------------------------------- one bad entry never aborts
def test_file_symlink_loop_does_not_abort_sync(tmp_path, index):
    src = tmp_path / "docs"
    write(src / "good.txt", "the good document about rivers")
    os.symlink(src / "b.txt", src / "a.txt")
    os.symlink(src / "a.txt", src / "b.txt")
    os.symlink(src / "self.md", src / "self.md")
    r = index.sync([src])
    assert r.added == 1 and r.committed
    reasons = _reasons(r.skipped)
    assert reasons["a.txt"] == reasons["b.txt"] == reasons["self.md"] == "symlink loop"


def test_non_utf8_file_name_is_indexed_under_an_escaped_name(tmp_path, index):
    src = tmp_path / "docs"
    src.mkdir()
    raw = os.fsencode(src) + b"/caf\xe9 \xff.txt"
    with open(raw, "wb") as fh:
        fh.write(b"a note about espresso and croissants")
    write(src / "plain.txt", "a plain note")
    r = index.sync([src])
    assert r.added == 2 and not r.skipped
    hit = index.search("espresso croissants", mode="bm25")[0]
    assert hit.doc_id.endswith("caf\\xe9 \\xff.txt") and hit.title == "caf\\xe9 \\xff"
    hit.doc_id.encode("utf-8")  # valid UTF-8 everywhere
    assert index.sync([src]).unchanged == 2
    os.unlink(raw)
    r = index.sync([src])
    assert r.removed == 1 and index.search("espresso", mode="bm25") == []


def test_beir_records_with_invalid_unicode_and_bad_ids(tmp_path, index):
    lines = [
        '{"_id": "ok", "title": "Fine", "text": "a normal record"}',
        '{"_id": "s1", "title": "T\\ud800", "text": "lone \\udc00 surrogate in text"}',
        '{"_id": "id\\ud800", "text": "surrogate in the id"}',
        '{"_id": null, "text": "null id"}',
        '{"_id": ["x"], "text": "list id"}',
        '{"_id": true, "text": "bool id"}',
        '{"_id": 42, "text": "numeric ids are fine"}',
        '{"_id": "t", "text": ["not", "a", "string"]}',
        '{"_id": "e", "title": null, "text": null}',
        b'{"_id": "u", "text": "bad byte \xff here"}'.decode("latin-1"),
        "[1, 2, 3]",
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8").replace("\xff".encode(), b"\xff") + b"\n")
    r = index.sync([path])
    ids = sorted(index.doc_ids().values())
    assert ids == ["42", "id\\ud800", "ok", "s1"]
    assert "None" not in ids
    hit = index.search("surrogate", mode="bm25", k=5)
    assert {h.doc_id for h in hit} == {"s1", "id\\ud800"}
    s1 = next(h for h in hit if h.doc_id == "s1")
    assert "\ufffd" in s1.text and s1.title == "T\ufffd"
    by_line = {s.line: s.reason for s in r.skipped}
    assert by_line[4] == "invalid _id (null; needs a string)"
    assert by_line[5] == "invalid _id (list; needs a string)" and by_line[6].startswith("invalid _id (bool")
    assert by_line[8].startswith("text of 't' is a list") and by_line[9] == "empty document 'e'"
    assert by_line[10].startswith("invalid UTF-8") and by_line[11].startswith("not a BEIR corpus record")


def test_api_documents_with_lone_surrogates(index):
    r = index.add([{"id": "x\ud800", "title": "t\udcff", "text": "surrogates \ud83d in api text"}])
    assert r.added == 1
    hit = index.search("surrogates api", mode="bm25")[0]
    assert hit.doc_id == "x\\ud800" and "\ufffd" in hit.text


# ---------------------------------------------------------------------------- nothing lost to transient problems
def _scandir_fails_for(monkeypatch, folder: Path):
    """What `chmod 000 folder` does for a normal user (the tests may run as root)."""
    real_scandir, real_stat = os.scandir, os.stat

    def scandir(path="."):
        if os.fspath(path) == str(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def stat(path, *a, **k):
        if os.fspath(path).startswith(str(folder) + os.sep):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)


def test_unreadable_subfolder_keeps_its_documents(tmp_path, index, monkeypatch):
    src = tmp_path / "docs"
    write(src / "top.txt", "top level note about lakes")
    write(src / "sub" / "deep.txt", "deep note about volcanoes")
    write(src / "sub" / "inner" / "deeper.txt", "deeper note about glaciers")
    assert index.sync([src]).added == 3
    _scandir_fails_for(monkeypatch, src / "sub")
    r = index.sync([src])
    assert r.removed == 0 and len(r.kept_previous) == 2 and len(index) == 3
    assert index.search("volcanoes", mode="bm25")[0].path.endswith("deep.txt")
    monkeypatch.undo()
    (src / "sub" / "deep.txt").unlink()
    r = index.sync([src])
    assert r.removed == 1 and r.unchanged == 2  # really gone now: removed


def test_unreadable_file_keeps_its_version(tmp_path, index, monkeypatch):
    src = tmp_path / "docs"
    write(src / "a.txt", "alpha note about deserts")
    index.sync([src])
    real_open = os.open
    monkeypatch.setattr(
        os,
        "open",
        lambda p, f, *a: (
            (_ for _ in ()).throw(OSError(5, "Input/output error", p)) if str(p).endswith("a.txt") else real_open(p, f, *a)
        ),
    )
    r = index.sync([src])
    assert r.removed == 0 and r.kept_previous and r.skipped[0].reason == "unreadable (Input/output error)"
    assert index.search("deserts", mode="bm25")


def test_symlinked_document_belongs_to_the_link(tmp_path, index):
    src, outside = tmp_path / "docs", tmp_path / "elsewhere"
    write(src / "own.txt", "own note about meadows")
    target = write(outside / "target.txt", "linked note about canyons")
    os.symlink(target, src / "link.txt")
    index.sync([src])
    hit = index.search("canyons", mode="bm25")[0]
    assert hit.path == str(src / "link.txt")
    (src / "link.txt").unlink()
    r = index.sync([src])
    assert r.removed == 1 and index.search("canyons", mode="bm25") == []


def test_same_file_twice_is_indexed_once(tmp_path, index):
    src = tmp_path / "docs"
    write(src / "real.txt", "one file about harbours")
    os.symlink(src / "real.txt", src / "zlink.txt")
    os.link(src / "real.txt", src / "zhard.txt")
    r = index.sync([src])
    assert r.added == 1 and {s.reason for s in r.skipped} == {f"same file as {src / 'real.txt'}"}


def test_rebuild_drops_documents_whose_file_is_gone_anywhere(tmp_path, index):
    """An index made by an older version holds a document under the resolved path of a symlink target
    outside the root; once the link and the target are gone, --rebuild removes it."""
    src, outside = tmp_path / "docs", tmp_path / "elsewhere"
    write(src / "own.txt", "own note about meadows")
    target = write(outside / "target.txt", "linked note about canyons")
    index.add([SourceDoc(doc_id=str(target), text=target.read_text(), title="target", path=str(target))])
    index.sync([src])
    target.unlink()
    assert index.sync([src]).removed == 0  # outside the root: an incremental sync leaves it alone
    r = index.sync([src], rebuild=True)
    assert r.removed == 1 and sorted(index.doc_ids().values()) == [str(src / "own.txt")]


def test_documents_indexed_under_resolved_paths_move_to_the_link_path(tmp_path, index):
    real = tmp_path / "real"
    write(real / "a.txt", "a note about orchards")
    os.symlink(real, tmp_path / "via")
    index.add([SourceDoc(doc_id=str(real / "a.txt"), text="a note about orchards", title="a", path=str(real / "a.txt"))])
    r = index.sync([tmp_path / "via"])
    assert (r.added, r.removed) == (1, 1)
    assert list(index.doc_ids().values()) == [str(tmp_path / "via" / "a.txt")]


def test_a_file_of_too_many_chunks_is_skipped_without_tokenizing_it_whole(tmp_path, tiny_model_dir, capsys):
    """A 19 MB one-line file used to become 43,187 chunks (3.5 GB RSS, ~1.5 h of encoding). A per-file
    chunk cap skips it with the reason, estimated from three samples: memory follows the chunks kept,
    not the file."""
    from encoderkit.index.write.encode import SAMPLE_CHARS, oversized
    from encoderkit.index.write.plan import ChunkSettings

    src = tmp_path / "docs"
    write(src / "huge.txt", " ".join(f"token{i % 5000}" for i in range(400_000)))  # one line, ~4 MB
    write(src / "small.txt", "a small note about tides and harbours")
    code, out, err = run_cli(
        capsys, "index", src, "--index", tmp_path / "ix", "--model", tiny_model_dir, "--no-onnx", "--json",
        "--max-chunks-per-file", "1000",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["added"] == 1 and report["totals"]["documents"] == 1
    (skip,) = report["skipped"]
    assert skip["path"].endswith("huge.txt") and "too many chunks" in skip["reason"] and "--max-chunks-per-file" in skip["reason"]

    class Recording:  # one token per word; remembers how much text it was asked to tokenize
        seen: list[int] = []

        def encode(self, text, add_special_tokens=False):
            self.seen.append(len(text))
            return type("E", (), {"ids": text.split()})()

    tok = Recording()
    doc = type("D", (), {"doc_id": "huge", "text": (src / "huge.txt").read_text()})()
    assert oversized([doc], tok, ChunkSettings(size=256, overlap=32), 256, cap=1000) == {"huge": pytest.approx(1786, rel=0.05)}
    assert max(tok.seen) <= SAMPLE_CHARS and len(tok.seen) == 3
