"""Labelled text for classification: files and folders with train / dev / test splits.

``read_labeled(path)`` accepts

- a file: ``.csv`` / ``.tsv`` (header row; text and label columns by name), ``.jsonl`` (label a string or a
  list), SST-2 ``label sentence`` lines, TREC ``COARSE:fine question`` lines, AG News
  ``class,title,description`` CSV (with ``classes.txt`` beside it); the format is detected from the
  name and the first line, or forced with ``fmt``;
- a folder holding one file per split: names containing ``train``, ``dev`` / ``valid`` / ``val``,
  ``test`` (``../shared/data/sst2``, ``trec_qc`` and ``ag_news`` are such folders).

A single file is the split ``"all"``: training uses it as its training set (and carves a dev set out of
it), evaluation as its test set. Multi-label data: JSONL lists, or ``label_sep`` ("a|b") in CSV/TSV.
Every problem is a :class:`~encoderkit.errors.DataError` naming the file and line: empty texts, missing
labels, malformed rows, labels in dev/test that training never saw, a training set with one class.

>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "reviews.csv"
>>> _ = f.write_text("text,label\\ngreat film,pos\\ndull plot,neg\\n")
>>> d = read_labeled(f)
>>> d.labels, d.split("all").texts
(['neg', 'pos'], ['great film', 'dull plot'])
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError, EncoderkitError
from . import label_formats as F

FORMATS = ("auto", "csv", "tsv", "jsonl", "sst2", "trec", "agnews")
SPLITS = ("train", "dev", "test")
SPLIT_WORDS = {"train": ("train",), "dev": ("dev", "valid", "validation", "val"), "test": ("test",)}
SST2_NAMES = {"0": "negative", "1": "positive"}


@dataclass
class LabeledSet:
    """The examples of one split. ``labels[i]`` is a tuple: one label, or several (multi-label)."""

    path: str
    texts: list[str]
    labels: list[tuple[str, ...]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def single(self) -> list[str]:
        """The one label of each example (single-label data)."""
        return [lab[0] for lab in self.labels]

    def subset(self, idx) -> LabeledSet:
        idx = list(idx)
        return LabeledSet(self.path, [self.texts[i] for i in idx], [self.labels[i] for i in idx], [self.lines[i] for i in idx])

    def where(self, i: int) -> str:
        return f"{self.path}:{self.lines[i]}"


@dataclass
class LabeledData:
    """Splits by name ("train", "dev", "test", or "all" for a single file), the label set (in a
    meaningful order when the data gives one, e.g. classes.txt, else sorted) and whether any example
    has several labels."""

    source: str
    splits: dict[str, LabeledSet]
    labels: list[str]
    multi_label: bool
    fmt: str = "auto"
    meta: dict = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.splits

    def split(self, name: str) -> LabeledSet:
        if name in self.splits:
            return self.splits[name]
        if "all" in self.splits and name in SPLITS:
            return self.splits["all"]
        raise EncoderkitError(
            f"{self.source} has no '{name}' split (it has: {', '.join(self.splits)})", hint="pass another --split"
        )

    def describe(self) -> dict:
        return {
            "source": self.source,
            "format": self.fmt,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "splits": {k: {"path": v.path, "examples": len(v)} for k, v in self.splits.items()},
        }


# ---------------------------------------------------------------------------- detection
def detect_format(path: Path) -> str:
    """The format of one file, from its name and first non-empty line."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".tsv":
        return "tsv"
    first = ""
    for line in F.read_bytes_lines(path)[:50]:
        if line.strip():
            first = line.strip()
            break
    if suffix == ".csv":
        if re.match(r'^"?\d+"?,', first) and (path.parent / "classes.txt").is_file():
            return "agnews"
        return "csv"
    if F.TREC_LINE.match(first):
        return "trec"
    if re.match(r"^\S+ \S", first):
        return "sst2"
    raise DataError(path, "cannot tell the format of this file", hint=f"pass --format ({', '.join(FORMATS[1:])})")


