"""Build five labelled BEIR-format retrieval sets for evaluating hybrid (BM25 + dense) fusion.

Usage:
    python benchmarks/fusion_sets.py --out /work/fusion-sets [--only NAME,...] [--seed 0]

Sets: pyfaq (FAQ questions -> answers), stdlib-code (docstring sentence -> code without docstring),
pyref-entities (qualified names -> reference entries), manpages-whatis (NAME descriptions -> man pages),
debian-longdesc (package long descriptions -> that package's man pages). Sources: the python3.11-doc
Debian package (apt-get download), /usr/lib/python3.11, installed man pages, the dpkg database.
Writes OUT/<name>/{corpus.jsonl,queries.jsonl,qrels/dev.tsv,qrels/test.tsv,README.md}; caches under
OUT/_cache. Standard library only; deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
import random
import re
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAX_DOC_WORDS = 600  # documents are truncated to this many words
MAX_DOCS = 5000  # corpus cap (relevant docs first, then seeded distractors)
MAX_QUERIES = 500  # seeded sample when more queries are available
MAX_REL = 10  # queries with more relevant docs than this are dropped (boilerplate), unless a set overrides
MIN_QUERIES = 150
DEV_FRACTION = 0.3
GCLOUD_CAP = 600  # google-cloud-cli ships ~16k near-identical pages; keep a seeded sample
PYDOC_SUBDIR = "usr/share/doc/python3.11/html/_sources"
STDLIB = Path("/usr/lib/python3.11")
MAN_ROOT = Path("/usr/share/man")
WORD_RE = re.compile(r"\S+")


norm = lambda text: " ".join(text.lower().split())  # case- and whitespace-insensitive form for leak checks
nwords = lambda text: len(text.split())
indent = lambda line: len(line) - len(line.lstrip())


def truncate(text: str, n: int = MAX_DOC_WORDS) -> str:
    words = list(WORD_RE.finditer(text))
    return text[: words[n - 1].end()] if len(words) > n else text.strip()


# ---------------------------------------------------------------- reST helpers
UNDERLINE_RE = re.compile(r"^([=\-~^\"'#*+])\1{2,}\s*$")
ROLE_RE = re.compile(r":([\w:.+-]+):`([^`]+)`")
# blocks dropped whole: index/toctree-like directives, and comments/labels/substitutions (".." not followed by "name::")
SKIP_BLOCK_RE = re.compile(
    r"^\s*\.\.(?: (?:index|toctree|only|contents|highlight|sectionauthor|moduleauthor)::"
    r"|\s+(?![\w:-]+::)|\s*$)"
)


def _role(m: re.Match) -> str:
    text = m.group(2).lstrip("~!")
    target = re.match(r"(.+?)\s*<[^>]+>$", text)
    text = target.group(1) if target else text
    return f"{m.group(1).upper()} {text}" if m.group(1) in ("pep", "rfc") else text


def strip_inline(s: str) -> str:
    s = ROLE_RE.sub(_role, s)
    s = re.sub(r"`([^`<]+?)\s*<[^>]+>`_{1,2}", r"\1", s)
    s = re.sub(r"``([^`]+)``", r"\1", s)
    s = re.sub(r"`([^`]+)`_{0,2}", r"\1", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    return re.sub(r"(?<!\w)\*([^*\s][^*]*?)\*(?!\w)", r"\1", s)


def strip_rst(lines: list[str]) -> str:
    """Light markup removal: comments, labels, index/toctree blocks, inline roles; other directives stay as text."""
    out: list[str] = []
    skip_indent = None
    for line in lines:
        if skip_indent is not None:
            if not line.strip() or indent(line) > skip_indent:
                continue
            skip_indent = None
        if SKIP_BLOCK_RE.match(line):
            skip_indent = indent(line)
            continue
        if UNDERLINE_RE.match(line):
            continue
        out.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", strip_inline(textwrap.dedent("\n".join(out)))).strip()


def rst_sections(text: str) -> list[tuple[str, list[str]]]:
    """Split reST into (heading, body lines); heading under/overlines are dropped."""
    lines, sections, heading, body, i = text.splitlines() + [""], [], "", [], 0
    while i < len(lines) - 1:
        line, nxt = lines[i], lines[i + 1]
        if (
            line.strip()
            and not line[0].isspace()
            and not line.startswith("..")
            and not UNDERLINE_RE.match(line)
            and UNDERLINE_RE.match(nxt)
            and len(nxt.strip()) >= len(line.strip())
        ):
            if body and UNDERLINE_RE.match(body[-1]):
                body.pop()  # overline
            sections.append((heading, body))
            heading, body, i = line.strip(), [], i + 2
        else:
            body.append(line)
            i += 1
    sections.append((heading, body))
    return sections


def python_doc_sources(cache: Path) -> tuple[Path, str]:
    """Download (apt-get download) and unpack python3.11-doc once; return (_sources dir, .deb file name)."""
    root, deb_dir = cache / "python3.11-doc", cache / "deb"
    deb_dir.mkdir(parents=True, exist_ok=True)
    if not list(deb_dir.glob("python3.11-doc_*.deb")):
        subprocess.run(["apt-get", "download", "python3.11-doc"], cwd=deb_dir, check=True, capture_output=True)
    deb = sorted(deb_dir.glob("python3.11-doc_*.deb"))[-1]
    if not (root / PYDOC_SUBDIR).is_dir():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root / PYDOC_SUBDIR, deb.name


# ---------------------------------------------------------------- set builders
# Each returns (docs {id: text}, pairs [(query text, relevant doc id)], README notes).


def build_pyfaq(cache: Path, seed: int):
    src, deb = python_doc_sources(cache)
    docs, pairs = {}, []
    for path in sorted(src.glob("*/*.rst.txt")):
        area = path.parent.name
        if area not in ("faq", "library", "tutorial", "howto", "reference"):
            continue
        rel = f"{area}/{path.name.removesuffix('.rst.txt')}"
        for k, (heading, body) in enumerate(rst_sections(path.read_text(encoding="utf-8"))):
            text = strip_rst(body)
            if area == "faq":
                if heading.endswith("?") and nwords(text) >= 5:
                    docs[f"{rel}#{k}"] = text
                    pairs.append((strip_inline(heading), f"{rel}#{k}"))
            elif nwords(text) >= 15:
                docs[f"{rel}#{k}"] = text
    notes = {
        "source": f"Python 3.11 documentation reST sources from the Debian package {deb} (_sources/).",
        "derivation": "Queries are FAQ section headings (faq/*.rst.txt) that end with '?', inline markup stripped. "
        "The relevant doc is that FAQ answer section's body. Distractors are sections (split on reST headings) "
        "of library/, tutorial/, howto/ and reference/ with >= 15 words.",
        "leakage": "Headings and their under/overlines are removed from every section, and title is empty for all docs "
        "(a title would repeat the question). Comments, labels, index/toctree blocks and inline roles were stripped.",
    }
    return docs, pairs, notes


SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "__pycache__"}
BOILERPLATE_RE = re.compile(r"^(return self|implement |same as |see |alias for |deprecated|override)", re.I)


def first_sentence(doc: str) -> str:
    para = " ".join(doc.strip().split("\n\n")[0].split())
    return re.split(r"(?<=[.!?])\s", para, maxsplit=1)[0]


def functions_of(tree: ast.Module):
    """Yield (node, qualname) for top-level functions and methods of top-level classes."""
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        yield from [(node, node.name)] if isinstance(node, funcs) else []
        if isinstance(node, ast.ClassDef):
            yield from ((sub, f"{node.name}.{sub.name}") for sub in node.body if isinstance(sub, funcs))


def strip_docstring(src_lines: list[str], node: ast.AST) -> tuple[str, str | None] | None:
    """Return (source without the docstring, docstring) or None when the docstring cannot be cut cleanly.

    The source is the node's whole lines, as ast.get_source_segment(padded=True) gives (but without re-splitting
    the file for every function, which is quadratic)."""
    lines, first = src_lines[node.lineno - 1 : node.end_lineno], node.body[0]
    doc = None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        if first.lineno == node.lineno:
            return None
        a, b = first.lineno - node.lineno, first.end_lineno - node.lineno + 1
        lines, doc = lines[:a] + lines[b:], ast.get_docstring(node)
    code = textwrap.dedent("\n".join(ln for ln in lines if ln.strip()))
    return (code, doc) if code.count("\n") >= 1 else None


def build_stdlib_code(cache: Path, seed: int):
    docs, pairs, seen = {}, [], {}
    for dirpath, dirnames, filenames in os.walk(STDLIB):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("config-"))
        for fname in sorted(f for f in filenames if f.endswith(".py")):
            rel = (Path(dirpath) / fname).relative_to(STDLIB)
            try:
                src = (STDLIB / rel).read_text(encoding="utf-8")
                tree, src_lines = ast.parse(src), re.split(r"\r\n?|\n", src)
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            for node, qual in functions_of(tree):
                if (cut := strip_docstring(src_lines, node)) is None:
                    continue
                doc_id = f"{module}:{qual}"
                seen[doc_id] = n = seen.get(doc_id, 0) + 1  # e.g. property getter and setter
                doc_id += f"#{n}" if n > 1 else ""
                docs[doc_id], docstring = cut
                name = qual.rsplit(".", 1)[-1]
                if not docstring or (name.startswith("__") and name.endswith("__")):
                    continue
                query = first_sentence(docstring)
                if 4 <= nwords(query) <= 40 and query[0].isalpha() and not BOILERPLATE_RE.match(query):
                    pairs.append((query, doc_id))
    notes = {
        "source": "CPython 3.11 standard library sources in /usr/lib/python3.11 (skipping test/, tests/, idlelib/, "
        "lib2to3/, site-packages/, dist-packages/).",
        "derivation": "Docs are top-level functions and methods of top-level classes (their whole source lines, as "
        "ast.get_source_segment(padded=True) gives), id module:qualname (#2 for redefinitions such as property "
        "setters). Queries are the first sentence of the docstring (4-40 words; dunder methods and "
        "boilerplate such as 'Return self...' skipped). Functions sharing the exact same sentence are all relevant.",
        "leakage": "The whole docstring is removed from every doc (relevant and distractor); comments are kept. "
        "Blank lines are dropped and the code is dedented; functions whose docstring is on the def line are skipped.",
    }
    return docs, pairs, notes


DESC_RE = re.compile(r"^(\s*)\.\. (function|method|classmethod|staticmethod|class|exception)::\s*(.*)$")
NESTED_RE = re.compile(
    r"^\s*\.\. (method|classmethod|staticmethod|attribute|data|function|class|exception|"
    r"decorator|decoratormethod|coroutinemethod|abstractmethod|property)::"
)
MODULE_RE = re.compile(r"^\.\. (?:current)?module::\s*(\S+)")


def pyref_entries(lines: list[str]):
    """Yield (line number, qualified name, body lines) for description directives of one reST file."""
    module, classes = "", []
    for i, line in enumerate(lines):
        if m := MODULE_RE.match(line):
            module, classes = m.group(1), []
            continue
        if not (m := DESC_RE.match(line)) or not (name := re.match(r"[\w.]+", m.group(3))):
            continue
        ind, kind, name = len(m.group(1)), m.group(2), name.group(0)
        classes = [c for c in classes if c[0] < ind]
        if kind.endswith("method") and classes and "." not in name:
            name = f"{classes[-1][1]}.{name}"
        if kind in ("class", "exception"):
            classes.append((ind, name))
        j = i + 1
        while j < len(lines) and lines[j].strip() and indent(lines[j]) > ind:
            j += 1  # signature continuation lines and :options:
        body = []
        while j < len(lines) and (not lines[j].strip() or indent(lines[j]) > ind) and not NESTED_RE.match(lines[j]):
            body.append(lines[j])
            j += 1
        qual = f"{module}.{name}" if module not in ("", "None") else name  # Sphinx: names are module-relative
        yield i + 1, qual, body


def build_pyref_entities(cache: Path, seed: int):
    src, deb = python_doc_sources(cache)
    docs, pairs = {}, []
    for path in sorted((src / "library").glob("*.rst.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, qual, body in pyref_entries(lines):
            text = strip_rst(body)
            if nwords(text) >= 8:
                doc_id = f"library/{path.name.removesuffix('.rst.txt')}:{lineno}"
                docs[doc_id] = text
                pairs.append((qual, doc_id))
    notes = {
        "source": f"library/*.rst.txt of the Python 3.11 docs from the Debian package {deb}.",
        "derivation": "Each .. function/method/classmethod/staticmethod/class/exception directive is one doc. The query "
        "is its qualified name (module from .. module/currentmodule, always prefixed as Sphinx does; methods as "
        "module.Class.method; builtins and exceptions, documented without a module, stay bare). Duplicate "
        "names (e.g. :noindex: repeats) make all their entries relevant. Bodies under 8 words are skipped.",
        "leakage": "The signature line(s) and options are removed; class bodies stop at their first nested directive "
        "(methods/attributes are their own entries); title is empty. The bare name may still occur in other "
        "entries' bodies (and in its own body, unqualified), which is realistic.",
    }
    return docs, pairs, notes


def render_man(page: Path, cache: Path) -> str:
    out = cache / "man" / f"{page.parent.name}_{page.name}.txt"
    if out.exists():
        return out.read_text(encoding="utf-8")
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"}
    cmd = ["sh", "-c", 'man --nh --nj -l "$1" 2>/dev/null | col -b', "sh", str(page)]
    text = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace").stdout
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return text


def parse_man(text: str) -> tuple[str, str] | None:
    """Return (NAME description, page without header/footer/NAME section) for a rendered man page."""
    lines = [ln.expandtabs().rstrip() for ln in text.splitlines()]
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    if len(nonblank) < 5:
        return None
    lines = lines[nonblank[0] + 1 : nonblank[-1]]
    desc = ""
    start = next((i for i, ln in enumerate(lines) if ln.strip() == "NAME" and not ln[0].isspace()), None)
    if start is not None:
        end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()), len(lines))
        name = " ".join(" ".join(lines[start + 1 : end]).split())
        parts = re.split(r"\s+(?:\\-|[-\u2010-\u2014]+)\s+", name, maxsplit=1)
        desc = parts[1] if len(parts) == 2 else ""
        lines = lines[:start] + lines[end:]
    return desc, "\n".join(" ".join(ln.split()) for ln in lines if ln.strip())


@functools.cache
def man_corpus(cache: Path, seed: int) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Rendered man1/man8 pages -> ({stem: text}, {stem: NAME description}, {skipped symlink/duplicate: kept stem})."""
    pages, gcloud, links = [], [], {}
    for sec in ("man1", "man8"):
        for page in sorted((MAN_ROOT / sec).iterdir()):
            if page.is_symlink():
                links[page.name.removesuffix(".gz")] = page.resolve().name.removesuffix(".gz")
            elif not page.is_file():
                continue
            elif page.name.startswith("gcloud_"):
                if not page.name.startswith(("gcloud_alpha_", "gcloud_beta_")):
                    gcloud.append(page)
            else:
                pages.append(page)
    pages += sorted(random.Random(f"gcloud:{seed}").sample(gcloud, min(GCLOUD_CAP, len(gcloud))))
    with ThreadPoolExecutor(max_workers=2) as pool:
        rendered = list(pool.map(lambda p: render_man(p, cache), pages))
    docs, descs, seen = {}, {}, {}
    for page, text in zip(pages, rendered):
        parsed, stem = parse_man(text), page.name.removesuffix(".gz")
        if parsed is None or stem in docs or nwords(parsed[1]) < 10:
            continue
        if (digest := hashlib.sha1(parsed[1].encode()).hexdigest()) in seen:
            links[stem] = seen[digest]
            continue
        seen[digest], docs[stem], descs[stem] = stem, parsed[1], parsed[0]
    return docs, descs, {a: t for a, t in links.items() if t in docs}


