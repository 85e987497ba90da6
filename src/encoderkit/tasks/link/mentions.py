"""Mention preprocessing for entity linking: the published evaluation protocol for disease normalisation.

BioSyn (Sung et al., ACL 2020, ``preprocess/query_preprocess.py`` and ``src/biosyn/preprocesser.py``) and
SapBERT (Liu et al., NAACL 2021, which reuses BioSyn's processed NCBI disease / BC5CDR sets) prepare each
mention before it is matched against the dictionary (MEDIC for the NCBI disease corpus):

1. abbreviations are expanded with the pairs defined in the mention's own document
   (:func:`abbreviations`, :func:`expand_abbreviations`);
2. composite mentions are split into one mention per concept (:func:`split_composite`);
3. text is lower-cased, known typos fixed and punctuation removed
   (:func:`normalize_name`, :func:`spelling_fixes`, :func:`apply_spelling`).

All functions are pure (no model, no global state) and work on plain strings.

>>> text = "Wilson disease (WD) is a disorder of copper toxicosis (CT). WD patients ..."
>>> pairs = abbreviations(text)
>>> pairs
{'WD': 'Wilson disease', 'CT': 'copper toxicosis'}
>>> [normalize_name(expand_abbreviations(part, pairs)) for part in split_composite("WD and CT")]
['wilson disease', 'copper toxicosis']
"""

from __future__ import annotations

import bisect
import html
import os
import re

__all__ = [
    "abbreviations",
    "apply_spelling",
    "expand_abbreviations",
    "normalize_name",
    "spelling_fixes",
    "split_composite",
]

# --- 1. Abbreviations: Schwartz & Hearst (2003) -------------------------------------------------------------------
# Written by hand: the PyPI `abbreviations` package (a port of the same algorithm) has been unmaintained since 2019.
# BioSyn itself calls Ab3P (Sohn et al. 2008), a C++ tool that adds learned rules to this kind of matching; the two
# can disagree: Schwartz & Hearst keep the shortest long form ("Hereditary hemochromatosis (HH)" -> "hemochromatosis").

_PAREN = re.compile(r"\(([^()]*)\)")
# where the long form's search stops going left: a sentence end, a semicolon or another parenthesis
_CLAUSE_START = re.compile(r"(?:[.!?;:]\s|[()\[\]])")


def _alnum_len(short: str) -> int:
    return sum(ch.isalnum() for ch in short)


_LATIN = {"ie", "eg", "cf", "vs", "etc", "viz", "al"}  # "(i. e., ...)", "(e.g. ...)" are not definitions


def _valid_short_form(short: str) -> bool:
    if not (2 <= _alnum_len(short) <= 10 and any(ch.isalpha() for ch in short) and short[0].isalnum()):
        return False
    if len(short.split()) > 2 or ("." in short and re.sub(r"\W", "", short).lower() in _LATIN):
        return False
    return short.count("[") == short.count("]")  # "(PtdIns [4, 5] P2)" cut at the comma