def split_files(folder: Path) -> dict[str, Path]:
    """The file of each split in a folder (names containing train / dev|valid|val / test). TREC's
    ``*.all`` files (numeric labels) and text files that are not data (readme, classes) are ignored."""
    found: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for f in sorted(folder.iterdir()):
        name = f.name.lower()
        if not f.is_file() or name.startswith(".") or name.endswith(".all") or name in ("classes.txt", "readme.txt"):
            continue
        tokens = re.split(r"[^a-z]+", name)
        for split, words in SPLIT_WORDS.items():
            if any(w in tokens for w in words):
                found[split].append(f)
    out = {}
    for split, files in found.items():
        if len(files) > 1:
            raise DataError(folder, f"several {split} files ({', '.join(p.name for p in files)})", hint="keep one per split")
        if files:
            out[split] = files[0]
    if not out:
        raise DataError(folder, "no train / dev / test file found", hint="name files e.g. train.csv, dev.csv, test.csv")
    return out


# ---------------------------------------------------------------------------- reading
def read_split(
    path: Path,
    fmt: str = "auto",
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    label_level: str = "coarse",
) -> tuple[LabeledSet, str, list[str] | None]:
    """One file: (examples, format, class order from classes.txt or None)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise EncoderkitError(f"unknown format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    order = None
    if fmt == "jsonl":
        rows = F.read_jsonl(path, text_col, label_col, label_sep)
    elif fmt in ("csv", "tsv"):
        rows = F.read_delimited(path, "," if fmt == "csv" else "\t", text_col, label_col, label_sep)
    elif fmt == "sst2":
        rows = F.read_label_first(path, label_sep)
    elif fmt == "trec":
        rows = F.read_trec(path, label_level)
    else:  # agnews
        classes = path.parent / "classes.txt"
        order = F.read_classes(classes) if classes.is_file() else None
        rows = F.read_agnews(path, order)
    rows = list(rows)
    if not rows:
        raise DataError(path, "no examples found")
    if fmt == "sst2" and all(set(r.labels) <= set(SST2_NAMES) for r in rows):
        rows = [F.Row(r.text, tuple(SST2_NAMES[x] for x in r.labels), r.line) for r in rows]
        order = list(SST2_NAMES.values())
    return LabeledSet(str(path), [r.text for r in rows], [r.labels for r in rows], [r.line for r in rows]), fmt, order


def read_labeled(
    path: str | Path,
    *,
    fmt: str = "auto",
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    label_level: str = "coarse",
    multi_label: bool | None = None,
) -> LabeledData:
    """Read a labelled file or split folder (see the module docstring). ``multi_label`` None: decided by
    the data (any example with several labels, or a JSONL list); True with no ``label_sep``: ","."""
    path = Path(path)
    if not path.exists():
        raise EncoderkitError(f"data '{path}' does not exist", hint="pass a labelled file or a folder of train/dev/test files")
    if multi_label and label_sep is None and fmt not in ("jsonl",) and path.suffix.lower() not in (".jsonl", ".ndjson"):
        label_sep = ","
    kw = dict(text_col=text_col, label_col=label_col, label_sep=label_sep, label_level=label_level)
    files = split_files(path) if path.is_dir() else {"all": path}
    splits, formats, order = {}, set(), None
    for name, f in files.items():
        ls, used, classes = read_split(f, fmt, **kw)
        splits[name], order = ls, order or classes
        formats.add(used)
    seen = {lab for s in splits.values() for labs in s.labels for lab in labs}
    if order is not None:
        labels = list(order) + sorted(seen - set(order))
    else:
        labels = sorted(seen, key=_natural)
    multi = bool(multi_label) or any(len(labs) != 1 for s in splits.values() for labs in s.labels)
    if multi_label is False and multi:
        s, i = _first(splits, lambda labs: len(labs) != 1)
        raise DataError(s.path, f"{len(s.labels[i])} labels on a single-label example", line=s.lines[i])
    return LabeledData(str(path), splits, labels, multi, fmt=",".join(sorted(formats)))


def _natural(label: str):
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _first(splits: dict[str, LabeledSet], bad) -> tuple[LabeledSet, int]:
    for s in splits.values():
        for i, labs in enumerate(s.labels):
            if bad(labs):
                return s, i
    raise AssertionError("no such example")


# ---------------------------------------------------------------------------- checks and splits
def check_trainable(train: LabeledSet, others: dict[str, LabeledSet], multi_label: bool) -> list[str]:
    """Raise DataError for data a classifier cannot learn from; returns the label set (training order).

    - training needs at least two classes (multi-label: at least one label that is not on every example);
    - every label of dev / test must occur in training (named with its file:line).
    """
    known = sorted({lab for labs in train.labels for lab in labs}, key=_natural)
    if not known:
        raise DataError(train.path, "no labels in the training data")
    if not multi_label and len(known) < 2:
        raise DataError(
            train.path, f"only one class ('{known[0]}') in the training data", hint="a classifier needs at least two classes"
        )
    for name, s in others.items():
        for i, labs in enumerate(s.labels):
            for lab in labs:
                if lab not in known:
                    raise DataError(
                        s.path,
                        f"label '{lab}' of the {name} split never occurs in training ({train.path})",
                        line=s.lines[i],
                        hint="fix the label or add training examples of it",
                    )
    return known


def stratified_split(labels: list[tuple[str, ...]], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(keep, held-out) indices: ``fraction`` of each class held out (at least one per class with two or
    more examples); multi-label examples are stratified by their first label.

    >>> keep, held = stratified_split([("a",)] * 8 + [("b",)] * 2, 0.25)
    >>> sorted(held), len(keep)
    ([1, 4, 8], 7)
    """
    rng = random.Random(seed)
    by: dict[str, list[int]] = {}
    for i, labs in enumerate(labels):
        by.setdefault(labs[0] if labs else "", []).append(i)
    held: list[int] = []
    for key in sorted(by):
        idx = by[key][:]
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            n = min(max(1, n), len(idx) - 1)
        else:
            n = 0
        held += idx[:n]
    held_set = set(held)
    return [i for i in range(len(labels)) if i not in held_set], sorted(held)


