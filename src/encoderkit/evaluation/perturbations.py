"""Controlled perturbations of queries or texts, as small pure functions: ``f(text, level, rng) -> text``.

Each is deterministic for a given ``random.Random`` (see :func:`rng_for`: one generator per seed,
family, level and item, so a query's perturbation does not depend on the order of the others) and
changes exactly what its level says, where the text has room for it:

- ``typo``: ``level`` letters replaced by a neighbouring key on a QWERTY keyboard (case kept);
- ``drop``: ``level`` letters deleted;
- ``case``: ``lower`` | ``upper`` | ``title`` | ``random`` (each letter's case flipped with p=0.5);
- ``shuffle``: ``level`` words moved (a random cycle over that many positions, so every chosen word
  lands somewhere else), or ``all`` words;
- ``synonym``: ``level`` (or ``all``) occurrences of terms of a swap table replaced (synonyms,
  abbreviations <-> long forms); the table comes from the user, or from the corpus' own
  abbreviation definitions (:func:`mine_abbreviations`, Schwartz & Hearst 2003).

Level 0 returns the text unchanged. The noise model follows the robustness studies of dense
retrieval under typos (Zhuang & Zuccon 2021, "Dealing with typos for BERT-based passage retrieval and
ranking"; Sidiropoulos & Kanoulas 2022) and NLP behavioural testing (Ribeiro et al. 2020, CheckList).

>>> import random
>>> keyboard_typos("retrieval", 2, random.Random(0)) != "retrieval"
True
>>> char_drops("retrieval", 3, random.Random(0)), recase("Gene X", "upper", random.Random(0))
('etriea', 'GENE X')
>>> shuffle_words("a b c d", 0, random.Random(0)), len(shuffle_words("a b c d", "all", random.Random(1)).split())
('a b c d', 4)
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from typing import Callable, Mapping, Sequence

from ..errors import EncoderkitError

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row, and the staggered rows around it)."""
    out: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for i, c in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:
                near += [_ROWS[r - 1][j] for j in (i, i + 1) if 0 <= j < len(_ROWS[r - 1])]
            if r < 2:
                near += [_ROWS[r + 1][j] for j in (i - 1, i) if 0 <= j < len(_ROWS[r + 1])]
            out[c] = "".join(near)
    return out


NEIGHBOURS = _neighbours()
CASE_MODES = ("lower", "upper", "title", "random")


def rng_for(seed: int, *parts) -> random.Random:
    """A generator seeded by ``seed`` and any labels (family, level, item id): stable across runs and
    Python versions (sha256, not ``hash``).

    >>> rng_for(0, "typo", 1, "q7").random() == rng_for(0, "typo", 1, "q7").random()
    True
    """
    key = "|".join(str(p) for p in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def _letters(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if c.isascii() and c.isalpha()]


def keyboard_typos(text: str, level: int, rng: random.Random) -> str:
    """Replace ``level`` distinct letters with a keyboard neighbour (all letters if there are fewer)."""
    pos = _letters(text)
    chars = list(text)
    for i in rng.sample(pos, min(int(level), len(pos))):
        c = chars[i]
        new = rng.choice(NEIGHBOURS[c.lower()])
        chars[i] = new.upper() if c.isupper() else new
    return "".join(chars)


def char_drops(text: str, level: int, rng: random.Random) -> str:
    """Delete ``level`` distinct letters (all but one if there are fewer)."""
    pos = _letters(text)
    drop = set(rng.sample(pos, min(int(level), max(0, len(pos) - 1))))
    return "".join(c for i, c in enumerate(text) if i not in drop)


def recase(text: str, level, rng: random.Random) -> str:
    """Change the casing: lower | upper | title | random (0 or None: unchanged)."""
    if not level:
        return text
    if level == "lower":
        return text.lower()
    if level == "upper":
        return text.upper()
    if level == "title":
        return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" "))
    if level == "random":
        return "".join(c.swapcase() if rng.random() < 0.5 else c for c in text)
    raise EncoderkitError(f"unknown case level '{level}'", hint=f"use {', '.join(CASE_MODES)}")


def shuffle_words(text: str, level, rng: random.Random) -> str:
    """Move ``level`` words (``all``: every word) along a random cycle (Sattolo's algorithm), so each
    chosen word ends at another chosen position; whitespace is normalised to single spaces when
    anything moves."""
    words = text.split()
    k = len(words) if level == "all" else min(int(level), len(words))
    if k < 2:
        return text
    chosen = sorted(rng.sample(range(len(words)), k))
    cycle = list(chosen)
    for i in range(len(cycle) - 1, 0, -1):  # Sattolo: a uniformly random single cycle
        j = rng.randrange(i)
        cycle[i], cycle[j] = cycle[j], cycle[i]
    out = list(words)
    for src, dst in zip(chosen, cycle):
        out[dst] = words[src]
    return " ".join(out)


def term_pattern(table: Mapping[str, Sequence[str]]) -> re.Pattern | None:
    """One regex matching any table term as whole words, longest terms first, case-insensitive."""
    terms = sorted(table, key=len, reverse=True)
    if not terms:
        return None
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in terms) + r")(?![\w-])", re.I)


