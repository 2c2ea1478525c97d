"""What every REST view shares: calling use cases off the event loop, who is asking, errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from jobgraph.errors import BadInput, DomainError, Unauthenticated
from jobgraph.resolvers import users
from jobgraph.resolvers.validation import MAX_JSON_DEPTH, check_json_value
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime

T = TypeVar("T")


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.rt
    return rt


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (synchronous, database-bound) use case in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def domain_error_response(exc: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.message, headers)


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def bearer_candidates(conn: HTTPConnection) -> list[str]:
    """The Bearer value as given, and (as LANraragi sends it) base64-decoded."""
    token = bearer_token(conn)
    if token is None:
        return []
    candidates = [token]
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded != token and decoded.isprintable():
        candidates.append(decoded)
    return candidates


def _authenticate_any(rt: Runtime, secrets: list[str]) -> Viewer:
    last: Unauthenticated = Unauthenticated()
    for secret in secrets:
        try:
            return users.authenticate(rt, secret)
        except Unauthenticated as exc:
            last = exc
    raise last


async def viewer_from_bearer(conn: HTTPConnection, *, allow_base64: bool = False) -> Viewer:
    secrets = bearer_candidates(conn) if allow_base64 else [t for t in [bearer_token(conn)] if t]
    return await call(_authenticate_any, runtime(conn), secrets)


async def json_body(request: Request, *, allow_empty: bool = False) -> Any:
    """The request's JSON body, parsed strictly (see parse_json)."""
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return None
        raise BadInput("the request needs a JSON body")
    return parse_json(raw, "the body")


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be from {low} to {high}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: str | bytes, what: str) -> Any:
    """Strict JSON from a client: no NaN or Infinity, and what `check_json_value` allows (PostgreSQL's
    jsonb and JSON responses refuse the rest). Anything else is a BadInput naming `what`."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadInput(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} is not valid JSON: {exc}") from None
    return check_json_value(value, what)
