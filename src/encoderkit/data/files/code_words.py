"""The words of a programming language that say nothing about what code is for: its keywords, built-in
names and pseudo-names (``def``, ``return``, ``self``, ``len``, ``this``, ``nullptr``), found by the
language's Pygments lexer (its token types Keyword, Name.Builtin and Operator.Word) on the text itself:
no hand-kept word lists. Topic keywords of code drop them like English stop words, after identifiers are
split into their words (``open_socket``, ``openSocket`` -> ``open socket``).

>>> sorted(language_stop_words(["def f(self, x):\\n    return len(x) is None\\n"], "python"))
['def', 'is', 'len', 'none', 'return', 'self']
>>> language_stop_words(["anything"], "klingon")
set()
>>> identifier_words("self.socket_pool = openSocket(HTTPServer)")
'self.socket pool = open Socket(HTTP Server)'
"""

from __future__ import annotations

import re
from typing import Iterable

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

_PER_TEXT_CHARS = 20_000  # a file's first 20,000 characters show every common keyword it uses


def language_stop_words(texts: Iterable[str], language: str, limit: int = 200) -> set[str]:
    """Lower-cased keywords, built-ins and word operators the lexer of ``language`` finds in (up to
    ``limit`` of) ``texts``; empty for a language Pygments does not know."""
    try:
        from pygments.lexers import get_lexer_by_name
        from pygments.token import Token
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments comes with rich
        return set()
    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        return set()
    kinds = (Token.Keyword, Token.Name.Builtin, Token.Operator.Word)
    out: set[str] = set()
    for i, text in enumerate(texts):
        if i >= limit:
            break
        for kind, value in lexer.get_tokens(text[:_PER_TEXT_CHARS]):
            if any(kind in k for k in kinds) and value.strip().isidentifier():
                out.add(value.strip().lower())
    return out


def identifier_words(code: str) -> str:
    """``code`` with snake_case and camelCase identifiers split into their words (for keyword counts)."""
    return _CAMEL.sub(" ", code.replace("_", " "))
