"""The OpenAPI description of the CIRCUS routes (see jobgraph.rest.circus)."""

from __future__ import annotations

from typing import Any

from jobgraph.rest.circus import (
    DEFAULT_LIMIT,
    DEFAULT_LIMIT_SEARCH,
    FIELDS,
    FILTER_FIELDS,
    MAX_LIMIT,
    MAX_PAGE,
    MAX_SORT_KEYS,
    MY_QUEUE,
    MY_STATES,
    PATH,
    PLUGIN_JOBS,
    STATES,
    STATUS,
)
from jobgraph.rest.openapi import error_response

_DATE = {"type": "string", "format": "date-time", "examples": ["2023-01-10T00:01:00.000Z"]}
_NULLABLE_DATE = {"type": ["string", "null"], "format": "date-time", "examples": ["2023-01-10T00:01:00.000Z"]}


def _error(description: str) -> dict[str, Any]:
    return error_response(description, "CircusError")


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_TAG = ["CIRCUS"]
_JOB_ID = {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}
_UNAUTHENTICATED = _error("No API token, or not a valid one.")
_NO_JOB = _error("No job with this jobId that the caller may see.")
_BAD = _error("A path segment or a query parameter holds a NUL character.")


def _paging(default_limit: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default_limit},
        },
        {
            "name": "page",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        },
    ]


def _search_result(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "totalItems", "page"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "totalItems": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    }


def _operation(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": _TAG,
        "summary": summary,
        "security": _BEARER,
        "responses": {**responses, "401": _UNAUTHENTICATED},
        **extra,
    }


_FEEDBACK_BODY = {
    "required": False,
    "content": {"application/json": {"schema": _ref("CircusFeedbackInput")}},
}

