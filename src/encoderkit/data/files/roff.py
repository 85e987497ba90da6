"""Man pages (roff ``man`` macros) as readable text, for indexing ``*.[1-9].gz`` files.

Written here because no maintained pure-Python roff renderer installs with this stack and ``man`` /
``groff`` may be missing: a small subset suffices for search, not typesetting. Section headings
(``.SH``/``.SS``) become Markdown headings, so the chunker splits on them; the page title (``.TH``) the
document title; font and size requests keep their text; other requests, comments and escapes go.

>>> page = '.TH TAIL 1\\n.SH NAME\\ntail \\\\- output the last part of files\\n'
>>> text, title = render_man(page + '.SH SYNOPSIS\\n.B tail\\n[\\\\fIOPTION\\\\fR]...')
>>> title
'TAIL(1)'
>>> print(text)
# NAME
tail - output the last part of files
# SYNOPSIS
tail
[OPTION]...
"""

from __future__ import annotations

import re

_ONE_FONT = {".B", ".I", ".SM", ".SB"}
_FONT_REQUESTS = _ONE_FONT | {".BI", ".IB", ".BR", ".RB", ".IR", ".RI"}
_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d+"), ""),  # size changes
    (re.compile(r"\\\*?\((em|en)"), "-"),
    (re.compile(r"\\\((lq|rq|oq|cq)"), '"'),
    (re.compile(r"\\\(bu"), "*"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),  # other named characters
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[e\\]"), "\\\\"),
    (re.compile(r"\\[&|^%:]"), ""),  # zero-width escapes
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r'\\".*$'), ""),  # comments to the end of the line
]
MAN_NAME = re.compile(r"\.[1-9][a-z]*$")  # tail.1, ls.1posix, printf.3


def looks_like_man(name: str, text: str) -> bool:
    """A man page by its name (``tail.1``) or its first requests (``.TH``, ``.Dd``)."""
    return bool(MAN_NAME.search(name.lower())) or bool(re.search(r"^\.(TH|Dd)\b", text[:2000], re.M))


def _plain(line: str) -> str:
    for pattern, repl in _ESCAPES:
        line = pattern.sub(repl, line)
    return line


def render_man(source: str) -> tuple[str, str]:
    """(text, title) of a man page."""
    out: list[str] = []
    title = ""
    for raw in source.splitlines():
        line = raw.rstrip()
        if line.startswith(('.\\"', "'\\\"", '.\\"')) or line in (".", "'"):
            continue  # comments
        if line.startswith((".", "'")):
            request, _, rest = line.partition(" ")
            args = [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest)]
            if request == ".TH" and args:
                title = f"{args[0]}({args[1]})" if len(args) > 1 else args[0]
            elif request in (".SH", ".SS", ".Sh", ".Ss") and args:
                out.append(("# " if request in (".SH", ".Sh") else "## ") + _plain(" ".join(args)))
            elif request in _FONT_REQUESTS and args:  # .B / .I: words; .BR, .IR, ...: alternating fonts, no spaces
                out.append(_plain((" " if request in _ONE_FONT else "").join(args)))
            elif request == ".IP" and args:  # an indented paragraph's tag
                out.append(_plain(args[0]))
            continue
        text = _plain(line)
        if text.strip():
            out.append(text)
    return "\n".join(out).strip(), title
