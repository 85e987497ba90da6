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


def connection_cap(max_connections: int, fd_limit: int, reserve: int = 128) -> int:
    """Connections the server keeps open at most: the configured cap, kept ``reserve`` descriptors under
    the process's limit (models, the index's files and SQLite need some).

    >>> connection_cap(1000, 1024), connection_cap(1000, 65536)
    (896, 1000)
    """
    return max(16, min(max_connections, fd_limit - reserve))


def serve(app, *, host: str, port: int, limits, log_level: str = "info", on_ready=None) -> None:
    import uvicorn

    from .observe import configure_logging
    from .protocol import guarded_protocol

    state = app.state.ek
    fd_limit = raise_fd_limit(limits.max_connections + 256)
    cap = connection_cap(limits.max_connections, fd_limit)
    configure_logging(log_level)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(cap, limits.header_timeout_s, state.metrics),
        timeout_keep_alive=max(1, int(round(limits.keep_alive_s))),
        access_log=False,
        log_config=None,
        server_header=False,
        backlog=2048,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(cap, fd_limit)
    server.run()
