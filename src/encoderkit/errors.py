"""One exception type for everything a user can fix: it carries what went wrong and what to do."""

from __future__ import annotations


class EncoderkitError(Exception):
    """A problem with the user's input or environment, with a hint on how to fix it.

    >>> str(EncoderkitError("index 'x' not found", hint="create it with `encoderkit index`"))
    "index 'x' not found; create it with `encoderkit index`"
    """

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class DataError(EncoderkitError):
    """Malformed input data; the message names the file and, where it applies, the line."""

    def __init__(self, path, message: str, *, line: int | None = None, hint: str | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        self.path = str(path)
        self.line = line
        super().__init__(f"{where}: {message}", hint=hint)
