"""CIRCUS: `GET /api/admin/plugin-job-queue`, the administrator's view of the plugin job queue.

CIRCUS's field names, status names and date format live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from jobgraph.clock import as_utc
from jobgraph.db.models import Feedback, Job, JobSeries, User
from jobgraph.resolvers import job_list, loaders, policy
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import check_request, enum_param, int_param
from jobgraph.rest.openapi import error_response
from jobgraph.unit import Unit
from jobgraph.web.views import answer

PATH = "/api/admin/plugin-job-queue"

# The one mapping table of this system: jobgraph status -> CIRCUS status.
STATUS: dict[str, str] = {
    "queued": "in_queue",
    "running": "processing",
    "finished": "finished",
    "failed": "failed",
    "cancelled": "cancelled",
    "invalidated": "invalidated",
}

# `state` query value -> (statuses, ordering). The queue states list in dispatch order
# (priority high first, then oldest); `all` lists newest first.
STATES: dict[str, tuple[list[str] | None, str]] = {
    "wait": (["queued"], "DISPATCH"),
    "processing": (["running"], "DISPATCH"),
    "all": (None, "NEWEST"),
}
DEFAULT_LIMIT = 20
MAX_LIMIT = 200
MAX_PAGE = 1_000_000_000


def circus_date(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`: `2023-01-10T00:01:00.000Z`."""
    when = as_utc(value)
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _email(users: dict[int, User | None], user_id: int) -> str | None:
    user = users.get(user_id)
    return user.email if user else None


def _series(row: JobSeries) -> dict[str, Any]:
    volume = None if row.start is None else {"start": row.start, "end": row.end, "delta": row.delta}
    return {"seriesUid": row.series_uid, "partialVolumeDescriptor": volume}


def _feedback(row: Feedback, users: dict[int, User | None]) -> dict[str, Any]:
    return {
        "feedbackId": row.id,
        "userEmail": _email(users, row.user_id),
        "isConsensual": bool(row.is_consensual),
        "data": row.data,
        "actionLog": list(row.action_log or []),
        "createdAt": circus_date(row.created_at),
    }


def job_record(
    job: Job, users: dict[int, User | None], series: list[JobSeries], feedback: list[Feedback]
) -> dict[str, Any]:
    """One job as CIRCUS's admin queue shows it, with exactly the documented keys."""
    return {
        "jobId": job.job_id,
        "pluginId": job.plugin_id,
        "userEmail": _email(users, job.user_id),
        "status": STATUS[job.status],
        "series": [_series(s) for s in series],
        "errorMessage": job.error_message,
        "startedAt": circus_date(job.started_at),
        "finishedAt": circus_date(job.finished_at),
        "feedbacks": [_feedback(f, users) for f in feedback],
        "results": job.result,
        "createdAt": circus_date(job.created_at),
        "updatedAt": circus_date(job.updated_at),
    }


@dataclass
class QueuePage:
    records: list[dict[str, Any]]
    total: int


