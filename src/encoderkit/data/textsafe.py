"""Text that is safe to store, print and serialise: the one policy for names, ids and text.

Python represents what is not valid Unicode as lone surrogates: the bytes of a file name that is not
valid UTF-8 (``os.fsdecode``'s surrogateescape), a ``"\\ud800"`` escape in a JSON record, invalid bytes
in a command-line argument. SQLite, tokenizers and UTF-8 output all reject them, so they are handled
once, here, the same way everywhere (docs/robustness.md):

- **names and ids** (file names, paths, document ids): *escaped*, visibly and stably: an undecodable
  byte becomes ``\\xNN``, another lone surrogate ``\\udNNN``. The file is still read from its real name;
- **text** (document bodies, titles found in content, queries): a lone surrogate becomes U+FFFD (the
  Unicode replacement character) and NUL characters are dropped;
- **terminal output**: control, bidi-override and invisible format characters are shown as escapes
  (:func:`printable`), so a file name can never move the cursor, forge a line or recolour the screen.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")
# C0/C1 controls, zero-width and bidi formatting characters, line/paragraph separators, BOM
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def has_surrogates(s: str) -> bool:
    return _SURROGATE.search(s) is not None


def clean_text(s: str) -> str:
    """Text with lone surrogates replaced by U+FFFD and NUL characters removed.

    >>> clean_text("a\\ud800b\\x00c")
    'a\\ufffdbc'
    """
    if _SURROGATE.search(s):
        s = _SURROGATE.sub("\ufffd", s)
    return s.replace("\x00", "") if "\x00" in s else s


def escape_name(s: str) -> str:
    """A name or id as valid Unicode: undecodable bytes as ``\\xNN``, other lone surrogates ``\\udNNN``.

    >>> escape_name("caf\\udce9.txt"), escape_name("id-\\ud800"), escape_name("plain")
    ('caf\\\\xe9.txt', 'id-\\\\ud800', 'plain')
    """
    if not _SURROGATE.search(s):
        return s

    def one(m: re.Match) -> str:
        c = ord(m.group())
        return f"\\x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"\\u{c:04x}"

    return _SURROGATE.sub(one, s)


def fs_path(name: str) -> str:
    """The file-system form of an escaped path (``\\xNN`` back to the raw byte), for existence checks.

    >>> fs_path(escape_name("caf\\udce9.txt")) == "caf\\udce9.txt"
    True
    """
    if "\\x" not in name:
        return name
    return _ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), name)


def printable(s: str) -> str:
    """``s`` for a terminal: control, bidi and invisible characters (and lone surrogates) as escapes.

    >>> printable("evil\\x1b[2Jname\\nforged line\\u202e")
    'evil\\\\x1b[2Jname\\\\nforged line\\\\u202e'
    """
    s = escape_name(str(s))
    if not _INVISIBLE.search(s):
        return s

    def one(m: re.Match) -> str:
        ch = m.group()
        c = ord(ch)
        return _NAMED.get(ch) or (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}")

    return _INVISIBLE.sub(one, s)


def json_safe(obj: Any) -> Any:
    """``obj`` with every string (keys too) escaped by :func:`escape_name`, so it always encodes as UTF-8.

    >>> json_safe({"id\\ud800": ["x\\udcff", 1]})
    {'id\\\\ud800': ['x\\\\xff', 1]}
    """
    if isinstance(obj, str):
        return escape_name(obj)
    if isinstance(obj, dict):
        return {json_safe(k) if isinstance(k, str) else k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def clean_tree(obj: Any) -> Any:
    """``obj`` (parsed JSON) with :func:`clean_text` applied to every string value and key."""
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_tree(v) for v in obj]
    return obj