MAN_SOURCE = (
    f"Man pages installed under {MAN_ROOT}/man1 and man8, rendered with `MANWIDTH=80 man --nh --nj -l FILE | "
    f"col -b`. Symlinked pages and pages with identical rendered content are skipped; of the ~16k "
    f"google-cloud-cli (gcloud_*) pages only GA commands (no alpha/beta) are used, {GCLOUD_CAP} sampled (seeded)."
)
MAN_CLEAN = "Each doc is a page with its header/footer lines and its whole NAME section removed (whitespace collapsed)."


def build_manpages_whatis(cache: Path, seed: int):
    docs, descs, _ = man_corpus(cache, seed)
    pairs = [(d, stem) for stem, d in descs.items() if nwords(d) >= 2]
    notes = {
        "source": MAN_SOURCE,
        "derivation": "The query is the NAME section's description (the text after ' - '), >= 2 words; doc id is the "
        "page file stem (tar.1). Pages sharing the same description are all relevant. This corpus is shared with "
        "debian-longdesc.",
        "leakage": MAN_CLEAN + " Many pages repeat their one-line description in DESCRIPTION; those queries are dropped "
        "by the verbatim check (count below), not rewritten.",
    }
    return docs, pairs, notes


def build_debian_longdesc(cache: Path, seed: int):
    docs, _, aliases = man_corpus(cache, seed)
    fmt = "${Package}\n${Description}\n\x1e\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True).stdout
    pairs = []
    for record in out.split("\x1e\n"):
        lines = record.strip("\n").split("\n")
        if len(lines) < 3:
            continue
        pkg, long_lines = lines[0], [ln.strip() for ln in lines[2:] if ln.strip() != "."]
        query = " ".join(" ".join(long_lines).split())
        if nwords(query) < 25:
            continue
        files = subprocess.run(["dpkg-query", "-L", pkg], capture_output=True, text=True).stdout.split("\n")
        for f in files:
            stem = Path(f).name.removesuffix(".gz")
            if re.match(rf"{MAN_ROOT}/man[18]/[^/]+$", f) and (stem := aliases.get(stem, stem)) in docs:
                pairs.append((query, stem))
    notes = {
        "source": "Long descriptions of the Debian packages installed on the build machine (dpkg-query -W "
        "${Description}); the corpus is the manpages-whatis man-page corpus (shared, see its README).",
        "derivation": "The query is the extended description (lines after the synopsis line, paragraph dots dropped, "
        "joined), >= 25 words. Relevant docs are the man1/man8 pages the package installs (dpkg-query -L) that are "
        "in the corpus (a symlinked or content-duplicate page counts as the page it duplicates); packages with none "
        "are skipped, identical descriptions are merged. No cap on relevant docs per query (a package like coreutils "
        "has ~100 pages), since only ~160 installed packages qualify at all; see the relevant-docs statistics.",
        "max_rel": None,
        "leakage": MAN_CLEAN + " The one-line package synopsis is not part of the query.",
    }
    return docs, pairs, notes


