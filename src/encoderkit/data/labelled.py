"""Labelled texts for classification evaluation (robustness and trade-off reports), read exactly as
training reads them (:func:`encoderkit.data.labeled.read_split`): the same formats, and SST-2's 0/1
labels named negative/positive as the classifiers trained on them name them. Errors name file:line.

>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "dev.txt"
>>> _ = f.write_text("1 a fine film\\n0 dull\\n")
>>> read_labelled(f)
(['a fine film', 'dull'], ['positive', 'negative'])
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError


def read_labelled(path: str | Path) -> tuple[list[str], list[str]]:
    """(texts, labels) of a single-label file: ``.jsonl`` {"text", "label"}, CSV/TSV, ``LABEL TEXT`` lines
    (SST-2), TREC or AG News (see :mod:`encoderkit.data.labeled`)."""
    from .labeled import read_split

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass a .jsonl of {text, label} or a 'LABEL TEXT' per line file")
    examples, _, _ = read_split(path)
    for labels, line in zip(examples.labels, examples.lines):
        if len(labels) != 1:
            raise DataError(path, f"{len(labels)} labels on one example: these reports need single-label data", line=line)
    return examples.texts, examples.single