_PLUGIN_JOB_PATHS: dict[str, Any] = {
    PLUGIN_JOBS: {
        "get": _operation(
            "circusSearchPluginJobs",
            "Search plug-in jobs (the caller's own; every job with manageJobs)",
            {
                "200": _json(
                    "A page of jobs (without their results), newest first by default.", _ref("CircusSearchResult")
                ),
                "400": _error("A bad filter, sort, limit or page."),
            },
            description=(
                "`filter` is a JSON object of `field: value` or `field: {$gt, $gte, $lt, $lte, $in}` conditions "
                f'(and `$ne` on status), combined with `$and`, on {FILTER_FIELDS}; dates as `{{"$date": '
                '"<ISO 8601>"}}`. `$or` and CIRCUS\'s patient fields are refused (400). `sort` is a JSON object '
                f"`{{field: 1 | -1}}` of at most {MAX_SORT_KEYS} keys among {sorted(FIELDS)}."
            ),
            parameters=[
                {
                    "name": "filter",
                    "in": "query",
                    "required": False,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                {
                    "name": "sort",
                    "in": "query",
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "maxProperties": MAX_SORT_KEYS,
                                "propertyNames": {"enum": sorted(FIELDS)},
                                "additionalProperties": {"enum": [1, -1]},
                            }
                        }
                    },
                },
                *_paging(DEFAULT_LIMIT_SEARCH),
            ],
        ),
        "post": _operation(
            "circusCreatePluginJob",
            "Create a plug-in job (executePlugin); the same plugin on the same series again is refused unless force",
            {
                "201": _json("The new job's id.", _ref("CircusNewJob")),
                "400": _error(
                    "A malformed body, unregistered series, an input the plugin refuses, a disabled plugin, "
                    "or (as CIRCUS) a duplicate job: the same plugin already has a queued, running or finished "
                    "job on the same series, and `force` is not true."
                ),
                "403": _error("The caller lacks executePlugin (CIRCUS answers 401)."),
                "404": _error("No plugin with this pluginId."),
            },
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("CircusJobRequest")}}},
        ),
    },
    PLUGIN_JOBS + "/{jobId}": {
        "get": _operation(
            "circusGetPluginJob",
            "A plug-in job",
            {"200": _json("The job.", _ref("CircusJob")), "400": _BAD, "404": _NO_JOB},
            parameters=[_JOB_ID],
        ),
        "patch": _operation(
            "circusChangePluginJob",
            "Cancel (`cancelled`) or invalidate (`invalidated`, manageJobs) a plug-in job",
            {
                "204": {"description": "Done (a running job is cancelled once its plugin has stopped)."},
                "400": _error("A body other than {status: cancelled | invalidated}."),
                "403": _error("Not the job's owner nor a user with manageJobs; invalidating needs manageJobs."),
                "404": _NO_JOB,
                "422": _error("The job's status refuses it (a job that ended cannot be cancelled, ...)."),
            },
            parameters=[_JOB_ID],
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("CircusJobChange")}}},
        ),
    },
    PLUGIN_JOBS + "/{jobId}/feedback": {
        "get": _operation(
            "circusListFeedback",
            "The job's feedback entries",
            {
                "200": _json("Feedback, oldest first.", {"type": "array", "items": _ref("CircusFeedback")}),
                "400": _BAD,
                "404": _NO_JOB,
            },
            parameters=[_JOB_ID],
        )
    },
    PLUGIN_JOBS + "/{jobId}/feedback/personal": {
        "post": _operation(
            "circusAddPersonalFeedback",
            "Give personal feedback (inputPersonalFeedback) on a finished job",
            {
                "200": _json("The new feedback's id.", _ref("CircusNewFeedback")),
                "400": _error(
                    "A malformed body, data the plugin's feedbackSchema refuses, a job that is not finished, "
                    "or (as CIRCUS) feedback of this user or consensual feedback already there."
                ),
                "403": _error("The caller lacks inputPersonalFeedback."),
                "404": _NO_JOB,
            },
            parameters=[_JOB_ID],
            requestBody=_FEEDBACK_BODY,
        )
    },
    PLUGIN_JOBS + "/{jobId}/feedback/consensual": {
        "post": _operation(
            "circusAddConsensualFeedback",
            "Give consensual feedback (inputConsensualFeedback) on a finished job",
            {
                "200": _json("The new feedback's id.", _ref("CircusNewFeedback")),
                "400": _error(
                    "A malformed body, data the plugin's feedbackSchema refuses, a job that is not finished, "
                    "or (as CIRCUS) consensual feedback already there."
                ),
                "403": _error("The caller lacks inputConsensualFeedback."),
                "404": _NO_JOB,
            },
            parameters=[_JOB_ID],
            requestBody=_FEEDBACK_BODY,
        )
    },
    PLUGIN_JOBS + "/{jobId}/feedback/{feedbackId}": {
        "delete": _operation(
            "circusDeleteFeedback",
            "Delete one feedback entry of the job, or every one (`all`); needs manageFeedback",
            {
                "204": {"description": "Deleted."},
                "400": _error("A personal feedback while the job has consensual feedback (as CIRCUS)."),
                "403": _error("The caller lacks manageFeedback (CIRCUS answers 401)."),
                "404": _error("No job with this jobId that the caller may see, or no such feedback on it."),
            },
            parameters=[
                _JOB_ID,
                {"name": "feedbackId", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
        )
    },
    PLUGIN_JOBS + "/{jobId}/attachment": {
        "get": _operation(
            "circusListAttachments",
            "The job's output files, by their paths in its output folder",
            {
                "200": _json("Paths.", {"type": "array", "items": {"type": "string"}}),
                "400": _BAD,
                "404": _NO_JOB,
            },
            parameters=[_JOB_ID],
        )
    },
    PLUGIN_JOBS + "/{jobId}/attachment/{path}": {
        "get": _operation(
            "circusGetAttachment",
            "One output file of the job",
            {
                "200": {
                    "description": "The file, with its content type.",
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "400": _error("A path that climbs out of the job's folder."),
                "404": _error("No such job (that the caller may see), or no such file."),
            },
            parameters=[
                _JOB_ID,
                {
                    "name": "path",
                    "in": "path",
                    "required": True,
                    "description": "The file's path, as the attachment list gives it (may hold '/').",
                    "schema": {"type": "string"},
                },
            ],
        )
    },
    MY_QUEUE: {
        "get": _operation(
            "circusMyPluginJobQueue",
            "The caller's queued and running jobs (every user's with manageJobs), in dispatch order",
            {
                "200": _json("A page of the queue.", _ref("CircusQueueResult")),
                "400": _error("A bad state, limit or page."),
            },
            parameters=[
                {
                    "name": "state",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(MY_STATES), "default": "all"},
                },
                *_paging(DEFAULT_LIMIT),
            ],
        )
    },
}

_CIRCUS_JOB: dict[str, Any] = {
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
}


def _without(schema: dict[str, Any], field: str, description: str) -> dict[str, Any]:
    """`schema` (an object) less one of its fields."""
    return {
        **schema,
        "description": description,
        "required": [name for name in schema["required"] if name != field],
        "properties": {name: value for name, value in schema["properties"].items() if name != field},
    }


_PVD = {"$ref": "#/components/schemas/CircusPartialVolumeDescriptor"}
_PLUGIN_JOB_SCHEMAS: dict[str, Any] = {
    "CircusSearchJob": _without(
        _CIRCUS_JOB, "results", "A job as CIRCUS's search lists it: a CircusJob without results."
    ),
    "CircusSearchResult": _search_result("CircusSearchJob"),
    "CircusQueueResult": _search_result("CircusJob"),
    "CircusNewJob": {
        "type": "object",
        "required": ["jobId"],
        "properties": {"jobId": {"type": "string"}},
        "additionalProperties": False,
    },
    "CircusNewFeedback": {
        "type": "object",
        "required": ["feedbackId"],
        "properties": {"feedbackId": {"type": "string"}},
        "additionalProperties": False,
    },
    "CircusJobRequest": {
        "type": "object",
        "required": ["pluginId", "series"],
        "properties": {
            "pluginId": {"type": "string"},
            "series": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["seriesUid", "partialVolumeDescriptor"],
                    "properties": {
                        "seriesUid": {"type": "string"},
                        "partialVolumeDescriptor": {
                            "description": '{start, end, delta}, or "auto" (or null): the whole series.',
                            "oneOf": [_PVD, {"const": "auto"}, {"type": "null"}],
                        },
                        "requiredPrivateTags": {"type": "string", "description": "Accepted and ignored."},
                    },
                    "additionalProperties": False,
                },
            },
            "priority": {"type": "integer"},
            "force": {"type": "boolean", "description": "true: create it even if it duplicates a job."},
        },
        "additionalProperties": False,
    },
    "CircusJobChange": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"enum": ["cancelled", "invalidated"]}},
        "additionalProperties": False,
    },
    "CircusFeedbackInput": {
        "type": "object",
        "properties": {
            "data": {"description": "Any JSON value the plugin's feedbackSchema accepts."},
            "actionLog": {"type": "array"},
        },
        "additionalProperties": False,
    },
}


OPENAPI: dict[str, Any] = {
    "paths": {
        **_PLUGIN_JOB_PATHS,
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
        },
    },
    "components": {
        "schemas": {
            **_PLUGIN_JOB_SCHEMAS,
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
            "CircusJob": _CIRCUS_JOB,
        },
    },
}
