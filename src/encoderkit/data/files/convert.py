"""Text out of documents: plain text, Markdown, reStructuredText, HTML (BeautifulSoup), PDF (pypdf, text
per page, pages kept as chunk sections), Word .docx (python-docx, headings kept as Markdown headings)
and source code (see :mod:`encoderkit.data.files.code`).

Every pattern here runs in linear time on any input (a heading regex with nested optional parts can
take minutes on one crafted line), and titles are searched only in a document's first lines.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass, field

TITLE_SCAN_CHARS = 65536
MAX_TITLE_LINE = 500


@dataclass
class Extracted:
    """What a file yields: the text to index, a title, the chunking format, explicit sections
    ((start, end, label) spans chunked separately, e.g. PDF pages or code symbols) and metadata."""

    text: str
    title: str = ""
    fmt: str = "text"
    sections: list | None = None
    meta: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- headings (linear)
_ATX_OPEN = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+")
_SETEXT_LINE = re.compile(r"[ ]{0,3}=+[ \t]*$")
_RST_ADORN = re.compile(r"([=\-`:'\"~^_*+#])\1+[ \t]*$")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def atx_heading(line: str) -> tuple[int, str] | None:
    """(level, title) of a Markdown ATX heading line, else None; linear time on any line.

    >>> atx_heading("## Install ##"), atx_heading("#hashtag"), atx_heading("# a # b  ###")
    ((2, 'Install'), None, (1, 'a # b'))
    """
    m = _ATX_OPEN.match(line)
    if not m:
        return None
    title = line[m.end() :].strip()
    stripped = title.rstrip("#")
    if stripped != title and (not stripped or stripped[-1] in " \t"):
        title = stripped.rstrip()
    return len(m.group(1)), title


def _head_lines(text: str) -> list[str]:
    return text[:TITLE_SCAN_CHARS].splitlines()


def markdown_title(text: str) -> str:
    """The first ATX (``# T``) or setext (``T\\n===``) level-1 heading in the first lines.

    >>> markdown_title("intro\\n# Title #\\nbody"), markdown_title("Title\\n=====\\n")
    ('Title', 'Title')
    """
    lines = _head_lines(text)
    for i, line in enumerate(lines):
        if len(line) > MAX_TITLE_LINE:
            continue
        h = atx_heading(line)
        if h and h[0] == 1:
            return h[1]
        if i and _SETEXT_LINE.match(line) and lines[i - 1].strip() and len(lines[i - 1]) <= MAX_TITLE_LINE:
            return lines[i - 1].strip()
    return ""


def rst_title(text: str) -> str:
    """The first adorned title of a reStructuredText document.

    >>> rst_title("Title\\n=====\\n\\nbody"), rst_title("=====\\nOver\\n=====\\n")
    ('Title', 'Over')
    """
    lines = _head_lines(text)
    for i in range(1, len(lines)):
        line, prev = lines[i], lines[i - 1]
        if len(line) > MAX_TITLE_LINE or len(prev) > MAX_TITLE_LINE:
            continue
        if _RST_ADORN.match(line) and prev.strip() and not _RST_ADORN.match(prev):
            return prev.strip()
    return ""


def extract(text: str, fmt: str) -> tuple[str, str]:
    """Return (text to index, title) for a document of format text | markdown | rst | html."""
    if fmt == "html":
        return extract_html(text)
    if fmt == "markdown":
        text = _FRONT_MATTER.sub("", text, count=1)
        return text, markdown_title(text)
    if fmt == "rst":
        return text, rst_title(text)
    return text, ""


def extract_html(html: str) -> tuple[str, str]:
    """Visible text of an HTML page (scripts, styles and navigation dropped) and its title."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.string.strip()
    elif soup.find("h1"):
        title = soup.find("h1").get_text(" ", strip=True)
    for tag in soup(["script", "style", "noscript", "template", "nav", "head"]):
        tag.decompose()
    for level in range(1, 7):  # keep headings as Markdown headings so chunking can split on them
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n{'#' * level} {h.get_text(' ', strip=True)}\n")
    lines = [ln.strip() for ln in soup.get_text("\n").splitlines()]
    body = "\n".join(ln for ln in lines if ln)
    return body, title


# ---------------------------------------------------------------------------- PDF
def extract_pdf(raw: bytes) -> Extracted:
    """Text of every page (pypdf), pages joined by a blank line; each page is a section labelled
    "page N" so chunks never straddle pages and keep their page number. Title from the PDF's metadata."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from .fileio import SkipFile

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF (needs a password)")
        parts, sections, pos = [], [], 0
        for n, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if not text:
                continue
            if parts:
                parts.append("\n\n")
                pos += 2
            sections.append((pos, pos + len(text), f"page {n}"))
            parts.append(text)
            pos += len(text)
        n_pages = len(reader.pages)
        title = ""
        meta = reader.metadata
        if meta is not None and meta.title:
            title = str(meta.title).strip()
    except PdfReadError as exc:
        raise SkipFile(f"damaged PDF ({exc})") from None
    text = "".join(parts)
    if not text.strip():
        raise SkipFile("no text in PDF (scanned pages need OCR first)")
    return Extracted(text, title, "pdf", sections, {"pages": n_pages})


# ---------------------------------------------------------------------------- Word
def extract_docx(raw: bytes, max_unpacked: int) -> Extracted:
    """Paragraphs and tables of a .docx in document order; "Heading N"/"Title" paragraphs become
    Markdown headings, so chunks split at them and carry them as their section. The zip is checked
    first: parts that would unpack to more than ``max_unpacked`` bytes (a zip bomb) are refused."""
    from .fileio import SkipFile, mb

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile as exc:
        raise SkipFile(f"damaged .docx ({exc})") from None
    if unpacked > max_unpacked:
        raise SkipFile(f"too large ({mb(unpacked)} unpacked > {mb(max_unpacked)} limit)")
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises several types for malformed packages
        raise SkipFile(f"damaged .docx ({type(exc).__name__}: {exc})") from None
    lines, first_heading = [], ""
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, document)
            text = p.text.strip()
            if not text:
                continue
            style = (p.style.name if p.style is not None else "") or ""
            level = 1 if style == "Title" else _heading_level(style)
            if level:
                first_heading = first_heading or text
                lines.append(f"\n{'#' * level} {text}\n")
            else:
                lines.append(text)
        elif tag == "tbl":
            for row in Table(child, document).rows:
                cells = [c.text.strip() for c in row.cells]
                if any(cells):
                    lines.append(" | ".join(cells))
    text = "\n".join(lines).strip()
    if not text:
        raise SkipFile("no text in .docx")
    title = (document.core_properties.title or "").strip() or first_heading
    return Extracted(text, title, "markdown", None, {})


def _heading_level(style: str) -> int:
    """The level of a Word heading style, 0 for other styles.

    >>> _heading_level("Heading 2"), _heading_level("Normal")
    (2, 0)
    """
    m = re.fullmatch(r"Heading ([1-6])", style)
    return int(m.group(1)) if m else 0