SETS = {
    "pyfaq": build_pyfaq,
    "stdlib-code": build_stdlib_code,
    "pyref-entities": build_pyref_entities,
    "manpages-whatis": build_manpages_whatis,
    "debian-longdesc": build_debian_longdesc,
}


# ---------------------------------------------------------------- assembly, checks, output
def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def finalize(name: str, docs: dict[str, str], pairs, notes: dict, out: Path, seed: int) -> dict:
    """Group, leak-check, sample and split queries; pick the corpus; write the set, verify it, write its README."""
    rng, max_rel = random.Random(f"{name}:{seed}"), notes.get("max_rel", MAX_REL)
    docs = {d: truncate(t) for d, t in docs.items() if t.strip()}
    groups: dict[str, list] = {}  # normalised query -> [query text, relevant doc ids]
    for query, doc_id in pairs:
        if doc_id in docs:
            groups.setdefault(norm(query), [query.strip(), set()])[1].add(doc_id)
    n_candidates = len(groups)
    too_many = [k for k, (_, rel) in groups.items() if max_rel and len(rel) > max_rel]
    for k in too_many:
        del groups[k]
    leaked = [k for k, (_, rel) in groups.items() if any(k in norm(docs[d]) for d in rel)]
    for k in leaked:
        del groups[k]
    keys = sorted(groups)
    rng.shuffle(keys)
    keys = sorted(keys[:MAX_QUERIES])
    relevant = sorted(set().union(*(groups[k][1] for k in keys)))
    others = sorted(set(docs) - set(relevant))
    rng.shuffle(others)
    qids = [f"q{i:04d}" for i in range(len(keys))]
    dev = set(rng.sample(qids, round(DEV_FRACTION * len(qids))))

    target = out / name
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    corpus_ids = sorted(relevant + others[: max(0, MAX_DOCS - len(relevant))])
    write_jsonl(target / "corpus.jsonl", ({"_id": d, "title": "", "text": docs[d]} for d in corpus_ids))
    write_jsonl(target / "queries.jsonl", ({"_id": q, "text": groups[k][0]} for q, k in zip(qids, keys)))
    for split in ("dev", "test"):
        rows = [f"{q}\t{d}\t1\n" for q, k in zip(qids, keys) if (q in dev) == (split == "dev") for d in sorted(groups[k][1])]
        (target / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows), encoding="utf-8")
    stats = verify(target)
    stats.update(candidates=n_candidates, leaked=len(leaked), too_many=len(too_many), pool=len(docs), max_rel=max_rel)
    write_readme(name, target, notes, stats, seed)
    return stats


