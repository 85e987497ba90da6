"""Fault injection as a user meets it: every case runs the `encoderkit` CLI (in this process, with a
watchdog, or in a child where a kill is part of the case) and is scored on four questions: did it
finish (no hang), was anything indexed lost, was a wrong result served with exit code 0, did a Python
traceback reach the user. Issue #15's evidence table.

    python benchmarks/fault_injection.py            # ~3-6 minutes on 2 cores, tiny random model

Writes benchmarks/results/fault_injection/{results.json,results.md}. The "expected" column says what
should happen; "ok" is whether it did.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault("ENCODERKIT_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import RESULTS, machine  # noqa: E402

CASE_TIMEOUT = 120
GOOD = {
    "rivers.md": "# Rivers\n\nThe Nile is the longest river in Africa and floods every summer.",
    "space.txt": "The Moon orbits the Earth every 27 days and causes the tides.",
    "bread.html": "<title>Bread</title><p>Knead the dough and let the yeast rise for an hour.</p>",
}
QUERIES = ["longest river", "moon tides", "yeast dough"]


@dataclass
class Outcome:
    case: str
    group: str
    expected: str
    finished: bool = True
    data_lost: int = 0
    wrong_results: int = 0
    tracebacks: int = 0
    ok: bool = True
    note: str = ""
    seconds: float = 0.0
    details: list = field(default_factory=list)


class Ctx:
    """One case's sandbox: a folder of good documents, an index of it, and CLI helpers."""

    def __init__(self, root: Path, model: Path):
        self.root, self.model = root, model
        self.src, self.ix = root / "docs", root / "ix"
        self.tracebacks = 0
        self.outputs: list[str] = []
        for name, text in GOOD.items():
            (self.src / name).parent.mkdir(parents=True, exist_ok=True)
            (self.src / name).write_text(text)

    def cli(self, *args) -> tuple[int, str, str]:
        """Run the CLI in this process as a user would; an exception escaping it is a traceback shown."""
        from encoderkit.cli import main

        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # what `encoderkit` would print as a traceback
                self.tracebacks += 1
                err.write(traceback.format_exc())
                code = 1
        if "Traceback (most recent call last)" in err.getvalue() and code != 1:
            self.tracebacks += 1
        self.outputs.append(err.getvalue())
        return code, out.getvalue(), err.getvalue()

    def build(self, *extra) -> None:
        code, _, err = self.cli("index", self.src, "--index", self.ix, "--model", self.model, "-q", "--no-onnx", *extra)
        assert code == 0, err
        self.baseline = self.results()
        self.docs = self.doc_ids()

    def index(self, *extra, paths=None):
        return self.cli("index", *(paths or [self.src]), "--index", self.ix, "-q", "--no-onnx", *extra)

    def results(self) -> list | None:
        """Top documents per query, or None when search refuses (a clean error, not a wrong result)."""
        out = []
        for q in QUERIES:
            code, text, _ = self.cli("search", q, "--index", self.ix, "--mode", "hybrid", "--json", "-k", "3")
            if code != 0:
                return None
            out.append([h["doc_id"] for h in json.loads(text)["hits"]])
        return out

    def doc_ids(self) -> set[str]:
        from encoderkit import Index

        with Index.open(self.ix, readonly=True) as idx:
            return set(idx.doc_ids().values())

    def lost(self, keep: set[str] | None = None) -> int:
        """Documents indexed before the fault that are gone now (``keep``: those that must stay)."""
        try:
            now = self.doc_ids()
        except Exception:
            return len(keep if keep is not None else self.docs)
        return len((keep if keep is not None else self.docs) - now)

    def wrong(self) -> int:
        got = self.results()
        return 0 if got is None or got == self.baseline else 1


# ---------------------------------------------------------------------------- cases
CASES: list[tuple[str, str, str, object]] = []


def case(group: str, name: str, expected: str):
    def deco(fn):
        CASES.append((group, name, expected, fn))
        return fn

    return deco


def hostile(name: str, expected: str, make, reason: str | None = None, args: tuple = (), shows: tuple = ()):
    """A hostile entry added to an indexed folder: the run finishes, good documents stay, and the entry
    is skipped with ``reason`` (or, when reason is None, indexed)."""

    def run(c: Ctx, o: Outcome):
        c.build()
        make(c)
        code, out, err = c.index("--json", *args)
        if code != 0:
            o.ok = False
            o.note = err.strip()[:200]
            return
        report = json.loads(out)
        reasons = " | ".join(s["reason"] for s in report["skipped"])
        if reason is not None:
            o.ok = reason in reasons
            o.note = reasons[:200]
        else:
            o.ok = report["added"] >= 1
            o.note = f"indexed {report['added']}" + (f"; skipped: {reasons[:150]}" if reasons else "")
        o.data_lost = c.lost()
        if report["added"] == 0:  # the corpus did not change: results must be exactly the same
            o.wrong_results = c.wrong()
        if shows:  # what `encoderkit search` prints for it: escaped, never raw control characters or markup
            _, printed, _ = c.cli("search", shows[0], "--index", c.ix, "--mode", "bm25", "-k", "10")
            o.ok = o.ok and "\x1b" not in printed and all(w in printed for w in shows[1:])
            o.note += f"; printed as {next((w for w in shows[1:]), '')!r}"

    case("hostile file", name, expected)(run)


