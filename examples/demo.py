"""The main job on the embedded default model: index a real corpus and search it.

Run by `make demo`. The corpus is the Python standard library's own documentation (docstrings of
~70 common modules, written as Markdown pages by examples/stdlib_corpus.py), so it exists on every
machine. The demo uses the CLI exactly as a user would:

    encoderkit index build/demo-corpus --index build/demo-index
    encoderkit search "how do I run a shell command and capture its output" --index build/demo-index

A second `make demo` re-uses the index (incremental: nothing to re-encode).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "build" / "demo-corpus"
INDEX = ROOT / "build" / "demo-index"
QUERIES = [
    ("how do I run a shell command and capture its output", "hybrid"),
    ("parse command line options and show a help message", "hybrid"),
    ("generate a secure random token for a password reset link", "hybrid"),
    ("show the differences between two lists of lines", "dense"),
    ("gzip", "bm25"),
]


def run(*args: str) -> None:
    print(f"\n$ encoderkit {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "encoderkit", *args], check=True)


def main() -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    from stdlib_corpus import CURATED, write_corpus

    n = write_corpus(CORPUS, CURATED)
    print(f"corpus: {n} Markdown pages of Python standard-library documentation in {CORPUS.relative_to(ROOT)}")
    run("index", str(CORPUS), "--index", str(INDEX))
    for query, mode in QUERIES:
        run("search", query, "--index", str(INDEX), "--mode", mode, "-k", "3")
    run("search", QUERIES[0][0], "--index", str(INDEX), "-k", "3", "--explain")


if __name__ == "__main__":
    main()
