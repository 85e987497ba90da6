"""Read files without surprises: only regular files (checked on the opened descriptor, so a FIFO,
socket or device behind any name or symlink is never read); sizes capped while reading, not only from
``stat`` (a growing file, a gzip bomb); text decoded as UTF-8, else by a byte-order mark, else by
detection (charset-normalizer).

Every failure is a :class:`SkipFile` with the reason a user sees; ``transient`` marks what may work
next time (permissions, I/O errors), for which an index keeps the previously indexed version.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
import zlib
from pathlib import Path
from typing import Iterator

READ_BLOCK = 1 << 20
BINARY_PROBE = 8192
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


class SkipFile(Exception):
    """A file (or record) that is not indexed, with the reason; ``transient``: may be readable later."""

    def __init__(self, reason: str, *, transient: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words.

    >>> file_kind(stat.S_IFIFO), file_kind(stat.S_IFCHR)
    ('FIFO', 'character device')
    """
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "folder"),
    ):
        if test(mode):
            return name
    return "special file"


def mb(n: int) -> str:
    """Bytes as MB for messages.

    >>> mb(3 * 2**20), mb(1536)
    ('3 MB', '0.001465 MB')
    """
    return f"{n / 2**20:.4g} MB"


def _os_reason(exc: OSError) -> SkipFile:
    if exc.errno == errno.ELOOP:
        return SkipFile("symlink loop")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return SkipFile("vanished while reading" if exc.filename else "broken symlink")
    return SkipFile(f"unreadable ({exc.strerror or exc})", transient=True)


def open_regular(path: str | Path) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading only if it is a regular file; returns (fd, fstat). ``O_NONBLOCK`` makes
    opening a FIFO return at once, and the type is checked again on the descriptor (the name may have
    been swapped for a FIFO or device in between)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise SkipFile("broken symlink") from None
        raise _os_reason(exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise SkipFile(f"not a regular file ({file_kind(st.st_mode)})")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _os_reason(exc) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise SkipFile(f"not a regular file ({file_kind(st.st_mode)})")
    return fd, st


def read_fd(fd: int, limit: int, what: str = "") -> bytes:
    """Read at most ``limit`` bytes from ``fd``; more than that is a "too large" SkipFile."""
    parts, n = [], 0
    while True:
        try:
            block = os.read(fd, min(READ_BLOCK, limit + 1 - n))
        except BlockingIOError:  # pragma: no cover - regular files never block
            raise SkipFile("not readable without waiting") from None
        except OSError as exc:
            raise _os_reason(exc) from None
        if not block:
            break
        parts.append(block)
        n += len(block)
        if n > limit:
            raise SkipFile(f"too large ({what}more than {mb(limit)}; raise --max-file-mb to index it)")
    return b"".join(parts)


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file (``.gz`` files decompressed), at most ``limit`` of them."""
    fd, st = open_regular(path)
    try:
        gz = str(path).lower().endswith(".gz")
        if not gz and st.st_size > limit:
            raise SkipFile(f"too large ({mb(st.st_size)} > {mb(limit)} limit; raise --max-file-mb to index it)")
        raw = read_fd(fd, limit if not gz else max(limit, 1), "")
    finally:
        os.close(fd)
    return gunzip(raw, limit) if gz else raw


def gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress gzip data (every member) to at most ``limit`` bytes (a gzip bomb stops there).

    >>> import gzip; gunzip(gzip.compress(b"abc") + gzip.compress(b"def"), 100)
    b'abcdef'
    """
    out, n, data = [], 0, raw
    try:
        while data:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = d.decompress(data, limit + 1 - n)
            out.append(chunk)
            n += len(chunk)
            if n > limit or d.unconsumed_tail:
                raise SkipFile(f"too large (more than {mb(limit)} decompressed; raise --max-file-mb to index it)")
            if not d.eof:
                raise SkipFile("truncated gzip file")
            data = d.unused_data
    except zlib.error as exc:
        raise SkipFile(f"not a valid gzip file ({exc})") from None
    return b"".join(out)


def iter_lines(path: str | Path, max_line: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) of a text file read as a stream (``.gz`` decompressed on the fly); a line
    longer than ``max_line`` comes as (n, None) and is never held in memory whole. The total read is
    capped at the size the file had when opened (plus ``max_line``), so a file that keeps growing ends."""
    import gzip

    fd, st = open_regular(path)
    raw = os.fdopen(fd, "rb", closefd=True)
    gz = str(path).lower().endswith(".gz")
    budget = (st.st_size * 1000 + max_line) if gz else (st.st_size + max_line)
    try:
        fh = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        n, total = 0, 0
        while total <= budget:
            try:
                line = fh.readline(max_line + 1)
            except OSError as exc:
                raise _os_reason(exc) if exc.errno else SkipFile(f"not a valid gzip file ({exc})") from None
            except (EOFError, zlib.error) as exc:
                raise SkipFile(f"truncated or invalid gzip file ({exc})") from None
            if not line:
                return
            n += 1
            total += len(line)
            if len(line) > max_line and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n") and total <= budget:  # skip the rest of the long line
                    line = fh.readline(READ_BLOCK)
                    total += len(line)
                yield n, None
            else:
                yield n, line
        raise SkipFile(f"too large (grew past {mb(budget)} while being read)")
    finally:
        raw.close()


def decode_text(raw: bytes) -> tuple[str, str]:
    """(text, encoding) of file bytes: a byte-order mark wins, then UTF-8, then detection. Bytes that
    look binary, or that no encoding explains, are a SkipFile.

    >>> decode_text("café".encode("utf-8")), decode_text(codecs.BOM_UTF16_LE + "hi".encode("utf-16-le"))
    (('café', 'utf-8'), ('hi', 'utf-16'))
    """
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise SkipFile(f"invalid {enc} text at byte {exc.start}") from None
    if b"\x00" in raw[:BINARY_PROBE]:
        raise SkipFile("binary file")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    from charset_normalizer import from_bytes

    matches = list(from_bytes(raw))
    if not matches:
        raise SkipFile(f"undecodable text (invalid UTF-8 at byte {first_bad}, no other encoding fits)")
    top = (matches[0].chaos, -matches[0].coherence)
    tied = [m for m in matches if (m.chaos, -m.coherence) == top]
    # equally plausible candidates (short Latin text fits cp1250 as well as cp1252): the commoner wins
    best = min(tied, key=lambda m: _COMMON.index(m.encoding) if m.encoding in _COMMON else len(_COMMON))
    return str(best), best.encoding


_COMMON = ["cp1252", "latin_1", "iso8859_15", "cp1251", "koi8_r", "shift_jis", "cp932", "gb18030", "big5", "euc_kr", "cp1250"]