def _w(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def _sock(c):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(c.src / "sock.txt"))
    c.sock = s


hostile("FIFO named .txt", "skipped, no hang", lambda c: os.mkfifo(c.src / "pipe.txt"), "not a regular file (FIFO)")
hostile(
    "symlink to /dev/zero", "skipped, no memory growth", lambda c: os.symlink("/dev/zero", c.src / "z.txt"), "character device"
)
hostile("symlink to /dev/urandom", "skipped", lambda c: os.symlink("/dev/urandom", c.src / "r.md"), "character device")
hostile("unix socket named .txt", "skipped", _sock, "not a regular file (socket)")
hostile(
    "file symlink loop a->b->a",
    "skipped, run finishes",
    lambda c: (os.symlink(c.src / "b.txt", c.src / "a.txt"), os.symlink(c.src / "a.txt", c.src / "b.txt")),
    "symlink loop",
)
hostile("self-referencing symlink", "skipped", lambda c: os.symlink(c.src / "s.md", c.src / "s.md"), "symlink loop")
hostile("folder symlink loop", "skipped", lambda c: os.symlink(c.src, c.src / "loop"), "symlink loop")
hostile("broken symlink", "skipped", lambda c: os.symlink(c.root / "missing", c.src / "gone.txt"), "broken symlink")
hostile(
    "non-UTF-8 file name",
    "indexed under an escaped name",
    lambda c: _w(Path(os.fsdecode(os.fsencode(c.src) + b"/caf\xe9.txt")), "espresso"),
    shows=("espresso", "caf\\xe9.txt"),
)
hostile(
    "escape sequence in a file name",
    "indexed; printed escaped",
    lambda c: _w(c.src / "x\x1b[2Jy.txt", "ansi name"),
    shows=("ansi", "x\\x1b[2Jy.txt"),
)
hostile(
    "newline in a file name",
    "indexed; printed escaped",
    lambda c: _w(c.src / "a\nb.txt", "newline name"),
    shows=("newline", "a\\nb.txt"),
)
hostile(
    "Rich markup in a file name",
    "indexed; printed literally",
    lambda c: _w(c.src / "[red]x[blink].txt", "markup name"),
    shows=("markup", "[red]x[blink].txt"),
)
hostile("binary file named .txt", "skipped", lambda c: _w(c.src / "bin.txt", b"\x00\x01\x02" * 100), "binary file")
hostile("empty file", "skipped", lambda c: _w(c.src / "empty.md", "  \n"), "empty file")
hostile(
    "file over --max-file-mb",
    "skipped",
    lambda c: _w(c.src / "big.txt", "word " * 20_000),
    "too large",
    ("--max-file-mb", "0.05"),
)
hostile(
    "gzip bomb .txt.gz",
    "stops at the size limit",
    lambda c: _w(c.src / "bomb.txt.gz", gzip.compress(b"a" * 30_000_000)),
    "too large",
)
hostile("truncated .gz", "skipped", lambda c: _w(c.src / "cut.md.gz", gzip.compress(b"# t\nbody" * 50)[:20]), "gzip")
hostile(
    "pathological Markdown heading (cubic regex)",
    "indexed in linear time",
    lambda c: _w(c.src / "evil.md", "# a" + " " * 4000 + "#" * 4000 + " " * 4000 + "x\n\nbody"),
)
hostile("damaged PDF", "skipped", lambda c: _w(c.src / "bad.pdf", b"%PDF-1.4 nonsense"), "damaged PDF")
hostile("docx zip bomb", "refused before unpacking", lambda c: _zipbomb(c.src / "bomb.docx"), "too large")
hostile("garbage .docx", "skipped", lambda c: _w(c.src / "junk.docx", b"PK\x03\x04junk"), "damaged .docx")
hostile(
    "latin-1 text",
    "decoded by detection",
    lambda c: _w(c.src / "fr.txt", "Le café était très agréable près de la forêt.".encode("cp1252")),
)
hostile("UTF-16 text with BOM", "decoded", lambda c: _w(c.src / "u16.txt", "\ufeffwide text".encode("utf-16")))
hostile("Python file with a syntax error", "indexed with fallback sections", lambda c: _w(c.src / "x.py", "def f(:\n  pass\n"))
hostile(
    "BEIR record with lone surrogate",
    "indexed, U+FFFD in text",
    lambda c: _w(c.src / "c.jsonl", '{"_id": "s", "text": "a \\ud800 b"}\n'),
)
hostile(
    "BEIR record with _id null",
    "record skipped",
    lambda c: _w(c.src / "c.jsonl", '{"_id": null, "text": "x"}\n'),
    "invalid _id (null",
)
hostile(
    "BEIR invalid JSON line",
    "record skipped",
    lambda c: _w(c.src / "c.jsonl", '{"_id": "a", "text": "ok"}\n{bad\n'),
    "invalid JSON",
)
hostile(
    "BEIR invalid UTF-8 line",
    "record skipped",
    lambda c: _w(c.src / "c.jsonl", b'{"_id": "a", "text": "\xff"}\n'),
    "invalid UTF-8",
)
hostile(
    "BEIR duplicate _id",
    "second skipped",
    lambda c: _w(c.src / "c.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n'),
    "duplicate _id",
)
hostile(
    "BEIR text not a string", "record skipped", lambda c: _w(c.src / "c.jsonl", '{"_id": "a", "text": [1]}\n'), "not a string"
)


def _zipbomb(path: Path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<" + b"a" * 200_000_000)


@contextlib.contextmanager
def _patched(obj, name, fn):
    old = getattr(obj, name)
    setattr(obj, name, fn)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _unreadable_folder(c):
    real_scandir, real_stat = os.scandir, os.stat
    folder = str(c.src / "sub")

    def scandir(p="."):
        if os.fspath(p) == folder:
            raise PermissionError(13, "Permission denied", os.fspath(p))
        return real_scandir(p)

    def stat(p, *a, **k):
        if os.fspath(p).startswith(folder + os.sep):
            raise PermissionError(13, "Permission denied", os.fspath(p))
        return real_stat(p, *a, **k)

    return contextlib.ExitStack().__enter__() if False else _both(_patched(os, "scandir", scandir), _patched(os, "stat", stat))


@contextlib.contextmanager
def _both(a, b):
    with a, b:
        yield


@case("transient", "unreadable sub-folder", "its documents kept (counted kept)")
def _(c: Ctx, o: Outcome):
    _w(c.src / "sub" / "deep.txt", "deep note about volcanoes")
    c.build()
    with _unreadable_folder(c):
        code, out, err = c.index("--json")
    r = json.loads(out)
    o.ok = code == 0 and len(r["kept_previous"]) == 1 and r["removed"] == 0
    o.data_lost, o.wrong_results = c.lost(), c.wrong()


@case("transient", "unreadable file (I/O error)", "previous version kept")
def _(c: Ctx, o: Outcome):
    c.build()
    real = os.open

    def fail(p, f, *a):
        if str(p).endswith("space.txt"):
            raise OSError(errno.EIO, "Input/output error", p)
        return real(p, f, *a)

    with _patched(os, "open", fail):
        code, out, _ = c.index("--json")
    o.ok = code == 0 and json.loads(out)["removed"] == 0
    o.data_lost, o.wrong_results = c.lost(), c.wrong()


@case("transient", "symlink deleted (target outside the root)", "its document removed")
def _(c: Ctx, o: Outcome):
    _w(c.root / "outside" / "t.txt", "linked note about canyons")
    os.symlink(c.root / "outside" / "t.txt", c.src / "link.txt")
    c.build()
    (c.src / "link.txt").unlink()
    code, out, _ = c.index("--json")
    o.ok = code == 0 and json.loads(out)["removed"] == 1
    o.data_lost = c.lost(c.docs - {str(c.src / "link.txt")})


@case("transient", "--rebuild after the files are deleted", "their documents removed, others kept")
def _(c: Ctx, o: Outcome):
    c.build()
    (c.src / "space.txt").unlink()
    code, out, _ = c.index("--rebuild", "--json")
    o.ok = code == 0 and json.loads(out)["removed"] == 1 and len(c.doc_ids()) == 2
    o.data_lost = c.lost(c.docs - {str(c.src / "space.txt")})


# ---------------------------------------------------------------------------- damaged artifacts
def _gen(c: Ctx) -> Path:
    """The first segment folder of the live generation (format 3)."""
    return c.ix / json.loads((c.ix / "manifest.json").read_text())["segments"][0]["name"]


def _save(path, array):
    np.save(path, array, allow_pickle=False)


DAMAGE = {
    "vectors.npy truncated": lambda g: (g / "dense/vectors.npy").write_bytes((g / "dense/vectors.npy").read_bytes()[:150]),
    "vectors.npy random bytes": lambda g: (g / "dense/vectors.npy").write_bytes(
        os.urandom((g / "dense/vectors.npy").stat().st_size)
    ),
    "vectors.npy NaN": lambda g: _save(
        g / "dense/vectors.npy", np.full(np.load(g / "dense/vectors.npy").shape, np.nan, "float32")
    ),
    "vectors.npy rescaled, same size": lambda g: _save(g / "dense/vectors.npy", np.load(g / "dense/vectors.npy") * 2),
    "vectors.npy wrong dimension": lambda g: _save(g / "dense/vectors.npy", np.ones((3, 5), "float32") / np.sqrt(5)),
    "vectors.npy deleted": lambda g: (g / "dense/vectors.npy").unlink(),
    "chunk_docs.npy zeroed": lambda g: _save(g / "chunk_docs.npy", np.zeros_like(np.load(g / "chunk_docs.npy"))),
    "chunk_ids.npy reversed": lambda g: _save(g / "chunk_ids.npy", np.load(g / "chunk_ids.npy")[::-1].copy()),
    "BM25 term frequencies negated, same size": lambda g: _save(
        g / "bm25/postings_tfs.npy", -np.load(g / "bm25/postings_tfs.npy").astype(np.int64)
    ),
    "BM25 metadata garbage": lambda g: (g / "bm25/postings.json").write_text("{garbage"),
    "BM25 offsets file deleted": lambda g: (g / "bm25/postings_offsets.npy").unlink(),
    "segment folder deleted": lambda g: shutil.rmtree(g),
}


def damaged(name, fn):
    @case("damaged artifact", name, "search refuses in one line; verify exit 1; --repair restores, no re-encoding")
    def run(c: Ctx, o: Outcome):
        c.build()
        fn(_gen(c))
        o.wrong_results = c.wrong()
        code_v = c.cli("verify", "--index", c.ix)[0]
        from encoderkit.models.heads.encoder import Encoder

        def no_encode(*a, **k):
            raise AssertionError("repair re-encoded")

        with _patched(Encoder, "encode", no_encode):
            code_r, _, err = c.cli("index", "--index", c.ix, "--repair")
        o.ok = code_v == 1 and code_r == 0 and c.results() == c.baseline
        o.note = err.strip()[:200]
        o.data_lost = c.lost()


for _name, _fn in DAMAGE.items():
    damaged(_name, _fn)


# ---------------------------------------------------------------------------- manifest damage
def manifest_case(name, change, repairable=True):
    @case("manifest", name, "one-line error naming the fix" + ("; --repair recovers it" if repairable else ""))
    def run(c: Ctx, o: Outcome):
        c.build()
        change(c.ix / "manifest.json")
        code, _, err = c.cli("search", "river", "--index", c.ix)
        one_line = code == 2 and err.count("\n") == 1
        if repairable:
            code_r = c.cli("index", "--index", c.ix, "--repair")[0]
            o.ok = one_line and code_r == 0 and c.results() == c.baseline
            o.data_lost = c.lost()
        else:
            o.ok = one_line and "upgrade" in err
        o.note = err.strip()[:200]


def _edit(fn):
    def change(p: Path):
        m = json.loads(p.read_text())
        fn(m)
        p.write_text(json.dumps(m))

    return change


manifest_case("missing key (counts)", _edit(lambda m: m.pop("counts")))
manifest_case("wrong type (generation as text)", _edit(lambda m: m.update(generation="2")))
manifest_case("nested wrong type (model.dim null)", _edit(lambda m: m["model"].update(dim=None)))
manifest_case("segment path escapes the folder", _edit(lambda m: m["segments"][0].update(name="../../etc")))
manifest_case("garbage bytes", lambda p: p.write_bytes(os.urandom(300)))
manifest_case("truncated JSON", lambda p: p.write_text(p.read_text()[:80]))
manifest_case("deleted", lambda p: p.unlink())
manifest_case("unknown future version", _edit(lambda m: m.update(format_version=99)), repairable=False)


@case("store", "index.db replaced by garbage", "one-line error: rebuild (the store is the source of truth)")
def _(c: Ctx, o: Outcome):
    c.build()
    (c.ix / "index.db").write_bytes(b"junk" * 1000)
    for f in c.ix.glob("index.db-*"):
        f.unlink()
    code, _, err = c.cli("search", "river", "--index", c.ix)
    code_r, _, err_r = c.cli("index", "--index", c.ix, "--repair")
    o.ok = code == 2 and code_r == 2 and "--rebuild" in err_r
    o.note = "documents deleted by the fault itself (the store was destroyed), not by encoderkit"


# ---------------------------------------------------------------------------- full disk
def _more_docs(c: Ctx, n=8):
    for i in range(n):
        _w(c.src / f"more{i}.txt", f"additional note {i} about harbours and lighthouses")


def disk_full(name, target, attr, exc):
    @case("full disk (injected)", name, "one line with free/needed space; old state intact; next run resumes")
    def run(c: Ctx, o: Outcome):
        c.build()
        _more_docs(c)

        def boom(*a, **k):
            raise exc()

        mod = __import__(target, fromlist=["x"])
        owner = getattr(mod, attr.split(".")[0]) if "." in attr else mod
        with _patched(owner, attr.split(".")[-1], boom):
            code, _, err = c.index()
        intact = c.results() == c.baseline and not [p for p in c.ix.iterdir() if ".tmp" in p.name]
        code2, out2, _ = c.index("--json")
        r2 = json.loads(out2) if code2 == 0 else {}
        o.ok = code == 2 and "disk full" in err and err.count("\n") == 1 and intact and r2.get("added") == 8
        o.note = f"rerun: resumed {r2.get('resumed')}, encoded {r2.get('chunks_encoded')} chunks; " + err.strip()[:150]
        o.data_lost = c.lost()


def _enospc():
    return OSError(errno.ENOSPC, "No space left on device", "vectors.npy")


disk_full("ENOSPC writing the dense artifacts", "encoderkit.retrieval.dense", "DenseIndex.save", _enospc)
disk_full("ENOSPC writing the BM25 artifacts", "encoderkit.retrieval.postings", "Postings.save", _enospc)
disk_full(
    "SQLite full writing chunks",
    "encoderkit.index.storage.store",
    "Store.add_documents",
    lambda: sqlite3.OperationalError("database or disk is full"),
)
disk_full("ENOSPC writing the manifest", "encoderkit.index.storage.manifest", "atomic_write_text", _enospc)


def tmpfs_case(free_kb):
    @case(
        "full disk (real tmpfs)",
        f"1.5 MB tmpfs, {free_kb} KB left",
        "one line or success; nothing lost; completes once space is freed",
    )
    def run(c: Ctx, o: Outcome):
        disk = c.root / "disk"
        disk.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(disk)], capture_output=True)
        if r.returncode != 0:
            o.note = "skipped: cannot mount tmpfs here"
            return
        try:
            c.ix = disk / "ix"
            c.build()
            for i in range(40):
                _w(c.src / f"bulk{i:02d}.txt", f"bulk note {i} about tides and harbours. " + "more words " * 40)
            free = shutil.disk_usage(disk).free
            (disk / "filler").write_bytes(b"\0" * max(0, free - free_kb * 1024))
            code, _, err = c.index()
            (disk / "filler").unlink()
            one_line = code == 0 or (code == 2 and "disk full" in err and err.count("\n") == 1)
            code2 = c.index()[0]
            o.ok = one_line and code2 == 0 and len(c.doc_ids()) == 43
            o.note = ("failed cleanly: " + err.strip()[:120]) if code else "fitted"
            o.data_lost = c.lost()
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)

    return run


