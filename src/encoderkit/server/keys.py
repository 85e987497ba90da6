"""API keys: read from a file (``--api-key-file``) or the environment (``ENCODERKIT_API_KEYS``), checked
in constant time against ``Authorization: Bearer KEY``.

A key file holds one key per line; blank lines and lines starting with ``#`` are ignored. Keys shorter
than 16 characters are refused (generate one with ``python -c "import secrets; print(secrets.token_urlsafe(32))"``).

>>> keys = ApiKeys(["0123456789abcdef-key"])
>>> keys.check("Bearer 0123456789abcdef-key"), keys.check("Bearer wrong"), keys.check(None)
(True, False, False)
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Iterable

from ..errors import DataError, EncoderkitError

ENV = "ENCODERKIT_API_KEYS"
MIN_LENGTH = 16


class ApiKeys:
    """A set of keys. Only SHA-256 digests are kept; every check compares against all of them with
    :func:`hmac.compare_digest`, so timing says nothing about which key or how much of it matched."""

    def __init__(self, keys: Iterable[str]):
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, authorization: str | bytes | None) -> bool:
        """True if the ``Authorization`` header value carries one of the keys (``Bearer KEY``)."""
        if not authorization or not self._digests:
            return False
        if isinstance(authorization, str):
            authorization = authorization.encode("latin-1", "replace")
        scheme, _, token = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        digest = hashlib.sha256(token.strip()).digest()
        ok = False
        for d in self._digests:
            ok |= hmac.compare_digest(d, digest)
        return ok


def read_key_file(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EncoderkitError(
            f"cannot read API key file {path}: {exc}", hint="pass a readable text file, one key per line"
        ) from None
    keys = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        check_key(line, DataError, path=path, line=n)
        keys.append(line)
    if not keys:
        raise DataError(path, "no API keys in the file", hint="write one key per line")
    return keys


def check_key(key: str, error=EncoderkitError, **where) -> None:
    if len(key) < MIN_LENGTH or any(c.isspace() for c in key) or not key.isprintable():
        msg = f"API key is shorter than {MIN_LENGTH} characters or holds spaces/control characters"
        hint = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        if where:
            raise error(where["path"], msg, line=where["line"], hint=hint)
        raise error(msg, hint=hint)


def load_keys(key_file: str | Path | None = None, env: dict | None = None) -> list[str]:
    """Keys from ``key_file`` plus ``ENCODERKIT_API_KEYS`` (comma- or space-separated)."""
    keys = read_key_file(key_file) if key_file else []
    raw = (env if env is not None else os.environ).get(ENV, "")
    for k in raw.replace(",", " ").split():
        check_key(k)
        keys.append(k)
    return keys
