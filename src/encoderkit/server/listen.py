"""Running the app under uvicorn with the server's connection limits (see :mod:`.protocol`)."""

from __future__ import annotations

import resource


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (up to the hard limit); the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


BACKLOG = 64  # connections accepted per wake-up of the event loop: kept small so the cap acts between batches


def open_descriptors() -> int:
    """Descriptors this process has open now (0 where /proc is missing)."""
    import os

    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def connection_cap(max_connections: int, fd_limit: int, in_use: int = 0, reserve: int = 256) -> int:
    """Connections the server keeps open at most: the configured cap, kept under the process's descriptor
    limit by what is open already (models, the index's files), one accept batch (``BACKLOG``) and a
    ``reserve`` for SQLite connections (three descriptors per reading thread) and the rest.

    >>> connection_cap(1000, 1024, in_use=40), connection_cap(1000, 65536, in_use=40)
    (664, 1000)
    """
    return max(16, min(max_connections, fd_limit - in_use - BACKLOG - reserve))


def make_server(app, *, host: str, port: int, limits, log_level: str = "info", configure_logs: bool = True, parser: str = "auto"):
    """A ``uvicorn.Server`` for ``app`` with the connection limits, header timeout and JSON logs; returns
    (server, connection cap, descriptor limit)."""
    import uvicorn

    from .observe import configure_logging
    from .protocol import guarded_protocol

    state = app.state.ek
    fd_limit = raise_fd_limit(limits.max_connections + 256)
    cap = connection_cap(limits.max_connections, fd_limit, open_descriptors())
    if configure_logs:
        configure_logging(log_level)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(cap, limits.header_timeout_s, state.metrics, parser=parser),
        timeout_keep_alive=max(1, int(round(limits.keep_alive_s))),
        access_log=False,
        log_config=None,
        server_header=False,
        backlog=BACKLOG,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config), cap, fd_limit


def serve(app, *, host: str, port: int, limits, log_level: str = "info", on_ready=None) -> None:
    """Run ``app`` until interrupted."""
    server, cap, fd_limit = make_server(app, host=host, port=port, limits=limits, log_level=log_level)
    if on_ready is not None:
        on_ready(cap, fd_limit)
    server.run()
