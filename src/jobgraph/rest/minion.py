"""LANraragi's Minion API: a job's basic status (no token), its full Minion info, and queueing.

Minion ids are job numbers. Minion's state names, its epoch-seconds-as-strings times and the
shape of `args` live here and nowhere else. Errors keep LANraragi's envelope
`{"operation", "error", "success": 0}` (so they carry the usual `error` string). A job that does
not exist, that the caller may not see, or an id that is not a positive integer is answered as
LANraragi answers an unknown job: 400 `{"operation", "error": "No job with this ID.", "success": 0}`
(jobgraph's other routes answer 404; on these routes the real server's answer wins).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from jobgraph.clock import as_utc, utcnow
from jobgraph.db.models import Job
from jobgraph.errors import BadInput, DomainError, NotFound
from jobgraph.resolvers import jobs, loaders, plugins, policy
from jobgraph.resolvers.jobs import MAX_PRIORITY, JobSpec
from jobgraph.resolvers.limits import INT_MAX, parse_int, parse_row_id
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import check_request, parse_json
from jobgraph.rest.openapi import error_response
from jobgraph.unit import Unit
from jobgraph.web.views import answer, answer_public, authenticate_any, runtime, secrets_of

# The one mapping table of this system: jobgraph status -> Minion state.
STATE: dict[str, str] = {
    "queued": "inactive",
    "running": "active",
    "finished": "finished",
    "invalidated": "finished",
    "failed": "failed",
    "cancelled": "failed",
}
CANCELLED = "Job was cancelled"  # a cancelled job's result (and error): Minion has no cancel state
NO_JOB = "No job with this ID."


def no_job() -> BadInput:
    """LANraragi's answer to a job id it does not know (`render_api_response`): 400."""
    return BadInput(NO_JOB)


def minion_time(value: datetime | None) -> str | None:
    """Minion's times: epoch seconds, as a string."""
    when = as_utc(value)
    return None if when is None else str(int(when.timestamp()))


def minion_args(value: Any) -> list[Any]:
    """Minion's `args` is an array: the input as it is, or a non-array input wrapped."""
    return list(value) if isinstance(value, list) else [value]


def minion_error(status: str, error_message: str | None) -> str | None:
    if status == "cancelled":
        return CANCELLED
    return error_message if status == "failed" else None


def minion_result(job: Job) -> Any:
    """What Minion keeps as a job's result: the return value, or why it failed."""
    if job.status in ("failed", "cancelled"):
        return minion_error(job.status, job.error_message)
    return job.result


def job_info(job: Job, task: str, parents: list[int], children: list[int], now: datetime) -> dict[str, Any]:
    """A job as Minion's `$job->info`, with every key of LANraragi's documented example."""
    return {
        "args": minion_args(job.input),
        "attempts": job.attempts,
        "children": children,
        "created": minion_time(job.created_at),
        "delayed": minion_time(job.run_at or job.created_at),
        "expires": minion_time(job.expires),
        "finished": minion_time(job.finished_at),
        "id": job.number,
        "lax": 1 if job.lax else 0,
        "notes": dict(job.notes or {}),
        "parents": parents,
        "priority": job.priority,
        "queue": job.queue,
        "result": minion_result(job),
        "retried": minion_time(job.retried_at),
        "retries": job.retries,
        "started": minion_time(job.started_at),
        "state": STATE[job.status],
        "task": task,
        "time": minion_time(now),
        "worker": job.worker_id,
    }


def load_info(u: Unit, viewer: Viewer, number: int) -> dict[str, Any]:
    job = jobs.get_job_by_number(u, viewer, number)
    if job is None or job.number is None:
        raise no_job()
    plugin = loaders.plugins(u, [job.plugin_id])[0]
    parents = loaders.parents(u, [job.number])[0]
    children = loaders.children(u, [job.number])[0]
    return job_info(
        job,
        plugin.name if plugin else job.plugin_id,
        [p.number for p in parents if p.number is not None and policy.can_see_job(viewer, p)],
        [c.number for c in children if c.number is not None and policy.can_see_job(viewer, c)],
        utcnow(),
    )


def enqueue(u: Unit, viewer: Viewer, task: str, args: list[Any], priority: int) -> Job:
    """Queue a job of the plugin whose pluginId, or else name, is `task`. (Who may not run
    plugins hears so before whether the task exists: the policy is asked first.)"""
    policy.require_run_plugins(viewer)
    plugin = plugins.find_plugin_by_name(u, viewer, task)
    if plugin is None:
        raise NotFound(f"no task {task!r}")
    return jobs.create_job(u, viewer, JobSpec(plugin_id=plugin.plugin_id, input=args, priority=priority))


# ---------------------------------------------------------------- parsing