for _kb in (4, 24, 96, 400):
    tmpfs_case(_kb)


# ---------------------------------------------------------------------------- kills and concurrency
CHILD = """
import importlib, signal, sys
mod = importlib.import_module(sys.argv[1]); owner = mod
for part in sys.argv[2].split(".")[:-1]:
    owner = getattr(owner, part)
name = sys.argv[2].split(".")[-1]; original = getattr(owner, name); calls = [0]
def patched(*a, **k):
    calls[0] += 1
    result = original(*a, **k)
    if calls[0] == int(sys.argv[3]):
        print("PAUSED", flush=True); signal.pause()
    return result
setattr(owner, name, patched)
exec(sys.argv[4])
"""


def kill_case(name, module, attr, at, code_tpl, damage=None):
    @case("kill -9", name, "last committed state served; the next run completes")
    def run(c: Ctx, o: Outcome):
        c.build()
        _more_docs(c, 12)
        if damage:
            damage(_gen(c))
        code = code_tpl.format(ix=str(c.ix), src=str(c.src))
        proc = subprocess.Popen([sys.executable, "-c", CHILD, module, attr, str(at), code], stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        proc.kill()
        proc.wait()
        if line.strip() != "PAUSED":
            o.ok, o.note = False, "child did not reach the kill point"
            return
        during = c.results()  # the last committed state: the old one, or the new one if the kill came after the switch
        if damage:
            ok = c.cli("index", "--index", c.ix, "--repair")[0] == 0
        else:
            ok = c.index()[0] == 0 and len(c.doc_ids()) == 15
        final = c.results()
        o.wrong_results = 0 if during is None or during in (c.baseline, final) else 1
        o.ok = ok and final is not None and (final == c.baseline or not damage)
        o.note = "served the " + ("old" if during == c.baseline else "new" if during == final else "refused") + " state"
        o.data_lost = c.lost()


SYNC = "from encoderkit import Index; Index.open({ix!r}).sync([{src!r}], write_every=4, export_onnx=False)"
kill_case("during encoding (after 2 groups)", "encoderkit.index.storage.store", "Store.add_documents", 2, SYNC)
kill_case("after the new segment, before the manifest switch", "encoderkit.index.write.commit", "write_lease", 1, SYNC)
kill_case("during commit (manifest written, before collection)", "encoderkit.index.write.commit", "collect", 1, SYNC)
kill_case(
    "during --repair",
    "encoderkit.index.write.repair",
    "write_new_segments",
    1,
    "from encoderkit import Index; Index.repair({ix!r})",
    damage=DAMAGE["vectors.npy NaN"],
)


@case("concurrency", "second writer while one holds the lock", "refused in one line, exit 2")
def _(c: Ctx, o: Outcome):
    from encoderkit.index.storage.lock import writer_lock

    c.build()
    with writer_lock(c.ix):
        code, _, err = c.index()
        code_r, _, err_r = c.cli("index", "--index", c.ix, "--repair")
    o.ok = code == 2 and code_r == 2 and "another process" in err and err.count("\n") == 1
    o.data_lost = c.lost()


@case("concurrency", "reader during a writer's commit", "reader sees the old or the new generation, never a mix")
def _(c: Ctx, o: Outcome):
    from encoderkit import Index

    c.build()
    _more_docs(c)
    reader = Index.open(c.ix)
    before = [h.doc_id for h in reader.search("harbours", mode="bm25", k=20)]
    code = c.index()[0]
    after = [h.doc_id for h in reader.search("harbours", mode="bm25", k=20)]
    reader.close()
    o.ok = code == 0 and before == [] and len(after) == 8
    o.data_lost = c.lost()


@case("queries", "invalid UTF-8 bytes in a CLI query", "results, valid UTF-8 JSON, no traceback")
def _(c: Ctx, o: Outcome):
    c.build()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable, "-m", "encoderkit", "search", os.fsdecode(b"riv\xff"), "--index", str(c.ix), "--json"],
        capture_output=True,
        env=env,
        timeout=CASE_TIMEOUT,
    )
    if b"Traceback" in r.stderr:
        c.tracebacks += 1
    try:
        json.loads(r.stdout.decode("utf-8"))
        o.ok = r.returncode == 0
    except (UnicodeDecodeError, json.JSONDecodeError):
        o.ok = False


