"""The front door of every request (a plain ASGI middleware, before any routing or model work):

1. Host-header allow-list (DNS rebinding: a web page cannot reach a loopback server under its own name);
2. API keys (``Authorization: Bearer KEY``) for every path but the public ones (``/health``, the search
   page and its assets, the API documentation);
3. a cap on requests in flight (429 beyond);
4. the body: its size (413, from Content-Length before reading and while reading a chunked body), then
   its text (400 unless valid UTF-8 without lone surrogates such as ``\\ud800``: malformed text is the
   client's error, never a 500 or a dropped connection);
5. the request timeout (408), reading the body included;
6. metrics and one access-log line per request.

Every refusal uses the API's one error shape (:mod:`.errors`).

>>> has_lone_surrogate(b'{"q": "\\\\ud800"}'), has_lone_surrogate(b'{"q": "\\\\ud83d\\\\ude00"}')
(True, False)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid

from .http_errors import error_body, safe_json
from .observe import access_log

PUBLIC_PATHS = {"/", "/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/favicon.ico"}
PUBLIC_PREFIXES = ("/static/",)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def has_lone_surrogate(body: bytes) -> bool:
    """True if the JSON ``body`` decodes to a string holding a lone UTF-16 surrogate (not valid Unicode).
    A fast scan for ``\\uD8xx``-``\\uDFxx`` escapes first; only then a full parse (pairs are fine)."""
    if not _SURROGATE_ESCAPE.search(body):
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False  # not JSON: the route's own parser reports it
    for s in _strings(data):
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def text_problem(body: bytes) -> str | None:
    """Why ``body`` is not acceptable text, or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"request body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start}); send UTF-8 JSON"
    if has_lone_surrogate(body):
        return (
            "request text holds a lone surrogate (an escape such as \\ud800 that is not valid Unicode); send valid Unicode text"
        )
    return None


