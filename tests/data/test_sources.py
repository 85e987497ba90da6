import os
from pathlib import Path

from conftest import write
from encoderkit.data.files.sources import Skipped, SourceDoc, extract_html, walk


def _run(paths, **kw):
    docs, skipped = [], []
    for item in walk(paths, **kw):
        (docs if isinstance(item, SourceDoc) else skipped).append(item)
    return docs, skipped


def test_supported_formats_and_titles(tmp_path):
    write(tmp_path / "a.txt", "plain text file")
    write(tmp_path / "b.md", "---\nfront: matter\n---\n# Markdown Title\n\nBody.")
    write(tmp_path / "c.rst", "RST Title\n=========\n\nBody.")
    write(
        tmp_path / "d.html",
        "<html><head><title>Page</title><style>x{}</style></head>"
        "<body><h2>Head</h2><p>Visible <b>text</b></p><script>var x</script></body></html>",
    )
    write(
        tmp_path / "sub" / "corpus.jsonl",
        '{"_id": "d1", "title": "T1", "text": "one"}\n{"_id": "d2", "title": "", "text": "two"}\n',
    )
    docs, skipped = _run([tmp_path])
    by = {Path(d.path).name + (":" + d.doc_id if d.fmt == "beir" else ""): d for d in docs}
    assert skipped == []
    assert by["a.txt"].title == "a" and by["a.txt"].text == "plain text file"
    assert by["b.md"].title == "Markdown Title" and "front" not in by["b.md"].text
    assert by["c.rst"].title == "RST Title"
    assert by["d.html"].title == "Page" and "Visible text" in by["d.html"].text.replace("\n", " ")
    assert "var x" not in by["d.html"].text and "## Head" in by["d.html"].text
    assert by["corpus.jsonl:d1"].title == "T1" and by["corpus.jsonl:d2"].text == "two"
    assert len({d.content_hash for d in docs}) == len(docs)


def test_every_bad_input_is_skipped_with_reason(tmp_path, monkeypatch):
    write(tmp_path / "ok.txt", "fine")
    write(tmp_path / "bin.txt", b"\x00\x01\x02binary")
    write(tmp_path / "latin1.txt", "caf\xe9".encode("latin-1"))
    write(tmp_path / "empty.md", "   \n")
    write(tmp_path / "big.txt", "x" * 5000)
    write(tmp_path / "image.png", b"\x89PNG")
    write(tmp_path / ".hidden.txt", "secret")
    write(tmp_path / "locked.txt", "no access")
    write(tmp_path / "bad.jsonl", '{"_id": "1", "text": "good"}\n{not json\n{"title": "no id"}\n')
    os.symlink(tmp_path, tmp_path / "loop")
    os.symlink(tmp_path / "missing", tmp_path / "dangling.txt")
    real_open = os.open

    def locked_open(path, flags, *args, **kw):
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", locked_open)
    docs, skipped = _run([tmp_path], max_bytes=1000)
    reasons = {(Path(s.path).name, s.line): s.reason for s in skipped}
    assert sorted(d.doc_id.rsplit("/", 1)[-1] for d in docs) == ["1", "latin1.txt", "ok.txt"]  # latin-1 is detected
    assert reasons[("bin.txt", None)] == "binary file"
    assert reasons[("empty.md", None)] == "empty file"
    assert reasons[("big.txt", None)].startswith("too large")
    assert reasons[("image.png", None)] == "unsupported type .png"
    assert reasons[(".hidden.txt", None)] == "hidden"
    assert reasons[("locked.txt", None)].startswith("unreadable (Permission denied")
    assert reasons[("bad.jsonl", 2)].startswith("invalid JSON")
    assert reasons[("bad.jsonl", 3)].startswith("not a BEIR corpus record")
    assert reasons[("loop", None)].startswith("symlink loop")
    assert reasons[("dangling.txt", None)] == "broken symlink"
    assert str(Skipped("f.jsonl", "bad", line=3)) == "f.jsonl:3: bad"


def test_missing_path_is_reported(tmp_path):
    docs, skipped = _run([tmp_path / "nope"])
    assert docs == [] and skipped[0].reason == "path does not exist"


def test_html_extraction_keeps_headings():
    text, title = extract_html("<h1>Top</h1><p>a</p><nav>menu</nav><h3>Low</h3><p>b</p>")
    assert title == "Top" and "# Top" in text and "### Low" in text and "menu" not in text