@case("queries", "lone surrogate in an API query and document", "indexed and searched, U+FFFD")
def _(c: Ctx, o: Outcome):
    from encoderkit import Index

    c.build()
    with Index.open(c.ix) as idx:
        idx.add([{"id": "s\ud800", "text": "surrogate \udcff text"}], export_onnx=False)
        hits = idx.search("surrogate \ud800", mode="bm25")
    o.ok = bool(hits) and hits[0].doc_id == "s\\ud800"


# ---------------------------------------------------------------------------- issue 34 (the drill's findings)
@case("server", "three timed-out /v1/embeddings calls, then 100 requests", "408s, then every request answered; /health ok")
def _(c: Ctx, o: Outcome):
    import httpx

    from encoderkit.server.app import create_app
    from encoderkit.server.config import BatchSettings, ServerConfig
    from support.servers import thread_server

    c.build()
    config = ServerConfig(batching=BatchSettings(max_wait_ms=1))
    config = type(config)(**{**config.__dict__, "limits": config.limits.with_overrides(request_timeout_s=1.0)})
    app = create_app(c.ix, config)
    run, slow = app.state.ek.batcher._run, {"on": True}
    app.state.ek.batcher._run = lambda items, key: (time.sleep(1.5) if slow["on"] else None) or run(items, key)
    with thread_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        codes = [client.post("/v1/embeddings", json={"input": ["long text " * 300] * 8}).status_code for _ in range(3)]
        slow["on"] = False
        time.sleep(1.6)
        later = [client.post("/v1/search", json={"query": q, "mode": "dense"}).status_code for q in QUERIES * 34][:100]
        health = client.get("/health").json()["status"]
    o.ok = codes == [408] * 3 and later == [200] * 100 and health == "ok"
    o.note = f"timeouts {codes}; then {later.count(200)}/100 answered; health {health}"


