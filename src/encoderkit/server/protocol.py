"""Connection handling on top of uvicorn's HTTP/1.1 protocol (h11): what uvicorn leaves open.

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

from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(max_connections: int, header_timeout_s: float, metrics=None):
    """An ``H11Protocol`` subclass with the limits baked in (uvicorn's ``Config(http=...)`` takes a class)."""

    class GuardedH11Protocol(H11Protocol):
        _max = max_connections
        _header_timeout = header_timeout_s
        _metrics = metrics

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._idle_since = time.monotonic()
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
            if not self.transport.is_closing() and self._waiting_for_head():
                self.transport.close()

        def _waiting_for_head(self) -> bool:
            import h11

            return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

        def _busy(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def data_received(self, data: bytes) -> None:
            try:
                super().data_received(data)
            except UnicodeDecodeError:  # a request target with non-ASCII bytes
                if not self.transport.is_closing():
                    self.send_400_response("Invalid HTTP request target: not ASCII.")
                return
            if self._waiting_for_head():
                self._arm_head_timer()  # a partial head: it must complete in time
            else:
                self._cancel_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = time.monotonic()
            self._arm_head_timer()

        # ------------------------------------------------------------------ connection cap
        def _evict_idle(self) -> None:
            idle = [c for c in self.connections if c is not self and not c._busy() and not c.transport.is_closing()]
            excess = len(self.connections) - self._max
            for c in sorted(idle, key=lambda c: c._idle_since)[:excess]:
                c.transport.close()
            if len(self.connections) - min(excess, len(idle)) > self._max:
                self.transport.close()  # every other connection is working: refuse this one

    return GuardedH11Protocol
