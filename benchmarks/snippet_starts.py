"""Issue 35 item 6: where snippets start. Indexes real documents nobody here wrote — the man pages of this
machine (`/usr/share/man/man1/*.1.gz`, rendered as text) and Python standard-library source files — and
searches each with queries made from its own words; counts the top-3 snippets that start inside a word,
inside a sentence (prose: not at a sentence start of the chunk's document) or inside a line (code).

    python benchmarks/snippet_starts.py [--docs 150] [--queries 150]

Writes benchmarks/results/snippet-starts/{results.json, results.md}. Run it at two commits to compare.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

OUT = RESULTS / "snippet-starts"


def corpus(root: Path, n_docs: int, seed: int) -> None:
    """Copy ``n_docs`` man pages and ``n_docs`` stdlib modules into ``root`` (deterministic sample)."""
    rng = random.Random(seed)
    man = sorted(Path("/usr/share/man/man1").glob("*.1.gz"))
    src = sorted(p for p in Path(sysconfig.get_paths()["stdlib"]).glob("*.py") if p.stat().st_size < 200_000)
    for group, files in (("man", man), ("code", src)):
        (root / group).mkdir(parents=True)
        for f in rng.sample(files, min(n_docs, len(files))):
            (root / group / f.name).write_bytes(f.read_bytes())


def queries(index, n: int, seed: int) -> list[str]:
    """Two- and three-word queries drawn from the indexed chunks' own words."""
    rng = random.Random(seed)
    ids = sorted(index.snapshot().chunk_ids.tolist())
    out = []
    for cid in rng.sample(ids, min(n, len(ids))):
        words = [w for w in re.findall(r"[A-Za-z]{4,}", index.chunk_texts([cid])[cid]) if w.lower() not in ("self", "return")]
        if len(words) >= 3:
            out.append(" ".join(rng.sample(words, rng.choice((2, 3)))))
    return out


def bad_start(hit, snippet, prev: str) -> str | None:
    """Why a snippet's start is wrong, or None (``prev``: the document's characters before the chunk). A
    snippet that says it was cut (it begins with "…") is not counted: it marks its own start."""
    if snippet.text.startswith("\u2026"):
        return None
    text, off = hit.text, snippet.start - hit.start
    if hit.fmt == "code":  # the source file itself says whether the snippet starts a line
        line = Path(hit.path).read_text()[: snippet.start].rsplit("\n", 1)[-1]
        return None if not line.strip() else "inside a word" if line[-1:].isalnum() else "inside a line"
    if off == 0:  # the snippet starts where the chunk does
        if prev[-1:].isalnum() and text[:1].isalnum():
            return "inside a word"
        ends_sentence = re.search(r"[.!?:][\"')\]]*\s+$", prev)
        return "inside a sentence" if prev[-1:] not in ("", "\n") and not ends_sentence else None
    before = text[:off]
    if before[-1:].isalnum() and text[off : off + 1].isalnum():
        return "inside a word"
    last = before.rstrip()[-1:]
    return None if last in (".", "!", "?", ":", "") or "\n" in before[len(before.rstrip()) :] else "inside a sentence"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=150)
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from encoderkit import Index
    from encoderkit.retrieval.snippets import snippet

    root = Path(tempfile.mkdtemp(prefix="ek-snippets-"))
    corpus(root / "docs", args.docs, args.seed)
    index = Index.create(root / "ix", encoder="default")
    index.sync([root / "docs"], show_progress=False, export_onnx=False)
    qs = queries(index, args.queries, args.seed)
    counts = {"hits": 0, "inside a word": 0, "inside a sentence": 0, "inside a line": 0, "marked as cut": 0}
    examples = []
    for q in qs:
        for h in index.search(q, k=3):
            sn = snippet(h, q)
            row = index.store.chunks_by_id([h.chunk_id])[h.chunk_id]
            why = bad_start(h, sn, index.store.char_before([row], width=8).get(h.chunk_id, ""))
            counts["hits"] += 1
            counts["marked as cut"] += sn.text.startswith("\u2026")
            if why:
                counts[why] += 1
                if len(examples) < 12:
                    examples.append({"query": q, "doc": Path(h.path).name, "why": why, "snippet": sn.text[:80]})
    bad = sum(v for k, v in counts.items() if k not in ("hits", "marked as cut"))
    result = {"machine": machine(), "documents": len(index), "queries": len(qs), **counts,
              "bad_share": round(bad / max(1, counts["hits"]), 4), "examples": examples}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=1))
    line = (f"{counts['hits']} top-3 snippets of {len(qs)} queries over {len(index)} man pages and stdlib modules: "
            f"{bad} ({result['bad_share']:.1%}) start badly — {counts['inside a word']} inside a word, "
            f"{counts['inside a sentence']} inside a sentence, {counts['inside a line']} inside a line of code; "
            f"{counts['marked as cut']} begin with '…' (a long sentence or block cut at a word, not counted)")  # fmt: skip
    (OUT / "results.md").write_text(line + "\n")
    print(line)
    for e in examples:
        print(" ", e)


if __name__ == "__main__":
    main()
