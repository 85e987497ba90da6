"""Servers on real sockets for tests: on 127.0.0.1 only, started and stopped by the test that uses them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def thread_server(app, limits=None, parser: str = "auto"):
    """Run ``app`` with the server's uvicorn setup in a background thread; yields its base URL."""
    from encoderkit.server.listen import make_server

    limits = limits or app.state.ek.config.limits
    server, _, _ = make_server(app, host="127.0.0.1", port=0, limits=limits, configure_logs=False, parser=parser)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def cli_server(*args: str, fd_limit: int | None = None, env: dict | None = None, timeout: float = 90):
    """``encoderkit serve ARGS --port P`` in a child process (optionally with an open-file limit);
    yields (base URL, process). The child's stderr goes to a file read by :func:`server_log`."""
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"ek-serve-{port}.log", "w+b")

    def limit():
        if fd_limit:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ENCODERKIT_THREADS": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "encoderkit.cli", "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=full_env,
        preexec_fn=limit,
    )
    base = f"http://127.0.0.1:{port}"
    proc.log = log  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.25)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def server_log(proc) -> str:
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read().decode("utf-8", errors="replace")
