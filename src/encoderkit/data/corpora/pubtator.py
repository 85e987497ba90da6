"""PubTator files (the NCBI disease corpus, BC5CDR): per document ``PMID|t|title``, ``PMID|a|abstract``,
then one line per mention ``PMID<TAB>start<TAB>end<TAB>text<TAB>type<TAB>ids``, documents separated by a
blank line. Offsets are into ``title + " " + abstract`` (a few of the NCBI disease corpus' do not match its
text exactly; the mention's own text is kept as given). The ids field holds the gold concept ids: ``|``
between the parts of a composite mention, ``+`` between several concepts of one mention.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> _ = p.write_text("1|t|Wilson disease.\\n1|a|WD is rare.\\n1\\t0\\t14\\tWilson disease\\tSpecificDisease\\tD006527\\n"
...                  "1\\t16\\t18\\tWD\\tSpecificDisease\\tD006527\\n\\n")
>>> (doc,) = read_pubtator(p)
>>> doc.text, [(m.text, m.ids, doc.text[m.start:m.end]) for m in doc.mentions]
('Wilson disease. WD is rare.', [('Wilson disease', ('D006527',), 'Wilson disease'), ('WD', ('D006527',), 'WD')])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError
from ..problems import Problems


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str
    type: str
    ids: tuple[str, ...]  # every gold id (composite parts and several concepts flattened)
    parts: tuple[tuple[str, ...], ...] = ()  # ids per composite part (``|``), each a tuple of ``+`` alternatives


@dataclass
class PubTatorDoc:
    pmid: str
    title: str
    abstract: str
    mentions: list[Mention] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"{self.title} {self.abstract}"


def parse_ids(field_: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """``"D1|D2+D3"`` -> (("D1", "D2", "D3"), (("D1",), ("D2", "D3")))."""
    parts = tuple(tuple(x.strip() for x in part.split("+") if x.strip()) for part in field_.split("|") if part.strip())
    flat = tuple(dict.fromkeys(i for part in parts for i in part))
    return flat, parts


def read_pubtator(path: str | Path) -> list[PubTatorDoc]:
    """Every document of a PubTator file; bad lines reported with their numbers."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file (pass a PubTator file: PMID|t|title, PMID|a|abstract, mention lines)")
    problems = Problems(f"PubTator file {path}")
    docs: dict[str, PubTatorDoc] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if "|t|" in line[:20] or "|a|" in line[:20]:
                pmid, kind, text = line.split("|", 2)
                doc = docs.setdefault(pmid, PubTatorDoc(pmid, "", ""))
                if kind == "t":
                    doc.title = text
                else:
                    doc.abstract = text
                continue
            cols = line.split("\t")
            if len(cols) < 6 or not cols[1].isdigit() or not cols[2].isdigit():
                problems.add("bad mention lines", path, n, "expected PMID, start, end, text, type, ids (tab-separated)")
                continue
            pmid, start, end, text, kind, ids = cols[:6]
            doc = docs.get(pmid)
            if doc is None:
                problems.add("mentions before their document", path, n, f"no title/abstract for {pmid} yet")
                continue
            flat, parts = parse_ids(ids)
            doc.mentions.append(Mention(int(start), int(end), text, kind, flat, parts))
    problems.raise_if_any(hint="fix those lines")
    return list(docs.values())