def _best_long_form(short: str, long: str) -> str | None:
    """Match the short form's characters right to left in ``long``; its first character must start a word."""
    s, i = len(short) - 1, len(long) - 1
    while s >= 0:
        ch = short[s].lower()
        if not ch.isalnum():
            s -= 1
            continue
        while i >= 0 and (long[i].lower() != ch or (s == 0 and i > 0 and long[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    return long[long.rfind(" ", 0, i + 1) + 1 :]


def _pair(short: str, long: str) -> tuple[str, str] | None:
    short, long = short.strip(), long.strip()
    if not _valid_short_form(short) or not long:
        return None
    n = _alnum_len(short)
    window = min(n + 5, 2 * n)  # the long form has at most min(|SF| + 5, 2 |SF|) words
    best = _best_long_form(short, " ".join(long.split()[-window:]))
    if best is None or len(best) < len(short) or short in best:
        return None
    if len(re.split(r"[\s-]+", best.strip())) > window:
        return None
    return short, best


def _definition(inside: str, before: str) -> tuple[str, str] | None:
    """Read ``before (inside)`` as ``long form (SF)`` or ``SF (long form)``, the likelier reading first."""
    outside = before.split()[-1].strip("\"'")
    readings = [(inside, before), (outside, inside) if any(ch.isupper() for ch in outside) else None]
    if len(inside.split()) > 2 or len(inside) > len(outside):  # the parenthesis holds the long form
        readings.reverse()
    return next((found for reading in readings if reading and (found := _pair(*reading))), None)


def abbreviations(text: str) -> dict[str, str]:
    """Short form -> long form pairs defined in ``text``, by the Schwartz & Hearst algorithm.

    Source: A. S. Schwartz and M. A. Hearst, "A simple algorithm for identifying abbreviation definitions in
    biomedical text", Pacific Symposium on Biocomputing 8:451-462 (2003). Candidates are ``long form (SF)`` and,
    when the parenthesised text is longer than the word before it (or has more than two words),
    ``SF (long form)``; the other reading is tried when the first gives nothing. The parenthesised text is cut at
    its first ``;`` or ``,`` ("(WD; OMIM 277900)"). A short form has 2-10 letters or digits, at least one letter,
    at most two words and starts with a letter or digit (and, in ``SF (long form)``, has a capital letter). The
    long form is found by matching the short form's characters right to left in the at most
    ``min(|SF| + 5, 2 |SF|)`` words before the parenthesis (same sentence), the first character starting a word;
    it may not contain the short form (S&H reject it as a word or at the end; here anywhere, so "protein C2
    (C2D)" gives no pair). Latin "(i.e. ...)", "(e.g. ...)" and short forms with an unbalanced bracket are
    skipped. The first definition of a short form in the text wins.

    >>> abbreviations("Wilson disease (WD) is caused by copper toxicosis (CT).")
    {'WD': 'Wilson disease', 'CT': 'copper toxicosis'}
    >>> abbreviations("mutations in adenomatous polyposis coli (APC) and hereditary nonpolyposis colorectal cancer (HNPCC)")
    {'APC': 'adenomatous polyposis coli', 'HNPCC': 'hereditary nonpolyposis colorectal cancer'}
    >>> abbreviations("patients with DMD (Duchenne muscular dystrophy; OMIM 310200)")
    {'DMD': 'Duchenne muscular dystrophy'}
    >>> abbreviations("the gene (ATM) is mutated in 5 (12%) of cases")
    {}
    """
    pairs: dict[str, str] = {}
    starts = [0, *(m.end() for m in _CLAUSE_START.finditer(text))]
    for match in _PAREN.finditer(text):
        inside = re.split(r"[;,]", match.group(1))[0].strip()
        before = text[starts[bisect.bisect_right(starts, match.start()) - 1] : match.start()].strip()
        if not inside or not before:
            continue
        found = _definition(inside, before)
        if found and found[0] not in pairs:
            pairs[found[0]] = found[1]
    return pairs


def expand_abbreviations(mention: str, pairs: dict[str, str]) -> str:
    """Replace whole-word short forms in ``mention`` by their long forms (case-sensitive, one pass).

    A short form counts as a word when no letter, digit or underscore touches it on either side, so "CT,"
    and "(CT)" are expanded but "CTX" and "pCT" are not. The replacement is simultaneous and not repeated, so a
    long form that contains another short form is left as it is (BioSyn's ``apply_abbr_dict`` loops until
    nothing changes; Schwartz & Hearst pairs never contain their own short form, so one pass is the same there).
    A short form in parentheses right after its own long form (the definition) is kept as it is.

    >>> pairs = {"WD": "Wilson disease", "CT": "copper toxicosis"}
    >>> expand_abbreviations("WD", pairs)
    'Wilson disease'
    >>> expand_abbreviations("CT patients", pairs)
    'copper toxicosis patients'
    >>> expand_abbreviations("CTX or WDR5 and HD", pairs)
    'CTX or WDR5 and HD'
    >>> expand_abbreviations("Wilson disease (WD) or WD-like", pairs)
    'Wilson disease (WD) or Wilson disease-like'
    """
    if not pairs:
        return mention
    alternatives = "|".join(re.escape(short) for short in sorted(pairs, key=len, reverse=True))

    def expand(match: re.Match[str]) -> str:
        short, before = match.group(0), mention[: match.start()]
        if before.endswith("(") and before[:-1].rstrip().lower().endswith(pairs[short].lower()):
            return short  # the definition itself: "adenomatous polyposis coli (APC) tumour"
        return pairs[short]

    return re.sub(rf"(?<!\w)(?:{alternatives})(?!\w)", expand, mention)


# --- 2. Composite mentions ------------------------------------------------------------------------------------------

_COORDINATORS = {"and", "or", "and/or", "nor"}
_DETERMINERS = {"the", "some", "other", "all", "both", "either", "neither", "various", "several", "many"}
_PREPOSITIONS = {"of", "in", "to"}  # "deficiency of C5 and C6", "cysts in the kidney and pancreas"
_ROMAN = re.compile(r"(?i)^(?:i{1,3}|iv|v|vi{1,3}|ix|x)$")


def _conjuncts(tokens: list[str]) -> tuple[list[list[str]], bool]:
    """Split at coordinators and commas, drop leading determiners; also tell whether the last lost an "other"."""
    parts: list[list[str]] = [[]]
    for token in tokens:
        if token.lower() in _COORDINATORS:
            parts.append([])
            continue
        parts[-1].append(token.rstrip(","))
        if token.endswith(","):
            parts.append([])
    stripped: list[list[str]] = []
    other = pending = False  # "other" before the last conjunct's words: "some other cancers", "or other, cancers"
    for part in filter(None, parts):
        i = 0
        while i < len(part) and part[i].lower() in _DETERMINERS:
            i += 1
        pending = pending or "other" in (token.lower() for token in part[:i])
        if i < len(part):
            stripped.append(part[i:])
            other, pending = pending, False
    return stripped, other


def _is_label(token: str) -> bool:
    """A number-like name: "1", "C7", "FOXC2", "II", "B"."""
    return any(ch.isdigit() for ch in token) or bool(_ROMAN.match(token)) or (len(token) == 1 and token.isupper())


def _share_label_prefix(parts: list[list[str]]) -> list[list[str]] | None:
    """ "spinocerebellar ataxias 1 and 2" -> the first conjunct's words before its label go to the other labels."""
    first, rest = parts[0], parts[1:]
    if len(first) < 2 or not _is_label(first[-1]) or not all(len(part) == 1 and _is_label(part[0]) for part in rest):
        return None
    return [first, *([*first[:-1], *part] for part in rest)]


def _share_head(parts: list[list[str]], other: bool) -> list[list[str]]:
    """Append the last conjunct's head to each earlier conjunct that does not already end with it."""
    last, previous = parts[-1], parts[-2]
    lowered = [token.lower() for token in last]
    if other:  # "(some) other cancers": what is left is all head
        modifier = 0
    elif "of" in lowered[1:]:  # "pits and sinuses of the lower lip": the head is the "of" phrase
        modifier = lowered.index("of", 1)
    elif len(previous) > 1 and previous[0].lower() == lowered[0]:  # "type 1 and type 2 diabetes"
        modifier = len(previous)
    elif len(previous) > 1 and previous[-1] in last[:-1]:  # "subtotal C6 and complete C6 deficiency"
        modifier = last.index(previous[-1]) + 1
    else:
        modifier = 1
    head = last[modifier:]
    if not head:
        return parts

    def complete(part: list[str]) -> bool:
        return len(part) >= len(head) and part[-1].lower().rstrip("s") == head[-1].lower().rstrip("s")

    return [part if complete(part) else [*part, *head] for part in parts[:-1]] + [last]


def split_composite(mention: str) -> list[str]:
    """Split a composite disease mention ("breast and ovarian cancer") into one mention per concept.

    Follows BioSyn's composite resolution (Sung et al. 2020, ``composite_resolve`` in
    ``preprocess/query_preprocess.py``: an "X of A and B" pattern, a "A, B and C stem" pattern and a slash
    pattern); the same step appears in the sieve of D'Souza & Ng, "Sieve-based entity linking for the
    biomedical domain", ACL 2015. BioSyn's regular expressions are not copied: these rules also cover digits
    ("type 1 and type 2"), which BioSyn's ``[a-zA-Z-]`` patterns skip. Rules, in order:

    * no coordinator ("and", "or", "and/or", "nor") and no "/" inside a word: no split (a comma alone does not
      split: "Alzheimer disease, familial"; a hyphen never does: "ataxia-telangiectasia");
    * slash: one word "A/B" gives prefix + A + suffix and prefix + B + suffix ("Duchenne/Becker muscular
      dystrophy", "cleft lip/palate");
    * the conjuncts are the pieces between coordinators and commas, leading "both", "the", "some other" dropped;
    * shared prefix: "X of A and B" -> "X of A", "X of B" when "of" (or "in", "to") comes before the first
      coordinator ("deficiency of C5 and C6", "abnormalities of eyes, nervous system, and kidneys");
      a numbered name is shared the same way: "spinocerebellar ataxias 1 and 2";
    * shared head: the last conjunct is "modifier + head" and its head is appended to each earlier conjunct
      that does not already end with it ("breast and ovarian cancer"). The modifier is one word, or as many
      words as the previous conjunct when both start alike ("type 1 and type 2 diabetes"), or runs up to the
      previous conjunct's last word ("subtotal C6 and complete C6 deficiency"), or stops before "of" ("pits and
      sinuses of the lower lip"); after "other" all is head ("colon and some other cancers" -> "colon cancers",
      "cancers"). Without a head ("breast cancer and leukemia") the conjuncts are returned as they are. After
      a shared prefix the head is shared only when the earlier conjuncts are single words.

    Limits: the head is a guess from word order, so a multi-word modifier that does not repeat the previous
    conjunct's shape is cut ("craniofacial and central nervous system defects" -> "craniofacial nervous system
    defects"); a shared modifier at the front is not distributed ("hereditary breast and ovarian cancer" ->
    "hereditary breast cancer", "ovarian cancer"; "cleft lip and palate" -> "cleft lip", "palate"); nested
    coordination ("aplasia or hypoplasia of the thymus and parathyroid glands") is not resolved; of the
    parentheses only a trailing coordinated group is read ("complement deficiencies (C2 and C7)"). Whether a
    mention is composite at all is for the caller to decide (the NCBI corpus marks them ``CompositeMention``
    with several concept ids).

    >>> split_composite("breast and ovarian cancer")
    ['breast cancer', 'ovarian cancer']
    >>> split_composite("colorectal, endometrial, and ovarian cancers")
    ['colorectal cancers', 'endometrial cancers', 'ovarian cancers']
    >>> split_composite("type 1 and type 2 diabetes")
    ['type 1 diabetes', 'type 2 diabetes']
    >>> split_composite("deficiency of C5 and C6")
    ['deficiency of C5', 'deficiency of C6']
    >>> split_composite("Duchenne/Becker muscular dystrophy")
    ['Duchenne muscular dystrophy', 'Becker muscular dystrophy']
    >>> split_composite("ataxia-telangiectasia")
    ['ataxia-telangiectasia']
    """
    tokens = mention.split()
    bracketed = re.fullmatch(r"(.*\S)\s*\(([^()]*)\)", mention.strip())
    if bracketed and _COORDINATORS.intersection(bracketed.group(2).lower().split()):  # "deficiencies (C2 and C7)"
        tokens = f"{bracketed.group(1)} {bracketed.group(2)}".split()
    lowered = [token.lower() for token in tokens]
    if not _COORDINATORS.intersection(lowered):
        slashed = [i for i, token in enumerate(tokens) if "/" in token.strip("/")]
        if len(slashed) != 1:
            return [mention]
        i = slashed[0]
        return [" ".join([*tokens[:i], option, *tokens[i + 1 :]]) for option in tokens[i].split("/") if option]

    first = next(i for i, token in enumerate(tokens) if lowered[i] in _COORDINATORS or token.endswith(","))
    at = next((i for i in range(first) if lowered[i] in _PREPOSITIONS), None)
    prefix = tokens[: at + 1] if at is not None else []
    parts, other = _conjuncts(tokens[len(prefix) :])
    if len(parts) < 2:
        return [mention]
    labelled = _share_label_prefix(parts)
    if labelled is not None:
        parts = labelled
    elif not prefix or all(len(part) == 1 for part in parts[:-1]):
        parts = _share_head(parts, other)
    return [" ".join([*prefix, *part]) for part in parts]


# --- 3. Normalisation and spelling ------------------------------------------------------------------------------------


def normalize_name(text: str) -> str:
    """Lower-case, unescape HTML entities, replace punctuation by spaces and collapse whitespace.

    MEDIC names carry HTML entities (``Gunther&apos;s Disease``); they are unescaped first, so the apostrophe
    becomes a space like any other punctuation. Everything that is not a letter or digit (Unicode-aware, so
    "Sjögren" keeps its "ö") becomes a space. BioSyn's ``TextPreprocess`` (Sung et al. 2020) lower-cases and
    splits on ``string.punctuation``; this also treats other symbols (en dashes, "±") as separators.

    >>> normalize_name("Alzheimer&apos;s Disease, Familial")
    'alzheimer s disease familial'
    >>> normalize_name("  Stevens-Johnson  Syndrome (SJS) ")
    'stevens johnson syndrome sjs'
    """
    return " ".join(re.sub(r"[\W_]+", " ", html.unescape(text).lower()).split())


def spelling_fixes(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a typo list of ``wrong||right`` lines (``ncbi-spell-check.txt``) into a dict.

    The list comes from the sieve-based normaliser of D'Souza & Ng (ACL 2015, ``resources/ncbi-spell-check.txt``
    in jennydsuza9/disorder-normalizer) and is shipped with BioSyn's ``preprocess/resources``; its entries are
    lower-case, so apply them after lower-casing as BioSyn does. Blank lines are skipped; a line without
    ``||`` raises ``ValueError``.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "typos.txt"
    ...     _ = path.write_text("pnuemonia||pneumonia\\nsmallbowel||small bowel\\n", encoding="utf-8")
    ...     spelling_fixes(path)
    {'pnuemonia': 'pneumonia', 'smallbowel': 'small bowel'}
    """
    fixes: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            if "||" not in line:
                raise ValueError(f"{path}:{number}: expected 'wrong||right', got {line!r}")
            wrong, right = line.split("||", 1)
            fixes[wrong.strip()] = right.strip()
    return fixes


def apply_spelling(text: str, fixes: dict[str, str]) -> str:
    """Replace whole words of ``text`` found in ``fixes`` (case-sensitive, one pass).

    BioSyn's ``TextPreprocess.correct_spelling`` replaces whitespace tokens; here a word is delimited by
    anything that is not a letter, digit or underscore, so "pnuemonia," is fixed too.

    >>> apply_spelling("severe pnuemonia, illeus", {"pnuemonia": "pneumonia", "illeus": "ileus"})
    'severe pneumonia, ileus'
    >>> apply_spelling("fistula", {"fist": "first"})
    'fistula'
    """
    if not fixes:
        return text
    alternatives = "|".join(re.escape(wrong) for wrong in sorted(fixes, key=len, reverse=True))
    return re.sub(rf"(?<!\w)(?:{alternatives})(?!\w)", lambda m: fixes[m.group(0)], text)