def load_page(
    u: Unit,
    viewer: Viewer,
    state: str = "all",
    limit: int = DEFAULT_LIMIT,
    page: int = 1,
    *,
    request: Request | None = None,
) -> QueuePage:
    """One page of the queue: a fixed number of statements whatever the page size (the jobs,
    their count, their feedback, the users of both, their series). Given the `request`, its
    parameters are read after the privilege is checked: a guest learns nothing of them."""
    policy.require_manage_server(viewer)
    if request is not None:
        state = enum_param(request, "state", "all", STATES)
        limit = int_param(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        page = int_param(request, "page", 1, low=1, high=MAX_PAGE)
    statuses, order = STATES[state]
    found = job_list.list_jobs(
        u, viewer, job_list.JobFilter(statuses=statuses), order=order, first=limit, offset=(page - 1) * limit
    )
    if not found.jobs:
        return QueuePage([], found.total)
    numbers = [j.number for j in found.jobs if j.number is not None]
    feedback = loaders.feedback(u, numbers)
    user_ids = sorted({j.user_id for j in found.jobs} | {f.user_id for items in feedback for f in items})
    users = dict(zip(user_ids, loaders.users(u, user_ids), strict=True))
    series = loaders.job_series(u, numbers)
    records = [job_record(j, users, s, f) for j, s, f in zip(found.jobs, series, feedback, strict=True)]
    return QueuePage(records, found.total)


async def plugin_job_queue(request: Request) -> JSONResponse:
    check_request(request)
    result = await answer(request, load_page, request=request)
    return JSONResponse(result.records, headers={"X-Total-Count": str(result.total)})


def routes() -> list[BaseRoute]:
    return [Route(PATH, plugin_job_queue, methods=["GET"])]


# ---------------------------------------------------------------- OpenAPI

_DATE = {"type": "string", "format": "date-time", "examples": ["2023-01-10T00:01:00.000Z"]}
_NULLABLE_DATE = {"type": ["string", "null"], "format": "date-time", "examples": ["2023-01-10T00:01:00.000Z"]}


def _error(description: str) -> dict[str, Any]:
    return error_response(description, "CircusError")


OPENAPI: dict[str, Any] = {
    "paths": {
        PATH: {
            "get": {
                "operationId": "circusListPluginJobQueue",
                "tags": ["CIRCUS"],
                "summary": "List the plugin job queue (CIRCUS admin API)",
                "description": (
                    "Needs the manageServer privilege. `state=wait` lists queued jobs in dispatch order "
                    "(priority high first, then oldest), `processing` running jobs in the same order, "
                    "`all` (the default) every job, newest first. The total goes in `X-Total-Count`."
                ),
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(STATES), "default": "all"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                    },
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of jobs.",
                        "headers": {
                            "X-Total-Count": {
                                "description": (
                                    "How many jobs match, on all pages: exact up to the server's exact count limit "
                                    "(10000 by default), above it PostgreSQL's estimate (exact on the last page)."
                                ),
                                "schema": {"type": "integer", "minimum": 0},
                            }
                        },
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/CircusJob"}}
                            }
                        },
                    },
                    "400": _error("A bad `state`, `limit` or `page`."),
                    "401": _error("No API token, or not a valid one."),
                    "403": _error("The token's user lacks manageServer."),
                },
            }
        }
    },
    "components": {
        "schemas": {
            "CircusError": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "CircusPartialVolumeDescriptor": {
                "type": "object",
                "required": ["start", "end", "delta"],
                "properties": {
                    "start": {"type": "integer", "minimum": 1},
                    "end": {"type": "integer", "minimum": 1},
                    "delta": {"type": "integer", "minimum": 1},
                },
                "additionalProperties": False,
            },
            "CircusJobSeries": {
                "type": "object",
                "required": ["seriesUid", "partialVolumeDescriptor"],
                "properties": {
                    "seriesUid": {"type": "string"},
                    "partialVolumeDescriptor": {
                        "oneOf": [{"$ref": "#/components/schemas/CircusPartialVolumeDescriptor"}, {"type": "null"}]
                    },
                },
                "additionalProperties": False,
            },
            "CircusFeedback": {
                "type": "object",
                "required": ["feedbackId", "userEmail", "isConsensual", "data", "actionLog", "createdAt"],
                "properties": {
                    "feedbackId": {"type": "string"},
                    "userEmail": {"type": ["string", "null"]},
                    "isConsensual": {"type": "boolean"},
                    "data": {},
                    "actionLog": {"type": "array"},
                    "createdAt": _DATE,
                },
                "additionalProperties": False,
            },
            "CircusJob": {
                "type": "object",
                "required": [
                    "jobId",
                    "pluginId",
                    "userEmail",
                    "status",
                    "series",
                    "errorMessage",
                    "startedAt",
                    "finishedAt",
                    "feedbacks",
                    "results",
                    "createdAt",
                    "updatedAt",
                ],
                "properties": {
                    "jobId": {"type": "string"},
                    "pluginId": {"type": "string"},
                    "userEmail": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": sorted(set(STATUS.values()))},
                    "series": {"type": "array", "items": {"$ref": "#/components/schemas/CircusJobSeries"}},
                    "errorMessage": {"type": ["string", "null"]},
                    "startedAt": _NULLABLE_DATE,
                    "finishedAt": _NULLABLE_DATE,
                    "feedbacks": {"type": "array", "items": {"$ref": "#/components/schemas/CircusFeedback"}},
                    "results": {"description": "The job's result (any JSON value), null until it has one."},
                    "createdAt": _DATE,
                    "updatedAt": _DATE,
                },
                "additionalProperties": False,
            },
        },
    },
}