def verify(target: Path) -> dict:
    """Re-read the written set: qrels name existing docs and queries, splits partition the queries, no verbatim leak."""
    read = lambda p: [json.loads(line) for line in (target / p).read_text(encoding="utf-8").splitlines()]
    corpus = {r["_id"]: f"{r['title']} {r['text']}" for r in read("corpus.jsonl")}
    queries = {r["_id"]: r["text"] for r in read("queries.jsonl")}
    split_q: dict[str, set] = {"dev": set(), "test": set()}
    n_rel: dict[str, int] = {}
    for split in split_q:
        header, *rows = (target / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        assert header == "query-id\tcorpus-id\tscore", f"{target}: bad qrels header"
        for row in rows:
            qid, doc_id, score = row.split("\t")
            assert qid in queries and doc_id in corpus and score == "1", f"{target}/{split}: dangling qrel {row!r}"
            assert norm(queries[qid]) not in norm(corpus[doc_id]), f"{target}: query {qid} leaks into {doc_id}"
            split_q[split].add(qid)
            n_rel[qid] = n_rel.get(qid, 0) + 1
    dev, test = split_q["dev"], split_q["test"]
    assert not dev & test and dev | test == set(queries), f"{target}: splits overlap or miss queries"
    mean = lambda xs: sum(xs) / max(1, len(xs))
    return {
        "docs": len(corpus),
        "dev": len(dev),
        "test": len(test),
        "qrels": sum(n_rel.values()),
        "rel_mean": mean(list(n_rel.values())),
        "rel_max": max(n_rel.values(), default=0),
        "q_words": mean([nwords(q) for q in queries.values()]),
        "d_words": mean([nwords(d) for d in corpus.values()]),
    }


def write_readme(name: str, target: Path, notes: dict, s: dict, seed: int) -> None:
    cap = f"Queries with more than {s['max_rel']} relevant docs were dropped as boilerplate: {s['too_many']}."
    (target / "README.md").write_text(
        f"""# {name}

Built by `benchmarks/fusion_sets.py --seed {seed}`. BEIR format: corpus.jsonl, queries.jsonl, qrels/dev.tsv,
qrels/test.tsv; every qrel score is 1; title is "" for every doc.

**Source.** {notes["source"]}

**Queries and relevant docs.** {notes["derivation"]}

**Leakage removal.** {notes["leakage"]} Finally, every query whose text (case-insensitive, whitespace-normalised)
occurs verbatim inside any of its relevant docs was dropped: {s["leaked"]} queries. {cap if s["max_rel"] else ""}

**Counts.** {s["candidates"]} candidate queries; {s["dev"] + s["test"]} kept (seeded sample of at most {MAX_QUERIES}),
split at random {DEV_FRACTION:.0%} dev / {1 - DEV_FRACTION:.0%} test: {s["dev"]} dev, {s["test"]} test; {s["qrels"]} qrel rows,
relevant docs per query mean {s["rel_mean"]:.2f}, max {s["rel_max"]}. Corpus: {s["docs"]} docs (all relevant docs plus
seeded distractors from a pool of {s["pool"]}, capped at {MAX_DOCS}), each truncated to {MAX_DOC_WORDS} words.
Mean query length {s["q_words"]:.1f} words, mean doc length {s["d_words"]:.1f} words.
""",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(SETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SETS)
    if unknown := sorted(set(names) - set(SETS)):
        parser.error(f"unknown set(s): {', '.join(unknown)}")
    out = args.out.resolve()
    (out / "_cache").mkdir(parents=True, exist_ok=True)
    t_all, summary = time.time(), {}
    for name in names:
        t0 = time.time()
        s = summary[name] = finalize(name, *SETS[name](out / "_cache", args.seed), out, args.seed)
        warn = "" if s["dev"] + s["test"] >= MIN_QUERIES else f" WARNING: fewer than {MIN_QUERIES} queries"
        print(
            f"[{name}] {s['docs']} docs, {s['dev']}+{s['test']} queries of {s['candidates']} candidates "
            f"({s['leaked']} dropped for verbatim leakage, {s['too_many']} for too many relevant); "
            f"qrels/leak checks ok; {time.time() - t0:.1f}s{warn}",
            flush=True,
        )
    print(f"\n{'set':<17}{'docs':>7}{'dev':>6}{'test':>6}{'q words':>9}{'doc words':>11}")
    for name, s in summary.items():
        print(f"{name:<17}{s['docs']:>7}{s['dev']:>6}{s['test']:>6}{s['q_words']:>9.1f}{s['d_words']:>11.1f}")
    print(f"total {time.time() - t_all:.0f}s -> {out}")


if __name__ == "__main__":
    main()
