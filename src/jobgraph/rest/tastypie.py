"""Ion Torrent Suite's `/rundb/api/v1/PluginResultJob/` (django-tastypie conventions).

A thin view over the job use cases: the field names, state names and date format are in
`tastypie_model`, query and body parsing in `tastypie_query`, the OpenAPI description in
`tastypie_openapi`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from jobgraph.db.models import Job
from jobgraph.errors import BadInput, Conflict, DomainError, NotFound, Unauthenticated
from jobgraph.resolvers import jobs, plugins, policy, users
from jobgraph.resolvers.job_list import Condition, JobFilter, list_jobs
from jobgraph.resolvers.limits import parse_row_id
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import check_request, error_response
from jobgraph.rest.tastypie_model import (
    API_ROOT,
    CANCELLED,
    DETAIL_METHODS,
    LIST_METHODS,
    RESOURCE_PATH,
    grid_engine_jobid,
    ion_state,
    job_resource,
    resource_uri,
    schema_document,
    top_level,
)
from jobgraph.rest.tastypie_openapi import OPENAPI
from jobgraph.rest.tastypie_query import (
    MAX_IN_VALUES,
    MAX_INT,
    ListQuery,
    Params,
    check_params,
    flag,
    page_links,
    parse_body,
    parse_create,
    parse_list_query,
    parse_update,
)
from jobgraph.unit import Unit
from jobgraph.web.views import call, run_unit, runtime

__all__ = ["OPENAPI", "routes"]

T = TypeVar("T")

Handler = Callable[[Request], Awaitable[Response]]
CHALLENGE = 'ApiKey realm="jobgraph", Bearer realm="jobgraph"'


class TastypieJSON(JSONResponse):
    """JSON as tastypie writes it: ASCII-escaped; a non-finite number (which JSON lacks) as null."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")
        except ValueError:
            return json.dumps(_finite(content), ensure_ascii=True, allow_nan=False).encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _error(exc: DomainError) -> Response:
    if isinstance(exc, Unauthenticated):
        return error_response(401, exc.message, {"WWW-Authenticate": CHALLENGE})
    # tastypie has no 409: a request the job's state refuses is a bad request there.
    status = 400 if isinstance(exc, Conflict) else exc.http_status
    return error_response(status, exc.message)


def _params(request: Request) -> Params:
    return request.query_params.multi_items()


# ---------------------------------------------------------------- who is asking


