"""Terminal-safe output: user data (file names, titles, sections, snippets) is printed as Rich ``Text``
(never parsed as markup, no emoji codes) after :func:`encoderkit.data.textsafe.printable` has made
control, bidi and invisible characters visible."""

from __future__ import annotations

from ..data.textsafe import printable


def shown(s: str, style: str | None = None):
    """A Rich Text of ``s`` with every control character made visible and no markup interpretation."""
    from rich.text import Text

    return Text(printable(s), style=style or "")


def joined(*parts):
    """Concatenate (text, style) pairs (or plain strings of our own) into one Text, escaping user text."""
    from rich.text import Text

    out = Text()
    for p in parts:
        if isinstance(p, tuple):
            out.append(printable(p[0]), style=p[1] or "")
        else:
            out.append(printable(p))
    return out


def highlighted(passage: str, query: str, style: str = "bold yellow"):
    """``passage`` as Text (control characters visible) with the words matching the query's terms styled."""
    import re

    from rich.text import Text

    from ..retrieval.snippets import terms

    text = printable(passage)
    q = terms(query)
    out = Text(text)
    for m in re.finditer(r"\w\w+", text):
        if terms(m.group()) & q:
            out.stylize(style, m.start(), m.end())
    return out