def swap_terms(text: str, level, rng: random.Random, table: Mapping[str, Sequence[str]], pattern=None) -> str:
    """Replace ``level`` (or ``all``) occurrences of table terms (keys lower-cased) with one of their
    replacements; a text without any term is returned unchanged.

    >>> swap_terms("TNF levels rise", 1, random.Random(0), {"tnf": ["tumor necrosis factor"]})
    'tumor necrosis factor levels rise'
    """
    pattern = pattern or term_pattern(table)
    if pattern is None or not level:
        return text
    spans = [m.span() for m in pattern.finditer(text)]
    if not spans:
        return text
    pick = spans if level == "all" else rng.sample(spans, min(int(level), len(spans)))
    out, last = [], 0
    for s, e in sorted(pick):
        out += [text[last:s], rng.choice(list(table[text[s:e].lower()]))]
        last = e
    return "".join(out + [text[last:]])


# ---------------------------------------------------------------------------- swap tables
_PAREN = re.compile(r"\(([^()]{2,10})\)")


def _long_form(short: str, before: str) -> str | None:
    """Schwartz & Hearst (2003): the shortest span ending ``before`` whose words contain the short
    form's characters in order, the first character starting a word."""
    words = before.split()
    window = " ".join(words[-min(len(short) + 5, 2 * len(short)) :])
    s, pos = len(short) - 1, len(window) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while pos >= 0 and (window[pos].lower() != c or (s == 0 and pos > 0 and window[pos - 1].isalnum())):
            pos -= 1
        if pos < 0:
            return None
        pos -= 1
        s -= 1
    start = window.rfind(" ", 0, pos + 1) + 1
    long = window[start:].strip(" ,;:")
    return long if len(long.split()) >= 2 and len(long) > len(short) else None


def mine_abbreviations(texts: Sequence[str], min_count: int = 2) -> dict[str, list[str]]:
    """Abbreviation <-> long form table from definitions "long form (SF)" in ``texts`` (the most frequent
    long form of each short form seen at least ``min_count`` times), both directions, keys lower-cased.

    >>> t = mine_abbreviations(["tumor necrosis factor (TNF) rises", "and tumor necrosis factor (TNF) too"])
    >>> t["tnf"], t["tumor necrosis factor"]
    (['tumor necrosis factor'], ['TNF'])
    """
    counts: Counter = Counter()
    for text in texts:
        for m in _PAREN.finditer(text):
            short = m.group(1).strip()
            if len(short.split()) > 2 or not short[0].isalnum() or not any(c.isalpha() for c in short):
                continue
            long = _long_form(short, text[: m.start()])
            if long:
                counts[(short, long.lower())] += 1
    best: dict[str, tuple[int, str]] = {}
    for (short, long), n in counts.items():
        if n >= min_count and n > best.get(short, (0, ""))[0]:
            best[short] = (n, long)
    table: dict[str, list[str]] = {}
    for short, (_, long) in best.items():
        table.setdefault(short.lower(), []).append(long)
        table.setdefault(long, []).append(short)
    return table


def read_swap_table(path) -> dict[str, list[str]]:
    """A user's swap list: one ``term<TAB>replacement[<TAB>replacement...]`` per line (``#`` comments),
    or a JSON object {term: replacement or [replacements]}; used in both directions."""
    import json
    from pathlib import Path

    from ..errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", hint="pass a TSV (term<TAB>replacement) or JSON swap list")
    table: dict[str, list[str]] = {}

    def add(a: str, b: str) -> None:
        if a.strip() and b.strip() and a.strip().lower() != b.strip().lower():
            table.setdefault(a.strip().lower(), []).append(b.strip())
            table.setdefault(b.strip().lower(), []).append(a.strip())

    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
        if not isinstance(obj, dict):
            raise DataError(path, "expected an object {term: replacement(s)}")
        for k, v in obj.items():
            for r in [v] if isinstance(v, str) else v:
                add(str(k), str(r))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise DataError(path, "expected term<TAB>replacement", line=n)
            for r in parts[1:]:
                add(parts[0], r)
    if not table:
        raise DataError(path, "no swaps found")
    return {k: list(dict.fromkeys(v)) for k, v in table.items()}


# ---------------------------------------------------------------------------- families
FAMILIES: dict[str, tuple[Callable, list]] = {
    "typo": (keyboard_typos, [1, 2, 3]),
    "drop": (char_drops, [1, 2, 3]),
    "case": (recase, ["lower", "upper", "random"]),
    "shuffle": (shuffle_words, [2, 4, "all"]),
    "synonym": (swap_terms, [1, "all"]),
}


def parse_perturbations(specs: Sequence[str]) -> list[tuple[str, list]]:
    """``["typo:1,2,3", "case", "shuffle:all"]`` -> [(family, levels)]; a family alone takes its default
    levels; numbers become ints.

    >>> parse_perturbations(["typo:1,3", "case"])
    [('typo', [1, 3]), ('case', ['lower', 'upper', 'random'])]
    """
    out = []
    for spec in specs:
        for part in spec.replace(" ", ";").split(";"):
            if not part.strip():
                continue
            name, _, levels = part.strip().partition(":")
            if name not in FAMILIES:
                raise EncoderkitError(
                    f"unknown perturbation '{name}'", hint=f"use {', '.join(FAMILIES)} (e.g. typo:1,2,3 or case:upper)"
                )
            vals = [int(x) if x.strip().isdigit() else x.strip() for x in levels.split(",") if x.strip()] if levels else None
            out.append((name, vals or list(FAMILIES[name][1])))
    return out


def perturb(text: str, family: str, level, rng: random.Random, *, table=None, pattern=None) -> str:
    """Apply one family at one level (level 0: the text itself)."""
    if level in (0, "0", None):
        return text
    fn = FAMILIES[family][0]
    if family == "synonym":
        return fn(text, level, rng, table or {}, pattern)
    return fn(text, level, rng)
