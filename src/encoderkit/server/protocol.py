"""Connection handling on top of uvicorn's HTTP/1.1 protocols (httptools when installed, else h11):
what uvicorn leaves open.

uvicorn arms its keep-alive timer only after a first response, so a client that connects and sends
nothing (or sends a request head one byte at a time) holds a socket, and a file descriptor, for ever:
1,100 such sockets exhausted a default 1,024-descriptor limit and locked every other client out. Here
every connection must deliver a complete request head within ``header_timeout_s`` (a fresh connection,
and again after each response), and the number of open connections is capped: past
``max_connections`` the longest-idle connection (one with no request in progress) is closed to make
room, so idle sockets can never starve clients that send requests. A request target that is not ASCII
gets a 400 instead of an exception in the protocol.
"""

from __future__ import annotations

import time


class _Guarded:
    """Mixed into a uvicorn protocol class (see :func:`guarded_protocol`)."""

    _max = 1000
    _header_timeout = 10.0
    _metrics = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._idle_since = time.monotonic()
        self._head_done = False
        self._head_timer = None
        self._arm_head_timer()
        if len(self.connections) > self._max:
            self._evict_idle()
        if self._metrics is not None:
            self._metrics.connections.set(len(self.connections))

    def connection_lost(self, exc) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)
        if self._metrics is not None:
            self._metrics.connections.set(len(self.connections))

    # ------------------------------------------------------------------ head timeout
    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self._header_timeout > 0:
            self._head_timer = self.loop.call_later(self._header_timeout, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and not self._head_done and not self._busy():
            self.transport.close()

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except UnicodeDecodeError:  # a request target with non-ASCII bytes
            if not self.transport.is_closing():
                self.send_400_response("Invalid HTTP request target: not ASCII.")
            return
        if self._head_done or self._busy():
            self._cancel_head_timer()
        else:
            self._arm_head_timer()  # a partial head: it must complete in time

    def on_response_complete(self) -> None:
        self._head_done = False
        super().on_response_complete()
        self._idle_since = time.monotonic()
        if not self._busy():
            self._arm_head_timer()

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser rejects: the API's JSON error shape too, then the connection closes."""
        from .http_errors import error_body, safe_json

        body = safe_json(error_body(400, f"malformed HTTP request: {msg}", code="bad_http_request"))
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        if not self.transport.is_closing():
            self.transport.write(head + body)
            self.transport.close()

    # ------------------------------------------------------------------ connection cap
    def _evict_idle(self) -> None:
        idle = [c for c in self.connections if c is not self and not c._busy() and not c.transport.is_closing()]
        excess = len(self.connections) - self._max
        for c in sorted(idle, key=lambda c: c._idle_since)[:excess]:
            c.transport.close()
        if len(self.connections) - min(excess, len(idle)) > self._max:
            self.transport.close()  # every other connection is working: refuse this one


def _h11_class():
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(_Guarded, H11Protocol):
        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._head_done = True

    return GuardedH11


def _httptools_class():
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpTools(_Guarded, HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            self._head_done = True
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            try:
                super().data_received(data)
            except Exception as exc:  # httptools wraps errors raised in its callbacks
                if isinstance(exc.__cause__ or exc.__context__, UnicodeDecodeError) or "decode" in str(exc):
                    if not self.transport.is_closing():
                        self.send_400_response("Invalid HTTP request target: not ASCII.")
                    return
                raise

    return GuardedHttpTools


def guarded_protocol(max_connections: int, header_timeout_s: float, metrics=None, parser: str = "auto"):
    """A uvicorn protocol class with the limits baked in (uvicorn's ``Config(http=...)`` takes a class).
    ``parser``: httptools (C, faster) | h11 | auto (httptools when installed)."""
    if parser == "auto":
        try:
            import httptools  # noqa: F401

            parser = "httptools"
        except ImportError:
            parser = "h11"
    base = _httptools_class() if parser == "httptools" else _h11_class()
    return type("GuardedProtocol", (base,), {"_max": max_connections, "_header_timeout": header_timeout_s, "_metrics": metrics})