@case(
    "full disk (real tmpfs)",
    "merge with 80 KB left (memory-mapped writes)",
    "one line, exit 2, never SIGBUS; merge completes after",
)
def _(c: Ctx, o: Outcome):
    from conftest import make_tiny_model

    disk = c.root / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4096k", "tmpfs", str(disk)], capture_output=True).returncode:
        o.note = "skipped: cannot mount tmpfs here"
        return
    try:
        c.model = make_tiny_model(c.root / "wide", hidden=256, layers=1)
        c.ix = disk / "ix"
        for b in range(4):
            for i in range(15):
                _w(c.src / f"b{b}-{i:02d}.txt", f"tides and harbours {b} {i}. " + "more words about the sea " * 40)
            code, _, err = c.cli("index", c.src, "--index", c.ix, "--model", c.model, "-q", "--no-onnx", "--no-auto-merge")
        c.baseline, c.docs = c.results(), c.doc_ids()
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - 80 * 1024))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        r = subprocess.run(
            [sys.executable, "-m", "encoderkit", "optimize", "--index", str(c.ix)], capture_output=True, text=True, env=env
        )
        (disk / "filler").unlink()
        again = c.cli("optimize", "--index", c.ix)[0]
        o.ok = r.returncode == 2 and "disk full" in r.stderr and r.stderr.count("\n") == 1 and again == 0
        o.note = f"exit {r.returncode}: " + r.stderr.strip()[:120]
        o.data_lost, o.wrong_results = c.lost(), c.wrong()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


