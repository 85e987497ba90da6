"""Write the Python standard library's own documentation (module, class and function docstrings) as
one Markdown file per module: a real corpus that every machine with Python has.

    python examples/stdlib_corpus.py build/demo-corpus [--all]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path

# Commonly used modules: the demo indexes these by default (a few minutes on 2 cores); --all takes
# every importable public stdlib module.
CURATED = [
    "argparse",
    "asyncio",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "concurrent.futures",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "email.message",
    "enum",
    "fnmatch",
    "fractions",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http.client",
    "http.server",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "math",
    "mimetypes",
    "multiprocessing",
    "operator",
    "os",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "traceback",
    "typing",
    "unittest",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "warnings",
    "weakref",
    "xml.etree.ElementTree",
    "zipfile",
    "zlib",
]


_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


def _signature(obj) -> str:
    """The signature as text, without memory addresses (``<object object at 0x7f...>`` defaults differ
    in every process, and would make every run's pages differ: a second `make demo` must encode nothing)."""
    try:
        return _ADDRESS.sub("", str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return "(...)"


def module_markdown(name: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mod = importlib.import_module(name)
        except Exception:
            return None
    lines = [f"# {name}", "", inspect.getdoc(mod) or "", ""]
    public = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    top = name.split(".")[0]
    for attr in sorted(set(public)):
        obj = getattr(mod, attr, None)
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
            continue
        owner = (getattr(obj, "__module__", None) or "").lstrip("_").split(".")[0]
        if owner not in (top, top.lstrip("_")):  # skip names merely imported from elsewhere
            continue
        if inspect.isclass(obj):
            lines += [f"## class {name}.{attr}{_signature(obj)}", "", inspect.getdoc(obj) or "", ""]
            for meth_name, meth in sorted(vars(obj).items()):
                if meth_name.startswith("_") or not callable(meth):
                    continue
                doc = inspect.getdoc(meth)
                if doc:
                    lines += [f"### {name}.{attr}.{meth_name}{_signature(meth)}", "", doc, ""]
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            doc = inspect.getdoc(obj)
            if doc:
                lines += [f"## {name}.{attr}{_signature(obj)}", "", doc, ""]
    text = "\n".join(lines).strip() + "\n"
    return text if len(text) > 200 else None


def all_modules() -> list[str]:
    names = sorted(sys.stdlib_module_names)
    out = []
    for n in names:
        if n.startswith("_") or n in ("antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle", "lib2to3"):
            continue
        out.append(n)
    return out


def write_corpus(out_dir: Path, modules: list[str]) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for name in modules:
        text = module_markdown(name)
        if text:
            path = out_dir / f"{name}.md"
            if not path.is_file() or path.read_text(encoding="utf-8") != text:  # unchanged pages keep their mtime
                path.write_text(text, encoding="utf-8")
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--all", action="store_true", help="every public stdlib module, not the curated list")
    args = ap.parse_args()
    n = write_corpus(args.out, all_modules() if args.all else CURATED)
    size = sum(f.stat().st_size for f in args.out.glob("*.md"))
    print(f"wrote {n} module pages ({size / 2**20:.1f} MB) to {args.out}")


if __name__ == "__main__":
    main()
