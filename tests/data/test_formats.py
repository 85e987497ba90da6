"""More of what people index (issue #17 item 4): PDF pages, Word .docx, source code by symbol,
.gz-compressed text and non-UTF-8 text, each on a real file written by the test."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from conftest import write
from encoderkit import Index
from encoderkit.data.files.code import code_sections
from encoderkit.data.files.sources import Skipped, SourceDoc, walk


def _docs(paths, **kw):
    items = list(walk(paths, **kw))
    return [i for i in items if isinstance(i, SourceDoc)], [i for i in items if isinstance(i, Skipped)]


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    """A real PDF (Helvetica text, one content stream per page), written byte by byte."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    font_id = 3
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for text in pages:
        lines = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in text.split("\n")]
        ops = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({ln}) Tj T*" for ln in lines) + " ET"
        stream = zlib.compress(ops.encode("latin-1"))
        objects.append(f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode("latin-1") + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    info = ""
    if title:
        objects.append(f"<< /Title ({title}) >>")
        info = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        body = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "Field Guide"
    d.add_heading("Birds", level=1)
    d.add_paragraph("Herons wade in shallow water to hunt fish.")
    d.add_heading("Nesting", level=2)
    d.add_paragraph("Swallows build mud nests under bridges.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "species", "wingspan"
    table.cell(1, 0).text, table.cell(1, 1).text = "albatross", "3.5 m"
    path.parent.mkdir(parents=True, exist_ok=True)
    d.save(path)
    return path


PY = '''"""Module docstring."""
import os


# the entry point
def main(argv):
    return run(argv)


@decorated
class Parser:
    """Parses things."""

    def parse(self, text):
        return text.split()


VALUE = 3
'''

GO = """package main

import "fmt"

// Greet says hello.
func Greet(name string) string {
\treturn fmt.Sprintf("hello %s", name)
}

type Point struct {
\tX, Y int
}

func (p Point) Norm() int {
\treturn p.X*p.X + p.Y*p.Y
}
"""


def test_pdf_text_per_page_with_page_numbers(tmp_path, tiny_encoder):
    pytest.importorskip("pypdf")
    make_pdf(
        tmp_path / "d" / "report.pdf",
        ["Rivers carry sediment.", "Glaciers carve valleys.", "Deserts receive little rain."],
        "Earth Notes",
    )
    docs, skipped = _docs([tmp_path / "d"])
    assert not skipped and docs[0].title == "Earth Notes" and docs[0].fmt == "pdf"
    assert [label for _, _, label in docs[0].sections] == ["page 1", "page 2", "page 3"] and docs[0].meta["pages"] == 3
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.sync([tmp_path / "d"])
    hit = index.search("glaciers valleys", mode="bm25", by="chunk")[0]
    assert hit.section == "page 2" and "Glaciers carve valleys." in hit.text


def test_damaged_and_empty_pdfs_are_skipped(tmp_path):
    pytest.importorskip("pypdf")
    write(tmp_path / "broken.pdf", b"%PDF-1.4\nthis is not really a pdf")
    make_pdf(tmp_path / "blank.pdf", [""])
    docs, skipped = _docs([tmp_path])
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert docs == [] and set(reasons) == {"broken.pdf", "blank.pdf"}
    assert reasons["blank.pdf"].startswith("no text in PDF")


def test_docx_headings_paragraphs_and_tables(tmp_path, tiny_encoder):
    pytest.importorskip("docx")
    make_docx(tmp_path / "d" / "guide.docx")
    docs, skipped = _docs([tmp_path / "d"])
    assert not skipped
    doc = docs[0]
    assert doc.title == "Field Guide" and "# Birds" in doc.text and "## Nesting" in doc.text
    assert "albatross | 3.5 m" in doc.text
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=32, chunk_overlap=4)
    index.sync([tmp_path / "d"])
    hit = index.search("swallows mud nests", mode="bm25", by="chunk")[0]
    assert hit.section == "Nesting"


def test_docx_zip_bomb_and_garbage_are_skipped(tmp_path):
    pytest.importorskip("docx")
    import zipfile

    with zipfile.ZipFile(tmp_path / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<" + b"a" * 3_000_000)
    write(tmp_path / "junk.docx", b"PK\x03\x04 not a zip")
    docs, skipped = _docs([tmp_path], max_bytes=100_000)
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert docs == [] and reasons["bomb.docx"].startswith("too large") and reasons["junk.docx"].startswith("damaged .docx")


@pytest.mark.parametrize("parser", ["tree-sitter", "ast", "patterns"])
def test_python_code_sections_by_symbol(parser):
    if parser == "tree-sitter":
        pytest.importorskip("tree_sitter_python")
    sections, used = code_sections(PY, "python", parser=parser)
    assert used == parser
    labels = [label for _, _, label in sections if label]
    assert labels == ["main", "Parser"]
    assert "".join(PY[s:e] for s, e, _ in sections) == PY  # sections tile the file
    main = next(PY[s:e] for s, e, label in sections if label == "main")
    assert main.startswith("# the entry point\ndef main") and "@decorated" in next(
        PY[s:e] for s, e, label in sections if label == "Parser"
    )


def test_large_class_is_split_into_methods():
    methods = "".join(f"    def m{i}(self):\n" + "        x = 1\n" * 40 + "\n" for i in range(6))
    src = "class Big:\n    '''doc'''\n\n" + methods
    for parser in ("ast", "tree-sitter"):
        if parser == "tree-sitter" and not _has("tree_sitter_python"):
            continue
        sections, _ = code_sections(src, "python", parser=parser)
        labels = [label for _, _, label in sections]
        assert labels[0] == "Big" and labels[1:] == [f"Big.m{i}" for i in range(6)], (parser, labels)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_go_and_javascript_with_tree_sitter_and_fallback():
    for parser in ("tree-sitter", "patterns"):
        if parser == "tree-sitter" and not _has("tree_sitter_go"):
            continue
        sections, _ = code_sections(GO, "go", parser=parser)
        assert [label for _, _, label in sections if label] == ["Greet", "Point", "Norm"], parser
    js = "import x from 'y';\n\nexport function add(a, b) {\n  return a + b;\n}\n\nclass Cart {\n  total() { return 0; }\n}\n"
    if _has("tree_sitter_javascript"):
        sections, _ = code_sections(js, "javascript", parser="tree-sitter")
        assert [label for _, _, label in sections if label] == ["add", "Cart"]


def test_code_files_are_indexed_with_language_and_symbols(tmp_path, tiny_encoder):
    write(tmp_path / "src" / "tool.py", PY)
    write(tmp_path / "src" / "geo.go", GO)
    write(tmp_path / "src" / "broken.py", "def ok():\n    pass\n\ndef broken(:\n")
    docs, skipped = _docs([tmp_path / "src"])
    assert not skipped
    by = {Path(d.path).name: d for d in docs}
    assert by["tool.py"].meta["language"] == "python" and by["tool.py"].meta["symbols"] == ["main", "Parser"]
    assert by["geo.go"].meta["language"] == "go" and by["tool.py"].title == "tool.py"
    assert by["broken.py"].meta["symbols"][0] == "ok"  # a syntax error still gets sections (tree-sitter or patterns)
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=64, chunk_overlap=8)
    index.sync([tmp_path / "src"])
    hit = index.search("parse text split", mode="bm25", by="chunk")[0]
    assert hit.section == "Parser" and hit.path.endswith("tool.py")


def test_gzip_text_and_corpus(tmp_path, tiny_encoder):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.md.gz").write_bytes(gzip.compress(b"# Compressed\n\nNotes about lighthouses."))
    (tmp_path / "d" / "corpus.jsonl.gz").write_bytes(
        gzip.compress(b'{"_id": "g1", "text": "gzipped record about comets"}\n{"_id": "g2", "text": "about moons"}\n')
    )
    docs, skipped = _docs([tmp_path / "d"])
    assert not skipped
    assert {d.doc_id.rsplit("/", 1)[-1] for d in docs} == {"notes.md.gz", "g1", "g2"}
    assert next(d for d in docs if d.fmt == "markdown").title == "Compressed"


@pytest.mark.parametrize(
    "text,encoding",
    [
        ("Le café où nous étions était très agréable, près de la forêt et du château.", "cp1252"),
        ("Съешь же ещё этих мягких французских булок, да выпей чаю. Это пример текста.", "cp1251"),
        ("日本語のテキストです。これは文字コードの検出のための例文です。東京は大きな都市です。", "shift_jis"),
        ("A UTF-16 file with a byte-order mark: naïve résumé.", "utf-16"),
    ],
)
def test_non_utf8_text_is_decoded_by_detection(tmp_path, text, encoding):
    (tmp_path / "doc.txt").write_bytes(text.encode(encoding))
    docs, skipped = _docs([tmp_path])
    assert not skipped and docs[0].text == text
    assert docs[0].meta.get("encoding")


def test_compressed_files_are_read_by_their_content(tmp_path):
    """`changelog.Debian.gz` and `tail.1.gz` were skipped as "unsupported type .gz" (only `X.txt.gz` names
    were read): a `.gz` whose inner name says nothing indexable is read when its content is text, a man page
    rendered as text; otherwise the skip says what it is."""
    man = (
        '.\\" a comment\n.TH TAIL 1 "2024" "GNU coreutils"\n.SH NAME\ntail \\- output the last part of files\n'
        ".SH SYNOPSIS\n.B tail\n[\\fIOPTION\\fR]... [\\fIFILE\\fR]...\n.SH DESCRIPTION\n.PP\n"
        "Print the last 10 lines of each FILE to standard output.\n.TP\n\\fB\\-n\\fR, \\fB\\-\\-lines\\fR=\\fI[+]NUM\\fR\n"
        "output the last NUM lines\n"
    )
    (tmp_path / "tail.1.gz").write_bytes(gzip.compress(man.encode()))
    (tmp_path / "changelog.Debian.gz").write_bytes(
        gzip.compress(b"coreutils (9.1-1) unstable; urgency=medium\n\n  * New upstream release.\n")
    )
    (tmp_path / "data.bin.gz").write_bytes(gzip.compress(bytes(range(256)) * 8))
    (tmp_path / "dump.gz").write_bytes(gzip.compress(bytes(range(256)) * 8))
    (tmp_path / "photo.png.gz").write_bytes(gzip.compress(b"\x89PNG\r\n"))
    got = {Path(x.path).name: x for x in walk([tmp_path])}
    page = got["tail.1.gz"]
    assert isinstance(page, SourceDoc) and page.title == "TAIL(1)" and page.meta.get("man_page")
    assert "# NAME" in page.text and "tail - output the last part of files" in page.text
    assert "-n, --lines=[+]NUM" in page.text and ".TH" not in page.text and "\\f" not in page.text
    assert isinstance(got["changelog.Debian.gz"], SourceDoc) and "New upstream release" in got["changelog.Debian.gz"].text
    assert isinstance(got["dump.gz"], Skipped) and got["dump.gz"].reason == "compressed file is not text (binary file)"
    assert got["data.bin.gz"].reason == "unsupported type .bin.gz" and got["photo.png.gz"].reason == "unsupported type .png.gz"
