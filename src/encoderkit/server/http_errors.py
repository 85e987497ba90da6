"""One JSON error shape for the whole HTTP API, and JSON responses that never fail to encode.

Every error, whatever raised it (validation, a limit, authentication, an index problem, an unknown
route), is answered as ``{"error": {"message", "type", "code", "param"}}``: the shape OpenAI's API uses,
so its client libraries show the message as they do for their own service.

>>> error_body(413, "request body is 5000000 bytes; the limit is 4194304")["error"]["type"]
'request_too_large'
>>> safe_json({"a": float("nan"), "b": "x\\ud800"})
b'{"a":null,"b":"x\\\\ud800"}'
"""

from __future__ import annotations

import json
import math

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_body(status: int, message: str, *, code: str | None = None, param: str | None = None) -> dict:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "code": code,
            "param": param,
        }
    }


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def safe_json(obj) -> bytes:
    """Compact UTF-8 JSON; non-finite floats become null and text that is not valid Unicode (a lone
    surrogate read from an old index) is escaped instead of failing the response."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def json_response_class():
    from fastapi.responses import JSONResponse

    class SafeJSONResponse(JSONResponse):
        def render(self, content) -> bytes:
            return safe_json(content)

    return SafeJSONResponse


def error_response(status: int, message: str, *, code: str | None = None, param: str | None = None, headers=None):
    return json_response_class()(error_body(status, message, code=code, param=param), status_code=status, headers=headers)


def _validation_message(errors) -> tuple[str, str | None]:
    parts, first = [], None
    for e in errors[:5]:
        loc = [str(x) for x in e.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):  # where the value was sent, not its name
            if len(loc) == 1 and loc[0] == "body":
                loc = ["request body"]  # no body at all, or not a JSON object
            else:
                loc = loc[1:]
        where = ".".join(loc)
        first = first or (where if where != "request body" else None)
        msg = str(e.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more, first


def install_handlers(app) -> None:
    """Route every exception FastAPI/Starlette can raise to the one error shape."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    from ..errors import EncoderkitError

    @app.exception_handler(EncoderkitError)
    async def _user_error(request, exc: EncoderkitError):
        return error_response(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        msg, param = _validation_message(exc.errors())
        return error_response(422, msg, param=param, code="invalid_value")

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs for the API"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):  # a bug: logged with its traceback, never shown to the client
        import logging

        logging.getLogger("encoderkit.server").exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error (logged on the server)")
