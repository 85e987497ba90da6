"""A child process that pauses at a chosen call (by patching a function in its own process), so a test can kill it
there: deterministic crash tests, no timing. Children left paused are killed by conftest's autouse fixture."""

import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import importlib, signal, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if the parent ignores SIGINT
    owner = importlib.import_module("{module}")
    for part in "{owner}".split(".") if "{owner}" else []:
        owner = getattr(owner, part)
    original = getattr(owner, "{func}")
    calls = [0]
    def pause():
        print("PAUSED", flush=True)
        while True:  # not signal.pause(): a SIGINT landing before pause() starts would be lost (a hang)
            time.sleep(0.05)
    def patched(*args, **kwargs):
        calls[0] += 1
        if {before} and calls[0] == {at}:
            pause()
        result = original(*args, **kwargs)
        if not {before} and calls[0] == {at}:
            pause()
        return result
    setattr(owner, "{func}", patched)
    {run}
""")


CHILDREN: list[subprocess.Popen] = []


def _run_child(tmp_path, target, at, run, before=False):
    """Run ``run`` in a child that pauses at the ``at``-th call of ``target`` ("module:Owner.func")."""
    module, attr = target.split(":")
    owner, _, func = attr.rpartition(".")
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(module=module, owner=owner, func=func, at=at, run=run, before=before))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ENCODERKIT_QUIET": "1"},
    )
    CHILDREN.append(proc)
    line = proc.stdout.readline()
    assert line.strip() == "PAUSED", proc.stderr.read()
    return proc