disk_full(
    "numpy short write of the dense vectors ('N requested and M written')",
    "numpy",
    "save",
    lambda: OSError("1536 requested and 512 written"),
)


@case("full disk (injected)", "full disk after the commit (automatic merge)", "exit 0, update reported committed, one warning")
def _(c: Ctx, o: Outcome):
    from encoderkit.index.write.writer import IndexWriter

    c.build()
    _more_docs(c)
    with _patched(IndexWriter, "_auto_merge", lambda *a, **k: (_ for _ in ()).throw(_enospc())):
        code, out, err = c.index()
    o.ok = code == 0 and "update is committed" in out and "keeps its last committed state" not in out + err
    o.note = next((line for line in out.splitlines() if "warning" in line), err.strip())[:150]
    o.data_lost = c.lost()


def _colbert_build(c: Ctx, batches: int) -> None:
    from encoderkit import Index
    from support.colbert import make_tiny_colbert

    colbert = make_tiny_colbert(c.root / "colbert", c.model)
    topics = ["cats purr and nap", "rivers flow to the sea", "vaccines train immunity", "tax law for companies"]
    idx = Index.create(c.ix, encoder=str(c.model), retrievers=["bm25", "dense", "colbert"],
                       retriever_settings={"colbert": {"model": str(colbert)}})  # fmt: skip
    idx.set_merge_policy(auto=False)
    for b in range(batches):
        idx.add([{"id": f"b{b}-{i}", "text": f"{topics[i % 4]} item {i} batch {b}"} for i in range(20)], export_onnx=False)
    idx.close()