def parse_number(raw: str) -> int:
    """A Minion id is a job number (a positive integer the number column can hold); anything
    else names no job."""
    number = parse_row_id(raw)
    if number is None:
        raise no_job()
    return number


def parse_args(raw: str | None) -> list[Any]:
    if raw is None or not raw.strip():
        return []
    value = parse_json(raw, "args")
    if not isinstance(value, list):
        raise BadInput("args must be a JSON array")
    return value


def parse_priority(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 0
    return parse_int(raw.strip(), "priority", -MAX_PRIORITY, MAX_PRIORITY)


async def _params(request: Request) -> dict[str, str]:
    """Like Mojolicious' `param`: query parameters, then form fields of the body."""
    params: dict[str, str] = {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form: FormData = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    params.update(request.query_params.items())
    return params


# ---------------------------------------------------------------- views


def _lrr(operation: str, view: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Errors in LANraragi's envelope, with the domain error's status code."""

    async def endpoint(request: Request) -> Response:
        try:
            check_request(request)
            return await view(request)
        except DomainError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
            body = {"operation": operation, "error": exc.message, "success": 0}
            return JSONResponse(body, status_code=exc.http_status, headers=headers)

    return endpoint


def _status(u: Unit, secrets: list[str] | None, number: int) -> tuple[Viewer | None, jobs.PublicStatus | None]:
    viewer = None if secrets is None else authenticate_any(u, secrets)
    return viewer, jobs.public_status(u, number)


async def job_status(request: Request) -> Response:
    """Public, as LANraragi documents it, unless `JOBGRAPH_MINION_STATUS` says otherwise."""
    access = runtime(request).settings.minion_status
    number = parse_number(request.path_params["id"])
    secrets = None
    if access == "token" or (access == "limited" and "authorization" in request.headers):
        secrets = secrets_of(request, allow_base64=True)
    viewer, status = await answer_public(request, _status, secrets, number)
    if status is None or (access == "token" and not _may_see(viewer, status.user_id)):
        raise no_job()
    detailed = access == "public" or _may_see(viewer, status.user_id)
    return JSONResponse(
        {
            "state": STATE[status.status],
            "task": status.plugin_name,
            "error": minion_error(status.status, status.error_message) if detailed else None,
            "notes": status.notes if detailed else {},
        }
    )


def _may_see(viewer: Viewer | None, user_id: int) -> bool:
    return viewer is not None and policy.can_see_owner(viewer, user_id)


def _detail(u: Unit, viewer: Viewer, raw_id: str) -> dict[str, Any]:
    return load_info(u, viewer, parse_number(raw_id))


async def job_detail(request: Request) -> Response:
    return JSONResponse(await answer(request, _detail, request.path_params["id"], allow_base64=True))


def _queue(u: Unit, viewer: Viewer, task: str, params: dict[str, str]) -> Job:
    args = parse_args(params.get("args"))
    priority = parse_priority(params.get("priority"))
    return enqueue(u, viewer, task, args, priority)


async def queue_job(request: Request) -> Response:
    params = await _params(request)
    job = await answer(request, _queue, request.path_params["task"], params, write=True, allow_base64=True)
    return JSONResponse({"operation": "queue_minion_job", "success": 1, "job": job.number})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/minion/{id}", _lrr("minion_job_status", job_status), methods=["GET"]),
        Route("/api/minion/{id}/detail", _lrr("minion_job_detail", job_detail), methods=["GET"]),
        Route("/api/minion/{task}/queue", _lrr("queue_minion_job", queue_job), methods=["POST"]),
    ]


# ---------------------------------------------------------------- OpenAPI

_EPOCH = {"type": ["string", "null"], "pattern": "^-?[0-9]+$", "examples": ["1601145004"]}
_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The job's number. An id that is not a positive integer names no job (400, as LANraragi).",
    "schema": {"type": "integer", "minimum": 1, "maximum": INT_MAX},
}


def _error(description: str) -> dict[str, Any]:
    return error_response(description, "MinionError")


OPENAPI: dict[str, Any] = {
    "paths": {
        "/api/minion/{id}": {
            "get": {
                "operationId": "minionJobStatus",
                "tags": ["Minion"],
                "summary": "Basic status of a job (LANraragi Minion API); no token needed by default",
                "description": "`JOBGRAPH_MINION_STATUS` decides who may ask: `public` (the default, as "
                "LANraragi: anyone), `limited` (anyone sees state and task; error and notes need a token "
                "that may see the job) or `token` (a token is needed, and only jobs it may see are found).",
                "security": [{}, {"bearer": []}],
                "parameters": [_ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The job's state, task, error and notes (the job's notes as they are: "
                        "a running plugin's progress is `notes.progress`, 0..1, and `notes.progressText`).",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MinionJobStatus"}}},
                    },
                    "400": _error(
                        "No job with this id (that the token may see, when one is needed): "
                        '`{"operation": "minion_job_status", "error": "No job with this ID.", "success": 0}`, '
                        "as LANraragi answers; or a path segment or query parameter holding a NUL character."
                    ),
                    "401": _error("With JOBGRAPH_MINION_STATUS=token only: no API token, or not a valid one."),
                },
            }
        },
        "/api/minion/{id}/detail": {
            "get": {
                "operationId": "minionJobDetail",
                "tags": ["Minion"],
                "summary": "Full Minion info of a job",
                "description": "Token as `Bearer <token>` or, as LANraragi sends it, `Bearer <base64 of the token>`.",
                "security": [{"bearer": []}],
                "parameters": [_ID_PARAM],
                "responses": {
                    "200": {
                        "description": "Minion's job info.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MinionJobInfo"}}},
                    },
                    "400": _error(
                        "No job with this id that the caller may see: "
                        '`{"operation": "minion_job_detail", "error": "No job with this ID.", "success": 0}`, '
                        "as LANraragi answers; or a path segment or query parameter holding a NUL character."
                    ),
                    "401": _error("No API token, or not a valid one."),
                },
            }
        },
        "/api/minion/{task}/queue": {
            "post": {
                "operationId": "minionQueueJob",
                "tags": ["Minion"],
                "summary": "Queue a job of a plugin (by pluginId or name); needs executePlugin",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "task",
                        "in": "path",
                        "required": True,
                        "description": "The plugin's pluginId, or its name.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "args",
                        "in": "query",
                        "required": False,
                        "description": "The job's input: a JSON array (default `[]`).",
                        "content": {"application/json": {"schema": {"type": "array"}}},
                    },
                    {
                        "name": "priority",
                        "in": "query",
                        "required": False,
                        "description": "Higher runs first.",
                        "schema": {"type": "integer", "default": 0, "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The job was queued.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MinionQueuedJob"}}},
                    },
                    "400": _error("Bad args or priority, or an input the plugin refuses."),
                    "401": _error("No API token, or not a valid one."),
                    "403": _error("The token's user lacks executePlugin."),
                    "404": _error("No plugin with this pluginId or name."),
                    "409": _error("The plugin is disabled."),
                },
            }
        },
    },
    "components": {
        "schemas": {
            "MinionError": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "operation": {"type": "string"},
                    "success": {"type": "integer", "enum": [0]},
                },
            },
            "MinionJobStatus": {
                "type": "object",
                "required": ["state", "task", "error", "notes"],
                "properties": {
                    "state": {"type": "string", "enum": sorted(set(STATE.values()))},
                    "task": {"type": "string"},
                    "error": {"type": ["string", "null"]},
                    "notes": {"type": "object"},
                },
                "additionalProperties": False,
            },
            "MinionJobInfo": {
                "type": "object",
                "required": [
                    "args",
                    "attempts",
                    "children",
                    "created",
                    "delayed",
                    "expires",
                    "finished",
                    "id",
                    "lax",
                    "notes",
                    "parents",
                    "priority",
                    "queue",
                    "result",
                    "retried",
                    "retries",
                    "started",
                    "state",
                    "task",
                    "time",
                    "worker",
                ],
                "properties": {
                    "args": {"type": "array"},
                    "attempts": {"type": "integer"},
                    "children": {"type": "array", "items": {"type": "integer"}},
                    "created": _EPOCH,
                    "delayed": _EPOCH,
                    "expires": _EPOCH,
                    "finished": _EPOCH,
                    "id": {"type": "integer"},
                    "lax": {"type": "integer", "enum": [0, 1]},
                    "notes": {"type": "object"},
                    "parents": {"type": "array", "items": {"type": "integer"}},
                    "priority": {"type": "integer"},
                    "queue": {"type": "string"},
                    "result": {"description": "The return value; for a failed or cancelled job, why."},
                    "retried": _EPOCH,
                    "retries": {"type": "integer"},
                    "started": _EPOCH,
                    "state": {"type": "string", "enum": sorted(set(STATE.values()))},
                    "task": {"type": "string"},
                    "time": _EPOCH,
                    "worker": {"type": ["integer", "null"]},
                },
                "additionalProperties": False,
            },
            "MinionQueuedJob": {
                "type": "object",
                "required": ["operation", "success", "job"],
                "properties": {
                    "operation": {"type": "string", "enum": ["queue_minion_job"]},
                    "success": {"type": "integer", "enum": [1]},
                    "job": {"type": "integer"},
                },
                "additionalProperties": False,
            },
        },
    },
}
