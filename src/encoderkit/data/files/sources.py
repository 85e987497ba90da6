"""Find documents on disk and extract their text, with a reason for everything skipped.

Supported: ``.txt``, ``.md``/``.markdown``, ``.rst``, ``.html``/``.htm`` (BeautifulSoup), ``.pdf``
(pypdf, text per page), ``.docx`` (python-docx), source code (``.py .js .ts .tsx .go .rs .java .c .cpp
...``, sections per function/class, see :mod:`encoderkit.data.files.code`), BEIR ``*.jsonl`` corpora
({"_id", "title", "text"} per line), and any of these compressed as ``.gz``. Text that is not UTF-8 is
decoded by its byte-order mark or by detection (charset-normalizer).

Reading never blocks and never reads unbounded data (:mod:`encoderkit.data.files.fileio`: regular files only,
checked on the open descriptor; sizes capped while reading); each file's extraction has a time limit;
one bad file or record is one :class:`Skipped` with its reason, never the end of a run. Names that are
not valid UTF-8 are indexed under an escaped name (:mod:`encoderkit.data.textsafe`).

>>> docs, skipped = [], []                                      # doctest: +SKIP
>>> for item in walk(["docs/"]):                                # doctest: +SKIP
...     (docs if isinstance(item, SourceDoc) else skipped).append(item)
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..jsonl import RecordError
from ..jsonl import lines as jsonl_lines
from ..jsonl import parse as jsonl_parse
from ..textsafe import clean_text, clean_tree, escape_name, has_surrogates
from .code import code_sections, language_of
from .convert import Extracted, extract, extract_docx, extract_html, extract_pdf
from .fileio import SkipFile, decode_text, iter_lines, read_bytes
from .timelimit import TimeLimitExceeded, run_with_time_limit

TEXT_FORMATS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".rst": "rst", ".html": "html", ".htm": "html"}
BINARY_FORMATS = {".pdf": "pdf", ".docx": "docx"}
JSONL = ".jsonl"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIME_LIMIT = 60.0  # seconds per file for reading + extraction
DOCX_UNPACK_FACTOR = 8  # a .docx may unpack to this many times the file size limit
KNOWN_BINARY = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".tar", ".zip", ".tgz", ".bin", ".so", ".o", ".a", ".exe", ".iso",
                ".img", ".mp3", ".mp4", ".wav", ".ogg", ".sqlite", ".db", ".npy", ".pt", ".onnx", ".safetensors"}  # fmt: skip

__all__ = ["SourceDoc", "Skipped", "walk", "read_file", "extract", "extract_html", "content_hash", "supported_suffix"]


@dataclass
class SourceDoc:
    """One document to index. ``doc_id`` is its stable key in the index. ``sections``: explicit
    (start, end, label) spans chunked separately (PDF pages, code symbols), or None."""

    doc_id: str
    text: str
    title: str = ""
    path: str = ""
    fmt: str = "text"
    content_hash: str = ""
    meta: dict = field(default_factory=dict)
    sections: list | None = None
    real_path: str = ""  # the file behind ``path`` after following symlinks ("" for records)

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


GZ = ".gz"  # a compressed file whose name does not say what is inside: decided by its content


def supported_suffix(name: str) -> str | None:
    """The format suffix of a file name (``.gz`` looked through), or None if it is not indexed. A ``.gz``
    file whose inner name says nothing indexable (``changelog.Debian.gz``, ``tail.1.gz``) is ``".gz"``:
    read if its content is text (a man page is rendered as text), skipped with the real reason otherwise.

    >>> supported_suffix("notes.MD"), supported_suffix("corpus.jsonl.gz"), supported_suffix("a.png")
    ('.md', '.jsonl', None)
    >>> supported_suffix("changelog.Debian.gz"), supported_suffix("tail.1.gz"), supported_suffix("photo.png.gz")
    ('.gz', '.gz', None)
    """
    lower = name.lower()
    compressed = lower.endswith(".gz")
    if compressed:
        lower = lower[:-3]
    suffix = os.path.splitext(lower)[1]
    if suffix in TEXT_FORMATS or suffix in BINARY_FORMATS or suffix == JSONL or language_of(suffix):
        return suffix
    if compressed and suffix not in KNOWN_BINARY:
        return GZ
    return None


def walk(
    paths: Iterable[str | Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    include_hidden: bool = False,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
    read=None,
) -> Iterator[SourceDoc | Skipped]:
    """Yield a SourceDoc per document and a Skipped per file that cannot be indexed.

    Folders are walked recursively following symlinks, with loops detected by real path; a document's
    id is its absolute path as reached under the given root (a symlink's document belongs to the
    link). The same file reached twice (symlink, hard link) is read once. Hidden files and folders
    (".git", ".venv", ...) are skipped unless ``include_hidden``. ``time_limit``: seconds per file.
    ``read(path)``: what reading one file yields (default :func:`read_file`; a distributed build yields a
    placeholder here and reads the files elsewhere).
    """
    seen_files: dict[tuple[int, int], str] = {}
    if read is None:
        read = lambda path: read_file(path, max_bytes=max_bytes, time_limit=time_limit)
    for root in paths:
        root = os.path.abspath(os.fspath(root))
        if os.path.islink(root) and not os.path.exists(root):
            yield Skipped(escape_name(root), _link_reason(root))
        elif not os.path.exists(root):
            yield Skipped(escape_name(root), "path does not exist")
        elif os.path.isdir(root):
            yield from _walk_dir(root, include_hidden, read, seen_files)
        else:
            yield from _read_once(root, read, seen_files)


def _link_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
    return "broken symlink"


def _walk_dir(root: str, include_hidden: bool, read, seen_files) -> Iterator[SourceDoc | Skipped]:
    seen_dirs: set[str] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        real = os.path.realpath(d)
        if real in seen_dirs:
            yield Skipped(escape_name(d), "symlink loop (folder already visited)")
            continue
        seen_dirs.add(real)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(escape_name(d), f"unreadable folder ({exc.strerror or exc})")
            continue
        subdirs = []
        for e in entries:
            p = os.path.join(d, e.name)
            if e.name.startswith(".") and not include_hidden:
                yield Skipped(escape_name(p), "hidden")
                continue
            try:
                is_link = e.is_symlink()
                is_dir = e.is_dir()
            except OSError as exc:
                loop = exc.errno == errno.ELOOP
                yield Skipped(escape_name(p), "symlink loop" if loop else f"unreadable ({exc.strerror or exc})")
                continue
            if is_link and not os.path.exists(p):
                yield Skipped(escape_name(p), _link_reason(p))
            elif is_dir:
                subdirs.append(p)
            else:
                yield from _read_once(p, read, seen_files)
        stack.extend(reversed(subdirs))


def _read_once(path: str, read, seen_files) -> Iterator[SourceDoc | Skipped]:
    if supported_suffix(os.path.basename(path)) is not None:
        try:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
        except OSError:
            key = None
        if key is not None and key in seen_files:
            yield Skipped(escape_name(path), f"same file as {seen_files[key]}")
            return
        if key is not None:
            seen_files[key] = escape_name(path)
    yield from read(path)


def read_file(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, time_limit: float | None = DEFAULT_TIME_LIMIT
) -> Iterator[SourceDoc | Skipped]:
    """Read one file into SourceDocs (one, or one per line for BEIR jsonl) or a Skipped."""
    path = os.path.abspath(os.fspath(path))
    shown = escape_name(path)
    name = os.path.basename(path)
    suffix = supported_suffix(name)
    if suffix is None:
        lower = name.lower()
        ext = os.path.splitext(lower[:-3])[1] + ".gz" if lower.endswith(".gz") else os.path.splitext(lower)[1]
        yield Skipped(shown, f"unsupported type {escape_name(ext) or '(no extension)'}")
        return
    if suffix == JSONL:
        yield from _read_beir_jsonl(path, max_bytes)
        return
    try:
        got = run_with_time_limit(lambda: _extract_file(path, suffix, max_bytes), time_limit)
    except SkipFile as exc:
        yield Skipped(shown, exc.reason)
        return
    except TimeLimitExceeded:
        yield Skipped(shown, f"extraction timed out (over {time_limit:g} s)")
        return
    except ImportError as exc:
        extra = "code" if language_of(suffix) else "documents"
        yield Skipped(shown, f"needs {exc.name or 'a missing package'} (pip install 'encoderkit[{extra}]')")
        return
    except (MemoryError, RecursionError) as exc:
        yield Skipped(shown, f"extraction failed ({type(exc).__name__})")
        return
    except Exception as exc:  # one bad file never ends a run: its extractor's failure is its skip reason
        yield Skipped(shown, f"extraction failed ({type(exc).__name__}: {escape_name(str(exc))[:200]})")
        return
    text = clean_text(got.text)
    if not text.strip():
        yield Skipped(shown, "no text after extraction")
        return
    stem = name[:-3] if name.lower().endswith(".gz") else name
    default_title = stem if got.fmt == "code" else os.path.splitext(stem)[0]
    title = clean_text(got.title) or escape_name(default_title)
    fmt = got.fmt
    hash_fmt = f"{fmt}/{got.meta.get('parser', '')}" if fmt == "code" else fmt
    yield SourceDoc(
        doc_id=shown,
        text=text,
        title=title,
        path=shown,
        fmt=fmt,
        content_hash=content_hash(title, text, hash_fmt),
        meta=got.meta,
        sections=got.sections,
        real_path=escape_name(os.path.realpath(path)),
    )


def _extract_file(path: str, suffix: str, max_bytes: int) -> Extracted:
    raw = read_bytes(path, max_bytes)
    if suffix == GZ:
        return _compressed_text(path, raw)
    if suffix == ".pdf":
        return extract_pdf(raw)
    if suffix == ".docx":
        return extract_docx(raw, max_bytes * DOCX_UNPACK_FACTOR)
    text, encoding = decode_text(raw)
    meta = {} if encoding in ("utf-8", "utf-8-sig", "ascii") else {"encoding": encoding}
    if not text.strip():
        raise SkipFile("empty file")
    language = language_of(suffix)
    if language:
        sections, parser = code_sections(text, language)
        symbols = [label for _, _, label in sections if label]
        return Extracted(text, "", "code", sections, {**meta, "language": language, "parser": parser, "symbols": symbols})
    body, title = extract(text, TEXT_FORMATS[suffix])
    return Extracted(body, title, TEXT_FORMATS[suffix], None, meta)


def _compressed_text(path: str, raw: bytes) -> Extracted:
    """A ``.gz`` file whose name says nothing of its content: text if it decodes as text (a man page
    rendered), else a skip naming what it is."""
    from .roff import looks_like_man, render_man

    if raw[:4] in (b"%PDF",) or raw[:2] == b"PK" or raw[:262][257:262] == b"ustar":
        kind = "a PDF" if raw[:4] == b"%PDF" else "a zip archive" if raw[:2] == b"PK" else "a tar archive"
        raise SkipFile(f"compressed file holds {kind}, not text (decompress it first)")
    try:
        text, encoding = decode_text(raw)
    except SkipFile as exc:
        raise SkipFile(f"compressed file is not text ({exc.reason})") from None
    if not text.strip():
        raise SkipFile("empty file")
    meta = {} if encoding in ("utf-8", "utf-8-sig", "ascii") else {"encoding": encoding}
    inner = os.path.basename(path)[:-3]
    if looks_like_man(inner, text):
        body, title = render_man(text)
        return Extracted(body, title, "markdown", None, {**meta, "man_page": True})
    return Extracted(text, "", "text", None, meta)


# ---------------------------------------------------------------------------- BEIR corpora
def _read_beir_jsonl(path: str, max_bytes: int) -> Iterator[SourceDoc | Skipped]:
    """One SourceDoc per record, streamed line by line (each record at most ``max_bytes``). Policy for
    bad records (docs/robustness.md): skipped with a reason (invalid JSON or UTF-8, not an object, no
    usable ``_id`` or ``text``, duplicate id, too large); lone surrogates are escaped in ids and
    replaced by U+FFFD in text."""
    shown = escape_name(path)
    seen: set[str] = set()
    found = False
    try:
        for n, raw in iter_lines(path, max_bytes):
            if raw is None:
                yield Skipped(shown, f"record too large (more than {max_bytes / 2**20:.4g} MB)", line=n)
                continue
            if not raw.strip():
                continue
            item = _beir_record(raw, n, shown, seen)
            if item is None:
                continue
            found = True
            if isinstance(item, SourceDoc):
                seen.add(item.doc_id)
            yield item
    except SkipFile as exc:
        yield Skipped(shown, exc.reason)
        return
    if not found:
        yield Skipped(shown, "empty file")


def _beir_record(raw: bytes, n: int, shown: str, seen: set[str]) -> SourceDoc | Skipped | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Skipped(shown, f"invalid UTF-8 at byte {exc.start}", line=n)
    found = [line for _, line in jsonl_lines(text)]  # the format's own rule: "\n" only, CR and BOM dropped
    if not found:
        return None
    try:
        rec = jsonl_parse(found[0])
    except RecordError as exc:
        return Skipped(shown, str(exc), line=n)
    except RecursionError:
        return Skipped(shown, "invalid JSON (nested too deeply)", line=n)
    if not isinstance(rec, dict) or "_id" not in rec or "text" not in rec:
        return Skipped(shown, "not a BEIR corpus record (needs _id and text)", line=n)
    raw_id, title, body = rec["_id"], rec.get("title"), rec["text"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        return Skipped(shown, f"invalid _id ({'null' if raw_id is None else type(raw_id).__name__}; needs a string)", line=n)
    doc_id = escape_name(str(raw_id))
    if not doc_id.strip():
        return Skipped(shown, "empty _id", line=n)
    if body is not None and not isinstance(body, str):
        return Skipped(shown, f"text of {doc_id!r} is a {type(body).__name__}, not a string", line=n)
    if title is not None and not isinstance(title, (str, int, float)) or isinstance(title, bool):
        return Skipped(shown, f"title of {doc_id!r} is a {type(title).__name__}, not a string", line=n)
    body = clean_text(body or "")
    title = clean_text(str(title) if title is not None else "")
    if doc_id in seen:
        return Skipped(shown, f"duplicate _id {doc_id!r}", line=n)
    if not (title + body).strip():
        return Skipped(shown, f"empty document {doc_id!r}", line=n)
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    if meta and has_surrogates(json.dumps(meta, ensure_ascii=False)):
        meta = clean_tree(meta)
    return SourceDoc(doc_id=doc_id, text=body, title=title, path=shown, fmt="beir", meta=meta)