def _colbert_answers(c: Ctx):
    out = []
    for q in ("cats purr", "sea rivers", "tax law"):
        code, text, _ = c.cli("search", q, "--index", c.ix, "--mode", "colbert", "--json", "-k", "10")
        if code != 0:
            return None
        out.append([(h["doc_id"], round(h["score"], 5)) for h in json.loads(text)["hits"]])
    return out


@case("damaged index", "16 bytes flipped in the ColBERT codec's centroids", "refused at open in one line; info says DAMAGED")
def _(c: Ctx, o: Outcome):
    _colbert_build(c, 1)
    before = _colbert_answers(c)
    f = next(c.ix.glob("seg-*/colbert/codec/centroids.npy"))
    raw = bytearray(f.read_bytes())
    raw[-64:-48] = bytes(255 - b for b in raw[-64:-48])
    f.write_bytes(bytes(raw))
    served = _colbert_answers(c)
    info = c.cli("info", "--index", c.ix)[1]
    o.wrong_results = int(served is not None and served != before)
    o.ok = served is None and "DAMAGED" in info
    o.note = "search refused; info DAMAGED" if o.ok else f"served {served is not None}"


@case("damaged index", "--repair of a healthy ColBERT index (3 segments)", "same ColBERT answers after the repair")
def _(c: Ctx, o: Outcome):
    _colbert_build(c, 3)
    before = _colbert_answers(c)
    code = c.cli("index", "--index", c.ix, "--repair")[0]
    o.wrong_results = int(_colbert_answers(c) != before)
    o.ok = code == 0


