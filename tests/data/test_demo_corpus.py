"""The demo's corpus is the same in every process: a second `make demo` encodes nothing (#17)."""

import subprocess
import sys

from conftest import REPO

MODULES = ["dataclasses", "functools", "threading", "argparse", "logging", "unittest"]


def _pages(out):
    code = f"import sys; sys.path.insert(0, {str(REPO / 'examples')!r}); from stdlib_corpus import write_corpus; "
    code += f"write_corpus(__import__('pathlib').Path({str(out)!r}), {MODULES!r})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    return {p.name: p.read_text() for p in sorted(out.glob("*.md"))}


def test_demo_pages_are_deterministic(tmp_path):
    first, second = _pages(tmp_path / "a"), _pages(tmp_path / "b")
    assert first and first == second
    assert not any(" at 0x" in text for text in first.values())
