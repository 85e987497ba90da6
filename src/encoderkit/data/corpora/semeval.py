"""Relation data: SemEval-2010 Task 8 files and JSONL with head/tail character spans, read into one
form, :class:`RelationExample` (text, the two argument spans, a directional label).

SemEval-2010 Task 8 (Hendrickx et al., 2010): blocks of ``ID<TAB>"sentence with <e1>..</e1> and
<e2>..</e2>"``, a label line (``Cause-Effect(e2,e1)`` or ``Other``), a ``Comment:`` line and a blank
line. The markers are removed and the arguments kept as character spans of the clean sentence. In a
data folder the training file is ``TRAIN_FILE.TXT`` and the test file with directed labels is
``TEST_FILE_FULL.TXT`` (the ``TEST_FILE_KEY.TXT`` shipped in ../shared/data has no directions, so it
cannot be the official key). A bare test file without labels (``ID<TAB>"sentence"`` lines) reads with
``label=None``; :func:`read_key` reads a key file (``ID<TAB>Label``).

Labels are directional the way SemEval writes them: ``e1`` is the argument that comes first in the
text, and ``Type(e1,e2)`` means e1 is the first role of Type. JSONL examples
(``{"text", "head": {"start", "end"}, "tail": {...}, "label"}``, ``"id"`` optional) say which argument
is the head instead; they are turned into the same form: ``label(e1,e2)`` when the head comes first,
``label(e2,e1)`` otherwise. ``no_relation`` / ``Other`` stay undirected.

>>> ex = parse_marked('The <e1>company</e1> fabricates plastic <e2>chairs</e2>.')
>>> ex[0], ex[0][ex[1][0]:ex[1][1]], ex[0][ex[2][0]:ex[2][1]]
('The company fabricates plastic chairs.', 'company', 'chairs')
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataError, EncoderkitError

UNDIRECTED = ("Other", "no_relation", "NA", "None")
TRAIN_FILES = ("TRAIN_FILE.TXT", "train.txt", "train.jsonl")
TEST_FILES = ("TEST_FILE_FULL.TXT", "test.txt", "test.jsonl")
DEV_FILES = ("dev.txt", "dev.jsonl", "valid.jsonl")
_MARK = re.compile(r"</?e[12]>")
_LABEL = re.compile(r"^(?P<type>.+)\((?P<a>e[12]),(?P<b>e[12])\)$")


@dataclass
class RelationExample:
    """A text, its two arguments as character spans (``e1`` comes first in the text) and a directional
    label (``Type(e1,e2)``, ``Type(e2,e1)`` or an undirected label such as ``Other``; None if unknown)."""

    text: str
    e1: tuple[int, int]
    e2: tuple[int, int]
    label: str | None
    id: str = ""
    source: str = ""


def parse_marked(sentence: str) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """(clean text, e1 span, e2 span) of a sentence with ``<e1>..</e1>`` and ``<e2>..</e2>`` markers."""
    out, pos, spans, open_at = [], 0, {}, {}
    last = 0
    for m in _MARK.finditer(sentence):
        out.append(sentence[last : m.start()])
        pos += m.start() - last
        last = m.end()
        tag = m.group()
        name = tag.strip("</>")
        if tag.startswith("</"):
            if name not in open_at:
                raise ValueError(f"closing {tag} without an opening tag")
            spans[name] = (open_at.pop(name), pos)
        else:
            if name in open_at or name in spans:
                raise ValueError(f"{tag} appears twice")
            open_at[name] = pos
    out.append(sentence[last:])
    if open_at or set(spans) != {"e1", "e2"}:
        raise ValueError("needs exactly one <e1>..</e1> and one <e2>..</e2>")
    if spans["e1"][0] > spans["e2"][0]:
        raise ValueError("<e1> must come before <e2>")
    return "".join(out), spans["e1"], spans["e2"]


def relation_type(label: str) -> str:
    """The undirected type of a label.

    >>> relation_type("Cause-Effect(e2,e1)"), relation_type("Other")
    ('Cause-Effect', 'Other')
    """
    m = _LABEL.match(label)
    return m.group("type") if m else label


def direction(label: str) -> str | None:
    """ "e1,e2", "e2,e1" or None (undirected).

    >>> direction("Cause-Effect(e2,e1)"), direction("Other")
    ('e2,e1', None)
    """
    m = _LABEL.match(label)
    return f"{m.group('a')},{m.group('b')}" if m else None


def directed(label: str, head_first: bool) -> str:
    """The directional label for an undirected type whose head comes first (or not).

    >>> directed("works_for", True), directed("works_for", False), directed("no_relation", False)
    ('works_for(e1,e2)', 'works_for(e2,e1)', 'no_relation')
    """
    if label in UNDIRECTED or _LABEL.match(label):
        return label
    return f"{label}(e1,e2)" if head_first else f"{label}(e2,e1)"


def read_semeval(path: str | Path) -> list[RelationExample]:
    """Examples of a SemEval-2010 Task 8 file (labelled blocks, or bare ``ID<TAB>"sentence"`` lines)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc.__class__.__name__})") from None
    out: list[RelationExample] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip("\r")
        if not line.strip():
            i += 1
            continue
        n = i + 1
        ident, sep, quoted = line.partition("\t")
        if not sep or not ident.strip().isdigit():
            raise DataError(path, f"expected 'ID<TAB>\"sentence\"', got {line[:60]!r}", line=n)
        sentence = quoted.strip()
        if len(sentence) >= 2 and sentence[0] == sentence[-1] == '"':
            sentence = sentence[1:-1]
        try:
            text, e1, e2 = parse_marked(sentence)
        except ValueError as exc:
            raise DataError(path, str(exc), line=n) from None
        label = None
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt and "\t" not in nxt and not nxt.startswith("Comment"):
            label = nxt
            if not (_LABEL.match(label) or label in UNDIRECTED):
                raise DataError(path, f"label {label!r} is not Type(e1,e2), Type(e2,e1) or Other", line=n + 1)
            i += 2
            if i < len(lines) and lines[i].startswith("Comment"):
                i += 1
        else:
            i += 1
        out.append(RelationExample(text, e1, e2, label, id=ident.strip(), source=f"{path}:{n}"))
    if not out:
        raise DataError(path, "no examples found")
    return out