class Guard:
    """ASGI middleware applying the server's host list, keys, limits and timeout (see module doc)."""

    def __init__(self, app, state):
        self.app = app
        self.state = state
        cfg = state.config
        self.hosts = {h.lower().strip("[]") for h in cfg.hosts}
        self.any_host = "*" in self.hosts
        self.keys = state.keys
        self.limits = cfg.limits
        self.cors = bool(cfg.cors_origins)
        self.metrics = state.metrics
        self.log = cfg.access_log
        self.in_flight = 0
        self._shares: dict[str, list] = {}  # client -> [semaphore of its share, its requests in flight or waiting]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _header(scope, name: bytes) -> bytes | None:
        for k, v in scope.get("headers") or ():
            if k == name:
                return v
        return None

    def _host_ok(self, scope) -> bool:
        if self.any_host:
            return True
        raw = self._header(scope, b"host")
        if raw is None:
            return False
        host = raw.decode("latin-1").strip().lower()
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.rsplit(":", 1)[0]
        return host in self.hosts

    def _public(self, path: str) -> bool:
        return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

    async def _refuse(self, send, status: int, message: str, code: str, headers=()):
        body = safe_json(error_body(status, message, code=code))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.rejected.labels(code).inc()

    async def _read_body(self, receive, limit: int) -> bytes | int:
        """The whole body, or its size so far (an int) once it passes ``limit``."""
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise ConnectionResetError("client went away while sending the body")
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                return size
            chunks.append(chunk)
            if not msg.get("more_body", False):
                return b"".join(chunks)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        rid = (self._header(scope, b"x-request-id") or b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        status = {"code": 0, "bytes": 0}

        async def send_wrapper(msg):
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
                msg = {**msg, "headers": [*msg.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]}
            elif msg["type"] == "http.response.body":
                status["bytes"] += len(msg.get("body", b""))
            await send(msg)

        try:
            await self._handle(scope, receive, send_wrapper)
        finally:
            dt = time.perf_counter() - t0
            route = scope.get("route")
            label = getattr(route, "path", None) or ("static" if scope["path"].startswith("/static/") else "unmatched")
            self.metrics.requests.labels(scope["method"], label, str(status["code"] or 499)).inc()
            self.metrics.latency.labels(label).observe(dt)
            if self.log:
                client = scope.get("client") or ("", 0)
                access_log(
                    {
                        "event": "request",
                        "request_id": rid,
                        "client": client[0],
                        "method": scope["method"],
                        "path": scope["path"][:200],
                        "route": label,
                        "status": status["code"] or 499,
                        "bytes": status["bytes"],
                        "ms": round(dt * 1000, 2),
                    }
                )

    async def _handle(self, scope, receive, send):
        lim = self.limits
        if not self._host_ok(scope):
            host = (self._header(scope, b"host") or b"").decode("latin-1")[:100]
            return await self._refuse(
                send,
                400,
                f"Host header {host!r} is not allowed by this server; start it with --allowed-host NAME to accept that name",
                "host_not_allowed",
            )
        preflight = self.cors and scope["method"] == "OPTIONS"
        if self.keys and not preflight and not self._public(scope["path"]):
            if not self.keys.check(self._header(scope, b"authorization")):
                given = self._header(scope, b"authorization") is not None
                return await self._refuse(
                    send,
                    401,
                    "invalid API key" if given else "this server requires an API key: send 'Authorization: Bearer KEY'",
                    "invalid_api_key" if given else "missing_api_key",
                    headers=[(b"www-authenticate", b"Bearer")],
                )
        if self.in_flight >= lim.max_in_flight:
            return await self._refuse(
                send,
                429,
                f"server busy: {self.in_flight} requests in progress (limit {lim.max_in_flight}); retry shortly",
                "too_many_requests",
                headers=[(b"retry-after", b"1")],
            )
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            await asyncio.wait_for(self._fair_run(scope, receive, send), timeout=lim.request_timeout_s)
        except asyncio.TimeoutError:
            if not scope.get("_ek_started"):
                await self._refuse(
                    send,
                    408,
                    f"request took longer than the {lim.request_timeout_s:g} s limit (reading it included); "
                    "send less per request or raise --request-timeout",
                    "timeout",
                    headers=[(b"connection", b"close")],
                )
        except ConnectionResetError:
            pass
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    def _client_key(self, scope) -> str:
        """Who a request is from, for its fair share: its API key's digest when keys are in use (clients
        behind one proxy stay apart), else its address."""
        auth = self._header(scope, b"authorization") if self.keys else None
        if auth:
            return "key:" + hashlib.sha256(auth).hexdigest()[:16]
        return "addr:" + str((scope.get("client") or ("?", 0))[0])

    async def _fair_run(self, scope, receive, send):
        """Run the request once its client has fewer than ``max_in_flight_per_client`` running: a client
        sending many at once waits for its own turns instead of taking every worker from the others (the
        waiting counts against the request timeout)."""
        share = self.limits.max_in_flight_per_client
        if share <= 0:
            return await self._run(scope, receive, send)
        key = self._client_key(scope)
        slot = self._shares.get(key)
        if slot is None:
            slot = self._shares[key] = [asyncio.Semaphore(share), 0]
        slot[1] += 1
        try:
            async with slot[0]:
                return await self._run(scope, receive, send)
        finally:
            slot[1] -= 1
            if slot[1] == 0:
                self._shares.pop(key, None)

    async def _run(self, scope, receive, send):
        lim = self.limits

        async def tracked_send(msg):
            if msg["type"] == "http.response.start":
                scope["_ek_started"] = True
            await send(msg)

        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            length = self._header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > lim.max_body_bytes:
                return await self._refuse(
                    send,
                    413,
                    f"request body is {int(length)} bytes; the limit is {lim.max_body_bytes} (--max-body-bytes)",
                    "body_too_large",
                    headers=[(b"connection", b"close")],
                )
            body = await self._read_body(receive, lim.max_body_bytes)
            if isinstance(body, int):
                return await self._refuse(
                    send,
                    413,
                    f"request body is over the {lim.max_body_bytes}-byte limit (--max-body-bytes)",
                    "body_too_large",
                    headers=[(b"connection", b"close")],
                )
            problem = text_problem(body) if body else None
            if problem:
                return await self._refuse(send, 400, problem, "invalid_text")
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self.app(scope, replay, tracked_send)
        return await self.app(scope, receive, tracked_send)
