"""Find documents on disk and extract their text, with a reason for everything skipped.

Supported: ``.txt``, ``.md``/``.markdown``, ``.rst``, ``.html``/``.htm`` (text extracted with
BeautifulSoup) and BEIR ``*.jsonl`` corpora ({"_id", "title", "text"} per line). Everything else is
skipped and counted with its reason: unsupported type, binary, invalid UTF-8, empty, unreadable,
too large, symlink loop, broken link, hidden.

>>> docs, skipped = [], []                                      # doctest: +SKIP
>>> for item in walk(["docs/"]):                                # doctest: +SKIP
...     (docs if isinstance(item, SourceDoc) else skipped).append(item)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .jsonl import lines as jsonl_lines

TEXT_FORMATS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".rst": "rst", ".html": "html", ".htm": "html"}
JSONL = ".jsonl"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


@dataclass
class SourceDoc:
    """One document to index. ``doc_id`` is its stable key in the index."""

    doc_id: str
    text: str
    title: str = ""
    path: str = ""
    fmt: str = "text"
    content_hash: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.content_hash:
            self.content_hash = content_hash(self.title, self.text, self.fmt)


@dataclass(frozen=True)
class Skipped:
    """Something found but not indexed, and why (``line`` for one record of a jsonl file)."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


def content_hash(title: str, text: str, fmt: str = "text") -> str:
    """sha256 of what gets indexed (title, format, text): equal hashes mean nothing to re-encode."""
    h = hashlib.sha256()
    for part in (fmt, title, text):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def walk(
    paths: Iterable[str | Path], *, max_bytes: int = DEFAULT_MAX_BYTES, include_hidden: bool = False
) -> Iterator[SourceDoc | Skipped]:
    """Yield a SourceDoc per document and a Skipped per file that cannot be indexed.

    Folders are walked recursively following symlinks, with loops detected by real path. Hidden
    files and folders (".git", ".venv", ...) are skipped unless ``include_hidden``.
    """
    for root in paths:
        root = Path(root)
        if not root.exists() and not root.is_symlink():
            yield Skipped(str(root), "path does not exist")
        elif root.is_symlink() and not root.exists():
            yield Skipped(str(root), "broken symlink")
        elif root.is_dir():
            yield from _walk_dir(root, max_bytes, include_hidden)
        else:
            yield from read_file(root, max_bytes=max_bytes)


def _walk_dir(root: Path, max_bytes: int, include_hidden: bool) -> Iterator[SourceDoc | Skipped]:
    seen_dirs: set[str] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        real = os.path.realpath(d)
        if real in seen_dirs:
            yield Skipped(str(d), "symlink loop (folder already visited)")
            continue
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(str(d), f"unreadable folder ({exc.strerror or exc})")
            continue
        subdirs = []
        for e in entries:
            p = Path(e.path)
            if e.name.startswith(".") and not include_hidden:
                yield Skipped(str(p), "hidden")
                continue
            if e.is_symlink() and not p.exists():
                yield Skipped(str(p), "broken symlink")
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                yield Skipped(str(p), "symlink loop")
                continue
            if is_dir:
                subdirs.append(p)
            else:
                yield from read_file(p, max_bytes=max_bytes)
        stack.extend(reversed(subdirs))


def read_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[SourceDoc | Skipped]:
    """Read one file into SourceDocs (one, or one per line for BEIR jsonl) or a Skipped."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != JSONL and suffix not in TEXT_FORMATS:
        yield Skipped(str(path), f"unsupported type {suffix or '(no extension)'}")
        return
    try:
        size = path.stat().st_size
    except OSError as exc:
        yield Skipped(str(path), f"unreadable ({exc.strerror or exc})")
        return
    if suffix != JSONL and size > max_bytes:  # a jsonl corpus is many documents; the limit is per record
        yield Skipped(str(path), f"too large ({size / 2**20:.1f} MB > {max_bytes / 2**20:.0f} MB limit)")
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield Skipped(str(path), f"unreadable ({exc.strerror or exc})")
        return
    if b"\x00" in raw[:8192]:
        yield Skipped(str(path), "binary file")
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Skipped(str(path), f"invalid UTF-8 at byte {exc.start}")
        return
    if not text.strip():
        yield Skipped(str(path), "empty file")
        return
    if suffix == JSONL:
        yield from _read_beir_jsonl(path, text, max_bytes)
        return
    fmt = TEXT_FORMATS[suffix]
    body, title = extract(text, fmt)
    if not body.strip():
        yield Skipped(str(path), "no text after extraction")
        return
    doc_id = str(path.resolve())
    yield SourceDoc(doc_id=doc_id, text=body, title=title or path.stem, path=doc_id, fmt=fmt)


def _read_beir_jsonl(path: Path, text: str, max_bytes: int) -> Iterator[SourceDoc | Skipped]:
    resolved = str(path.resolve())
    seen: set[str] = set()
    for n, line in jsonl_lines(text):  # split on "\n" only: U+0085, U+2028, U+2029 are legal in JSON strings
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(str(path), f"invalid JSON ({exc.msg})", line=n)
            continue
        if not isinstance(rec, dict) or "_id" not in rec or "text" not in rec:
            yield Skipped(str(path), "not a BEIR corpus record (needs _id and text)", line=n)
            continue
        doc_id = str(rec["_id"])
        title = str(rec.get("title") or "")
        body = str(rec.get("text") or "")
        if doc_id in seen:
            yield Skipped(str(path), f"duplicate _id {doc_id!r}", line=n)
            continue
        if not (title + body).strip():
            yield Skipped(str(path), f"empty document {doc_id!r}", line=n)
            continue
        if len(body.encode()) > max_bytes:
            yield Skipped(str(path), f"document {doc_id!r} too large", line=n)
            continue
        seen.add(doc_id)
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
        yield SourceDoc(doc_id=doc_id, text=body, title=title, path=resolved, fmt="beir", meta=meta)


# ---------------------------------------------------------------------------- extraction
_MD_ATX = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.M)
_MD_SETEXT = re.compile(r"^(?P<t>[^\n]+)\n=+\s*$", re.M)
_RST_TITLE = re.compile(
    r"^(?:(?P<over>[=\-`:'\"~^_*+#])(?P=over)+\n)?(?P<t>[^\n]+)\n(?P<under>[=\-`:'\"~^_*+#])(?P=under)+\s*$", re.M
)
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def extract(text: str, fmt: str) -> tuple[str, str]:
    """Return (text to index, title) for a document of format text | markdown | rst | html."""
    if fmt == "html":
        return extract_html(text)
    if fmt == "markdown":
        text = _FRONT_MATTER.sub("", text, count=1)
        m = _MD_ATX.search(text) or _MD_SETEXT.search(text)
        return text, (m.group(1) if m and m.re is _MD_ATX else m.group("t") if m else "").strip()
    if fmt == "rst":
        m = _RST_TITLE.search(text)
        return text, (m.group("t").strip() if m else "")
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
