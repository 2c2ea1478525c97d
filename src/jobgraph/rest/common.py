"""What every REST view shares: request checks, parameters, JSON bodies, errors. Who is asking and
the one unit of work an answer runs in are in `jobgraph.web.views`, shared with GraphQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobgraph.errors import BadInput, DomainError
from jobgraph.resolvers import limits
from jobgraph.resolvers.limits import parse_int, text_problem
from jobgraph.resolvers.validation import check_json_value


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def domain_error_response(exc: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.message, headers)


Endpoint = Callable[[Request], Awaitable[Response]]


def method_route(
    path: str, handlers: dict[str, Endpoint], on_error: Callable[[DomainError], Response] = domain_error_response
) -> Route:
    """One route per path, so a wrong method gets 405 with every allowed method in `Allow`; the
    request checks first (HEAD answers as GET), and domain errors in the system's own envelope."""

    async def endpoint(request: Request) -> Response:
        try:
            check_request(request)
            return await handlers["GET" if request.method == "HEAD" else request.method](request)
        except DomainError as exc:
            return on_error(exc)

    return Route(path, endpoint, methods=list(handlers))


async def json_body(request: Request, *, allow_empty: bool = False) -> Any:
    """The request's JSON body, parsed strictly (see parse_json)."""
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return None
        raise BadInput("the request needs a JSON body")
    return parse_json(raw, "the body")


def check_request(conn: HTTPConnection) -> None:
    """What every REST route refuses before it reads anything: a path segment or a query
    parameter holding a NUL (or, from a server that lets one through, a lone surrogate).
    PostgreSQL refuses NUL in text, so it never gets that far."""
    for name, value in conn.path_params.items():
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise BadInput(f"the path segment {{{name}}} {problem}")
    for key, value in conn.query_params.multi_items():
        problem = text_problem(key) or text_problem(value)
        if problem:
            raise BadInput(f"the query parameter {_shown(key)} {problem}")


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter: absent, the default; given, an integer from low to high
    (an empty value is not one: 400, as the OpenAPI documents say)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return parse_int(raw, name, low, high)


def enum_param(request: Request, name: str, default: str, allowed: Iterable[str], *, fold_case: bool = False) -> str:
    """A query parameter documented as an enum: absent, the default; given (even empty), one of
    `allowed` (any case with fold_case; the value is then answered as given)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    choices = list(allowed)
    wanted = raw.lower() if fold_case else raw
    if wanted not in ([c.lower() for c in choices] if fold_case else choices):
        raise BadInput(f"{name} must be one of {choices}, not {_shown(raw)}")
    return raw


def parse_json(raw: str | bytes, what: str) -> Any:
    """Strict JSON from a client: no NaN or Infinity, limits on nesting and on number size
    enforced while parsing (limits.loads), and what `check_json_value` allows (PostgreSQL's jsonb
    and JSON responses refuse the rest). Anything else is a BadInput naming `what`."""
    try:
        value = limits.loads(raw)
    except limits.JSONLimitError as exc:
        raise BadInput(f"{what} {exc.msg}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} is not valid JSON: {exc}") from None
    return check_json_value(value, what)