def sample_per_class(labels: list[tuple[str, ...]], n: int, seed: int) -> list[int]:
    """``n`` example indices per class (first label), drawn with ``seed``; fewer when a class is smaller.

    >>> sample_per_class([("a",), ("b",), ("a",), ("b",), ("a",)], 1, seed=0) == sample_per_class(
    ...     [("a",), ("b",), ("a",), ("b",), ("a",)], 1, seed=0)
    True
    """
    rng = random.Random(seed)
    by: dict[str, list[int]] = {}
    for i, labs in enumerate(labels):
        by.setdefault(labs[0] if labs else "", []).append(i)
    out: list[int] = []
    for key in sorted(by):
        out += rng.sample(by[key], min(n, len(by[key])))
    return sorted(out)


def read_labelled(path: str | Path) -> tuple[list[str], list[str]]:
    """(texts, labels) of a single-label file for classification evaluation (robustness and trade-off
    reports), read exactly as training reads them (:func:`read_split`): ``.jsonl`` {"text", "label"},
    CSV/TSV, ``LABEL TEXT`` lines (SST-2's 0/1 named negative/positive, as the classifiers trained on
    them name them), TREC or AG News. Errors name file:line.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "dev.txt"
    >>> _ = f.write_text("1 a fine film\\n0 dull\\n")
    >>> read_labelled(f)
    (['a fine film', 'dull'], ['positive', 'negative'])
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass a .jsonl of {text, label} or a 'LABEL TEXT' per line file")
    examples, _, _ = read_split(path)
    for labels, line in zip(examples.labels, examples.lines):
        if len(labels) != 1:
            raise DataError(path, f"{len(labels)} labels on one example: these reports need single-label data", line=line)
    return examples.texts, examples.single