def _authenticate(u: Unit, header: str, params: Params) -> Viewer:
    """`Authorization: ApiKey <email>:<token>` or `Bearer <token>`; else, as tastypie's
    ApiKeyAuthentication falls back, `?username=<email>&api_key=<token>`."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return users.authenticate(u, value.strip())
    if scheme.lower() == "apikey":
        email, colon, secret = value.strip().partition(":")
        if not colon or not email or " " in value.strip():
            raise Unauthenticated("give `Authorization: ApiKey <email>:<token>`")
    else:
        query = dict(params)
        email, secret = query.get("username", ""), query.get("api_key", "")
        if not email or not secret:
            raise Unauthenticated(
                "give `Authorization: ApiKey <email>:<token>`, `Authorization: Bearer <token>`"
                " or `?username=<email>&api_key=<token>`"
            )
    viewer = users.authenticate(u, secret)
    if viewer.email.casefold() != email.strip().casefold():
        raise Unauthenticated("the API key does not belong to that username")
    return viewer


def _authenticated(u: Unit, header: str, params: Params, fn: Callable[..., T], *args: Any) -> T:
    return fn(u, _authenticate(u, header, params), *args)


async def _answer(request: Request, fn: Callable[..., T], *args: Any, write: bool = False) -> T:
    """One answer, one unit, one hop: authenticate (tastypie's way), then `fn(unit, viewer, *args)`."""
    header = request.headers.get("authorization", "")
    return await call(run_unit, runtime(request), write, _authenticated, header, _params(request), fn, *args)


# ---------------------------------------------------------------- reading


def _number(text: str) -> int:
    """A job id from the URL; any other shape (or a number no job can have) names no job (404,
    as tastypie answers)."""
    number = parse_row_id(text)
    if number is None:
        raise NotFound(f"no PluginResultJob {text!r}: ids are positive integers up to {MAX_INT}")
    return number


def _get(u: Unit, viewer: Viewer, number: int) -> Job:
    job = jobs.get_job_by_number(u, viewer, number)
    if job is None:
        raise NotFound(f"no PluginResultJob {number}")
    return job


def _list(u: Unit, viewer: Viewer, params: Params) -> tuple[ListQuery, list[dict[str, Any]], int]:
    query = parse_list_query(params)
    page = list_jobs(
        u,
        viewer,
        JobFilter(conditions=query.conditions),
        first=query.limit,
        offset=query.offset,
        custom_order=query.order or None,
    )
    return query, [job_resource(job) for job in page.jobs], page.total


def _many(u: Unit, viewer: Viewer, identifiers: list[str]) -> tuple[list[int], dict[int, dict[str, Any]]]:
    if len(identifiers) > MAX_IN_VALUES:
        raise BadInput(f"at most {MAX_IN_VALUES} ids in one set")
    numbers = [_number(text) for text in identifiers]
    wanted = sorted(set(numbers))
    page = list_jobs(
        u, viewer, JobFilter(conditions=[Condition("number", "in", wanted)]), first=len(wanted), with_total=False
    )
    return numbers, {job.number: job_resource(job) for job in page.jobs if job.number is not None}


async def list_view(request: Request) -> Response:
    params = _params(request)
    query, objects, total = await _answer(request, _list, params)
    previous, following = page_links(params, query.limit, query.offset, total)
    meta = {"limit": query.limit, "next": following, "offset": query.offset, "previous": previous}
    return TastypieJSON({"meta": {**meta, "total_count": total}, "objects": objects})


def _detail(u: Unit, viewer: Viewer, raw_id: str) -> Job:
    return _get(u, viewer, _number(raw_id))


async def detail_view(request: Request) -> Response:
    job = await _answer(request, _detail, request.path_params["id"])
    return TastypieJSON(job_resource(job))


async def set_view(request: Request) -> Response:
    identifiers = str(request.path_params["ids"]).split(";")
    numbers, found = await _answer(request, _many, identifiers)
    objects = [found[n] for n in numbers if n in found]
    not_found = [text for text, n in zip(identifiers, numbers, strict=True) if n not in found]
    return TastypieJSON({"objects": objects, "not_found": not_found})


def _nothing(u: Unit, viewer: Viewer) -> None:
    return None


async def root_view(request: Request) -> Response:
    """The API root, for discovery: no token needed, as tastypie's `Api.top_level`."""
    return TastypieJSON(top_level())


async def schema_view(request: Request) -> Response:
    await _answer(request, _nothing)
    return TastypieJSON(schema_document())


# ---------------------------------------------------------------- changing


def _create(u: Unit, viewer: Viewer, body: bytes, content_type: str | None) -> Job:
    # Who may not run plugins hears so before anything of their body (the policy, asked once
    # here; create_jobs holds the rule).
    policy.require_run_plugins(viewer)
    wanted = parse_create(parse_body(body, content_type))
    plugin = plugins.find_plugin_by_name(u, viewer, wanted.plugin)
    if plugin is None:
        raise BadInput(f"no plugin named {wanted.plugin!r}")
    spec = jobs.JobSpec(plugin_id=plugin.plugin_id, input=wanted.config, run_level=wanted.run_level)
    try:
        return jobs.create_job(u, viewer, spec)
    except NotFound as exc:  # the plugin went away meanwhile: still the body's fault
        raise BadInput(exc.message) from None


def _update(u: Unit, viewer: Viewer, raw_id: str, body: bytes, content_type: str | None) -> Job:
    """Apply a PUT or PATCH body: config and run_level change (while queued); state may become
    Cancelled; every other field must keep its value. All checks come before any change, and
    the change and the cancel are one unit: either both or neither."""
    number = _number(raw_id)
    given = parse_update(parse_body(body, content_type))
    job = _get(u, viewer, number)
    current = {
        "id": job.number,
        "grid_engine_jobid": grid_engine_jobid(job.worker_id),
        "starttime": job.started_at,
        "endtime": job.finished_at,
    }
    for key, value in given.items():
        if key == "grid_engine_jobid" and value is None:
            value = -1
        if key in current and value != current[key]:
            raise BadInput(f"'{key}' is set by jobgraph and cannot be changed")
    if "plugin" in given and given["plugin"] != job.plugin_id:
        plugin = plugins.get_plugin(u, viewer, job.plugin_id)
        if plugin is None or given["plugin"] != plugin.name:
            raise BadInput("a job cannot move to another plugin")
    state = given.get("state")
    cancel = state is not None and state != ion_state(job.status, job.failure_kind)
    if cancel and state != CANCELLED:
        raise BadInput(
            f"a job's state can only be set to {CANCELLED!r} (it is {ion_state(job.status, job.failure_kind)!r})"
        )
    changes: dict[str, Any] = {}
    if "config" in given and given["config"] != job.input:
        changes["input"] = given["config"]
    if "run_level" in given and given["run_level"] != job.run_level:
        changes["run_level"] = given["run_level"]
    if changes:
        job = jobs.update_job(u, viewer, number, **changes)
    if cancel:
        job = jobs.cancel_job(u, viewer, number)
    return job


async def create_view(request: Request) -> Response:
    body = await request.body()
    job = await _answer(request, _create, body, request.headers.get("content-type"), write=True)
    headers = {"Location": str(request.base_url).rstrip("/") + resource_uri(job.number)}
    if flag(_params(request), "always_return_data"):
        return TastypieJSON(job_resource(job), status_code=201, headers=headers)
    return Response(status_code=201, headers=headers)


async def _change(request: Request, status: int, status_with_data: int) -> Response:
    body = await request.body()
    raw_id = request.path_params["id"]
    job = await _answer(request, _update, raw_id, body, request.headers.get("content-type"), write=True)
    if flag(_params(request), "always_return_data"):
        return TastypieJSON(job_resource(job), status_code=status_with_data)
    return Response(status_code=status)


async def put_view(request: Request) -> Response:
    return await _change(request, 204, 200)


async def patch_view(request: Request) -> Response:
    return await _change(request, 202, 202)


def _delete(u: Unit, viewer: Viewer, raw_id: str) -> bool:
    return jobs.delete_job(u, viewer, _number(raw_id))


async def delete_view(request: Request) -> Response:
    await _answer(request, _delete, request.path_params["id"], write=True)
    return Response(status_code=204)


# ---------------------------------------------------------------- routing


def _resource(handlers: dict[str, Handler]) -> Handler:
    """One URL: method dispatch as tastypie does it (X-HTTP-Method-Override, OPTIONS, 405 with
    `Allow` before authentication), the format check, and errors as `{"error": ...}`."""
    allow = ",".join(handlers)

    async def endpoint(request: Request) -> Response:
        method = request.headers.get("x-http-method-override", request.method).upper()
        try:
            if method == "OPTIONS":
                return TastypieJSON({"allowed_methods": [m.lower() for m in handlers]}, headers={"Allow": allow})
            handler = handlers.get(method)
            if handler is None:
                return error_response(405, f"{method} is not allowed here; allowed: {allow}", {"Allow": allow})
            check_request(request)
            check_params(_params(request))
            return await handler(request)
        except DomainError as exc:
            return _error(exc)

    return endpoint


class _Endpoint:
    """An ASGI endpoint, so that Starlette hands it every method and tastypie's 405 rules apply."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handler = _resource(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive))
        await response(scope, receive, send)


def routes() -> list[BaseRoute]:
    list_handlers: dict[str, Handler] = {"GET": list_view, "POST": create_view}
    detail_handlers: dict[str, Handler] = {
        "GET": detail_view,
        "PUT": put_view,
        "DELETE": delete_view,
        "PATCH": patch_view,
    }
    assert [m.lower() for m in list_handlers] == list(LIST_METHODS)
    assert [m.lower() for m in detail_handlers] == list(DETAIL_METHODS)
    return [
        Route(API_ROOT, _Endpoint({"GET": root_view})),
        Route(RESOURCE_PATH, _Endpoint(list_handlers)),
        Route(f"{RESOURCE_PATH}schema/", _Endpoint({"GET": schema_view})),
        Route(RESOURCE_PATH + "set/{ids}/", _Endpoint({"GET": set_view})),
        Route(RESOURCE_PATH + "{id}/", _Endpoint(detail_handlers)),
    ]