def read_key(path: str | Path) -> dict[str, str]:
    """``ID<TAB>Label`` lines (an answer key or a predictions file) as {id: label}."""
    path = Path(path)
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(path, f"expected 'ID<TAB>Label', got {line[:60]!r}", line=n)
        out[parts[0]] = parts[1]
    return out


def _span(obj, path: Path, n: int, name: str, text: str) -> tuple[int, int]:
    if not isinstance(obj, dict) or not isinstance(obj.get("start"), int) or not isinstance(obj.get("end"), int):
        raise DataError(path, f"'{name}' must be an object with integer 'start' and 'end'", line=n)
    s, e = obj["start"], obj["end"]
    if not 0 <= s < e <= len(text):
        raise DataError(path, f"'{name}' [{s}, {e}) is outside the text (length {len(text)}) or empty", line=n)
    if isinstance(obj.get("text"), str) and obj["text"] != text[s:e]:
        raise DataError(path, f"'{name}' text {obj['text']!r} differs from the text at [{s}, {e}): {text[s:e]!r}", line=n)
    return s, e


def read_relation_jsonl(path: str | Path) -> list[RelationExample]:
    """Examples of a JSONL file with head/tail character spans (see the module docstring)."""
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise DataError(path, "expected an object with a 'text' string", line=n)
        text = rec["text"]
        head = _span(rec.get("head"), path, n, "head", text)
        tail = _span(rec.get("tail"), path, n, "tail", text)
        if max(head[0], tail[0]) < min(head[1], tail[1]):
            raise DataError(path, "head and tail overlap", line=n)
        label = rec.get("label", rec.get("relation"))
        if label is not None and (not isinstance(label, str) or not label):
            raise DataError(path, "'label' must be a non-empty string", line=n)
        head_first = head[0] < tail[0]
        e1, e2 = (head, tail) if head_first else (tail, head)
        lab = directed(label, head_first) if label is not None else None
        out.append(RelationExample(text, e1, e2, lab, id=str(rec.get("id", n)), source=f"{path}:{n}"))
    if not out:
        raise DataError(path, "no examples found")
    return out


def read_relation_file(path: str | Path) -> list[RelationExample]:
    path = Path(path)
    return read_relation_jsonl(path) if path.suffix == ".jsonl" else read_semeval(path)


def load_relation_split(data: str | Path, split: str) -> list[RelationExample] | None:
    """Examples of ``split`` (train | dev | test) from a folder, or ``data`` itself when it is a file.
    None when the folder has no file for ``dev`` (callers then hold out part of train)."""
    data = Path(data)
    if data.is_file():
        return read_relation_file(data)
    if not data.is_dir():
        raise EncoderkitError(f"'{data}' does not exist", hint="pass a SemEval-2010 Task 8 folder, a file or a .jsonl")
    names = {"train": TRAIN_FILES, "test": TEST_FILES, "dev": DEV_FILES}[split]
    for name in names:
        if (data / name).is_file():
            examples = read_relation_file(data / name)
            if split == "test" and name == "TEST_FILE_FULL.TXT" and any(e.label is None for e in examples):
                raise DataError(data / name, "test examples without labels")
            return examples
    if split == "dev":
        return None
    hint = f"expected one of: {', '.join(names)}"
    if split == "test" and (data / "TEST_FILE_KEY.TXT").is_file():
        hint = "TEST_FILE_KEY.TXT has no directions; the official key is the label lines of TEST_FILE_FULL.TXT"
    raise EncoderkitError(f"no {split} file in '{data}'", hint=hint)


def holdout(examples: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, validation): a seeded random ``fraction`` held out (at least one example when > 0).

    >>> tr, va = holdout(list(range(10)), 0.2, 0); len(tr), len(va), sorted(tr + va) == list(range(10))
    (8, 2, True)
    """
    if fraction <= 0 or len(examples) < 2:
        return list(examples), []
    idx = list(range(len(examples)))
    random.Random(seed).shuffle(idx)
    k = max(1, int(round(fraction * len(examples))))
    held = set(idx[:k])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]