@case("sharded index", "info and verify on a sharded index", "every shard checked; damage in one shard named")
def _(c: Ctx, o: Outcome):
    code = c.cli("index", c.src, "--index", c.ix, "--model", c.model, "-q", "--no-onnx", "--shards", "2")[0]
    info = c.cli("info", "--index", c.ix)
    ok_verify = c.cli("verify", "--index", c.ix)[0]
    f = next(c.ix.glob("shard-*/seg-*/dense/vectors.npy"))
    f.write_bytes(f.read_bytes()[:-8] + b"\x7f" * 8)
    bad = c.cli("verify", "--index", c.ix, "--json")
    o.ok = (
        code == 0 and info[0] == 0 and ok_verify == 0 and bad[0] == 1 and json.loads(bad[1])["problems"][0].startswith("shard-")
    )
    o.note = json.loads(bad[1])["problems"][0][:120] if bad[1].strip() else bad[2][:120]


hostile(
    "one-line file of ~4 MB, cap set to 1,000 chunks",
    "skipped: too many chunks, estimated from samples",
    lambda c: _w(c.src / "oneline.txt", " ".join(f"token{i % 5000}" for i in range(400_000))),
    reason="too many chunks",
    args=("--max-chunks-per-file", "1000"),
)


# ---------------------------------------------------------------------------- runner
def run_case(group, name, expected, fn, model: Path) -> Outcome:
    o = Outcome(name, group, expected)
    root = Path(tempfile.mkdtemp(prefix="ek-fault-"))
    c = Ctx(root, model)
    box: dict = {}

    def target():
        try:
            fn(c, o)
        except BaseException:
            box["error"] = traceback.format_exc()

    t0 = time.perf_counter()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(CASE_TIMEOUT)
    o.seconds = round(time.perf_counter() - t0, 2)
    if t.is_alive():
        o.finished, o.ok, o.note = False, False, f"hung (> {CASE_TIMEOUT} s)"
        return o
    if "error" in box:  # the harness itself failed: report it, it is not a user-facing traceback
        o.ok, o.note = False, "harness error: " + box["error"].strip().splitlines()[-1][:200]
    o.tracebacks = c.tracebacks
    o.ok = o.ok and o.tracebacks == 0 and o.data_lost == 0 and o.wrong_results == 0
    if getattr(c, "sock", None):
        c.sock.close()
    shutil.rmtree(root, ignore_errors=True)
    return o


def main() -> None:
    from conftest import make_tiny_model

    model = make_tiny_model(Path(tempfile.mkdtemp(prefix="ek-model-")) / "tiny")
    os.environ["ENCODERKIT_CACHE"] = tempfile.mkdtemp(prefix="ek-cache-")
    only = sys.argv[1:]
    outcomes = []
    for group, name, expected, fn in CASES:
        if only and not any(s.lower() in name.lower() for s in only):
            continue
        o = run_case(group, name, expected, fn, model)
        outcomes.append(o)
        print(f"{'ok ' if o.ok else 'BAD'} {o.seconds:6.1f}s  {group:<22} {name}  {o.note[:90]}", flush=True)
    summary = {
        "cases tried": len(outcomes),
        "finished without hang": sum(o.finished for o in outcomes),
        "behaved as expected": sum(o.ok for o in outcomes),
        "data lost (documents)": sum(o.data_lost for o in outcomes),
        "wrong results served": sum(o.wrong_results for o in outcomes),
        "tracebacks shown to a user": sum(o.tracebacks for o in outcomes),
    }
    out = RESULTS / "fault_injection"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"machine": machine(), "summary": summary, "cases": [asdict(o) for o in outcomes]}, indent=2) + "\n"
    )
    lines = [
        "| " + " | ".join(summary) + " |",
        "|" + "---|" * len(summary),
        "| " + " | ".join(str(v) for v in summary.values()) + " |",
    ]
    lines += [
        "",
        "| group | case | expected | ok | hang | lost | wrong | tracebacks | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        note = o.note.replace("|", "/").replace("\n", " ")[:120]
        lines.append(
            f"| {o.group} | {o.case} | {o.expected} | {'yes' if o.ok else 'NO'} | {'no' if o.finished else 'YES'} | "
            f"{o.data_lost} | {o.wrong_results} | {o.tracebacks} | {note} |"
        )
    m = machine()
    (out / "results.md").write_text(
        f"Fault injection, {m['date']}, {m['cpu']} ({m['cores_available']} cores)\n\n" + "\n".join(lines) + "\n"
    )
    print("\n" + "\n".join(lines[:3]))
    sys.stdout.flush()
    os._exit(0 if summary["behaved as expected"] == len(outcomes) else 1)  # abandoned watchdog threads never block exit


if __name__ == "__main__":
    main()
