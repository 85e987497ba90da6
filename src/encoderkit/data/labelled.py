"""Labelled texts for classification evaluation, with errors naming file:line.

Accepted: ``.jsonl`` with {"text", "label"} per line, or plain text with one ``LABEL TEXT`` per line
(label first, then a space or a tab: SST-2's ``stsa.binary.*`` files).

>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "dev.txt"
>>> _ = f.write_text("1 a fine film\\n0 dull\\n")
>>> read_labelled(f)
(['a fine film', 'dull'], ['1', '0'])
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError


def read_labelled(path: str | Path) -> tuple[list[str], list[str]]:
    """(texts, labels) from a labelled file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass a .jsonl of {text, label} or a 'LABEL TEXT' per line file")
    texts, labels = [], []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if path.suffix.lower() == ".jsonl":
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
                if not isinstance(rec, dict) or "text" not in rec or "label" not in rec:
                    raise DataError(path, "record lacks text/label", line=n, hint='each line: {"text": ..., "label": ...}')
                text, label = str(rec["text"]), str(rec["label"])
            else:
                parts = line.strip().split(None, 1)
                if len(parts) < 2:
                    raise DataError(path, "expected 'LABEL TEXT'", line=n)
                label, text = parts
            texts.append(text)
            labels.append(label)
    if not texts:
        raise DataError(path, "no labelled texts found")
    return texts, labels
