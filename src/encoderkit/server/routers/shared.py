"""What the routers share: the API error for a refused request, limit checks, model-name checks, and
running blocking work off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Sequence, Union

from ..batcher import Overloaded


class ApiError(Exception):
    """A request the server refuses; answered in the API's one error shape (see ``server.errors``)."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers


def over_limit(message: str, param: str) -> ApiError:
    return ApiError(422, message, param=param, code="limit_exceeded")


def check_count(n: int, limit: int, what: str, param: str, flag: str) -> None:
    if n == 0:
        raise ApiError(422, f"{param} is empty: send at least one {what}", param=param, code="invalid_value")
    if n > limit:
        raise over_limit(f"{n} {what}s in one request; the limit is {limit} ({flag}): split the request", param)


def check_texts(texts: Sequence[str], max_chars: int, param: str, *, allow_blank: bool = False) -> None:
    for i, t in enumerate(texts):
        if not allow_blank and not t.strip():
            raise ApiError(422, f"{param}[{i}] is empty", param=f"{param}[{i}]", code="invalid_value")
        if len(t) > max_chars:
            raise over_limit(
                f"{param}[{i}] has {len(t)} characters; the limit is {max_chars} (--max-input-chars)", f"{param}[{i}]"
            )


def check_query(query: str, max_chars: int, param: str = "query") -> None:
    if not query.strip():
        raise ApiError(422, f"{param} is empty", param=param, code="invalid_value")
    if len(query) > max_chars:
        raise over_limit(f"{param} has {len(query)} characters; the limit is {max_chars} (--max-query-chars)", param)


def check_range(value: int, limit: int, param: str, flag: str) -> None:
    if value < 1:
        raise ApiError(422, f"{param} must be at least 1, got {value}", param=param, code="invalid_value")
    if value > limit:
        raise over_limit(f"{param}={value} is over the limit of {limit} ({flag})", param)


def check_model(requested: str | None, served: Sequence[str], what: str) -> None:
    """``model`` may be omitted, or name the served model (by name or spec)."""
    if requested in (None, "") or requested in served:
        return
    raise ApiError(
        404,
        f"model {requested!r} is not served here; this server's {what} model is {served[0]!r}",
        param="model",
        code="model_not_found",
    )


def served_names(model=None, spec: str | None = None, *, name: str | None = None, path=None) -> list[str]:
    """The names a request's ``model`` may use for a served model, the one rule of every route: the model's
    name (``sentence-transformers/all-MiniLM-L6-v2``), its last part (``all-MiniLM-L6-v2``), how it was
    given (``default``, a folder or hub id) and that folder's name. ``model``: a loaded model (its name and
    ``ref`` are read; a scorer wrapping an encoder reads the encoder's); ``spec``/``name``/``path`` add to it.

    >>> served_names(name="sentence-transformers/all-MiniLM-L6-v2", spec="default", path="/m/x")
    ['sentence-transformers/all-MiniLM-L6-v2', 'all-MiniLM-L6-v2', 'default', 'x']
    >>> served_names(spec="runs/ce")
    ['runs/ce', 'ce']
    """
    from pathlib import PurePath

    ref = getattr(model, "ref", None) or getattr(getattr(model, "encoder", None), "ref", None)
    name = name or getattr(model, "name", None) or getattr(ref, "name", None)
    spec = spec or getattr(ref, "spec", None)
    path = path or getattr(ref, "path", None) or getattr(model, "path", None)
    short = str(name).rsplit("/", 1)[-1] if name else None
    names = [name, short, spec, PurePath(str(spec)).name if spec else None, PurePath(str(path)).name if path else None]
    return [str(n) for i, n in enumerate(names) if n and n not in names[:i]] or ["model"]


def as_list(value: Union[str, list]) -> list:
    return [value] if isinstance(value, str) else list(value)


async def wait(future: Future, timeout: float):
    """Await a worker future from the event loop (a full queue is a 429, see the batcher)."""
    return await asyncio.wait_for(asyncio.wrap_future(future), timeout)


def submit(batcher, items, key, cost):
    try:
        return batcher.submit(items, key=key, cost=cost)
    except Overloaded as exc:
        raise ApiError(
            429, f"server busy: {exc}; retry shortly", code="too_many_requests", headers={"Retry-After": "1"}
        ) from None
