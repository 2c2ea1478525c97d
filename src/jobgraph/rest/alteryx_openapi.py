"""The OpenAPI description of the Alteryx Server v3 routes (see jobgraph.rest.alteryx)."""

from __future__ import annotations

from typing import Any

from jobgraph.rest.alteryx import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    MAX_OFFSET,
    PRIORITY,
    SORT_FIELDS,
    STATUS,
    STATUS_NAMES,
)
from jobgraph.rest.openapi import error_response

_DATE = {"type": "string", "format": "date-time", "examples": ["2024-09-19T10:02:54.589Z"]}
# What every job shape says of its state and how it runs.
_STATUS_AND_RUN: dict[str, Any] = {
    "status": {"type": "string", "enum": sorted(set(STATUS.values()))},
    "priority": {"type": "string", "enum": list(PRIORITY)},
    "workerTag": {"type": "string"},
    "runWithE2": {"type": "boolean"},
}
_JOB_ID = {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}
_WORKFLOW_ID = {
    "name": "workflowId",
    "in": "path",
    "required": True,
    "description": "The plugin's pluginId.",
    "schema": {"type": "string"},
}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _error(description: str) -> dict[str, Any]:
    return error_response(description, "AlteryxError")


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_JOB_REF = {"$ref": "#/components/schemas/AlteryxJob"}
_UNAUTHENTICATED = _error("No API or access token, or not a valid one.")
_NO_JOB = _error("No job with this id that the caller may see.")
_BAD_REQUEST = _error("A path segment or a query parameter holds a NUL character.")

_OFFSET = {
    "name": "offset",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_LIST_LIMIT, "default": DEFAULT_LIST_LIMIT},
}
_DIRECTION = {
    "name": "direction",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
}

OPENAPI: dict[str, Any] = {
    "paths": {
        "/webapi/v3/jobs": {
            "get": {
                "operationId": "alteryxListJobs",
                "tags": ["Alteryx"],
                "summary": "Jobs of every workflow (curators only: manageJobs), as Alteryx's GET /v3/jobs",
                "description": (
                    "As Alteryx documents it: only curators (users with manageJobs) may list, and they see "
                    "their own jobs unless `allUsers=true`. `workflowId` narrows to one or more workflows "
                    "(comma-separated pluginIds; an unknown one matches nothing)."
                ),
                "security": _BEARER,
                "parameters": [
                    {
                        "name": "workflowId",
                        "in": "query",
                        "required": False,
                        "description": "PluginIds, comma-separated.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "Any case. Complete = Completed; Error = failed jobs; "
                        "Initializing matches none.",
                        "schema": {"type": "string", "enum": STATUS_NAMES},
                    },
                    {
                        "name": "statuses",
                        "in": "query",
                        "required": False,
                        "description": "Several of the `status` names, comma-separated (any case).",
                        "schema": {
                            "type": "string",
                            "pattern": "^(" + "|".join(STATUS_NAMES) + ")(,(" + "|".join(STATUS_NAMES) + "))*$",
                        },
                    },
                    {
                        "name": "sortField",
                        "in": "query",
                        "required": False,
                        "description": "Any case.",
                        "schema": {"type": "string", "enum": list(SORT_FIELDS), "default": "CreateDate"},
                    },
                    _DIRECTION,
                    _OFFSET,
                    _LIMIT,
                    {
                        "name": "allUsers",
                        "in": "query",
                        "required": False,
                        "description": "true: every user's jobs; else the caller's own.",
                        "schema": {"type": "string", "enum": ["true", "false", ""], "default": "false"},
                    },
                    {
                        "name": "users",
                        "in": "query",
                        "required": False,
                        "description": "Emails, comma-separated: with allUsers=true, only these users' jobs.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(
                        "Jobs, newest first unless sortField or direction say otherwise.",
                        {"type": "array", "items": {"$ref": "#/components/schemas/AlteryxJobListItem"}},
                    ),
                    "400": _error("A bad status, statuses, sortField, direction, offset, limit or allUsers."),
                    "401": _UNAUTHENTICATED,
                    "403": _error("The caller is no curator (lacks manageJobs)."),
                },
            }
        },
        "/webapi/oauth2/token": {
            "post": {
                "operationId": "alteryxOAuth2Token",
                "tags": ["Alteryx"],
                "summary": "An access token for client credentials (the API token split at its first '.')",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["grant_type"],
                                "properties": {
                                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                    "client_id": {"type": "string"},
                                    "client_secret": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("A bearer access token.", {"$ref": "#/components/schemas/AlteryxAccessToken"}),
                    "400": _json(
                        "A missing or unsupported grant_type.", {"$ref": "#/components/schemas/AlteryxOAuthError"}
                    ),
                    "401": _json(
                        "Bad client credentials: not a valid API token (an access token does not buy another).",
                        {"$ref": "#/components/schemas/AlteryxOAuthError"},
                    ),
                },
            }
        },
        "/webapi/v3/jobs/{jobId}": {
            "get": {
                "operationId": "alteryxGetJob",
                "tags": ["Alteryx"],
                "summary": "A job and its current state",
                "security": _BEARER,
                "parameters": [
                    _JOB_ID,
                    {
                        "name": "includeMessages",
                        "in": "query",
                        "required": False,
                        "description": "false: no `messages` key. Empty or absent: true.",
                        "schema": {"type": "string", "enum": ["true", "false", ""], "default": "true"},
                    },
                ],
                "responses": {
                    "200": _json("The job.", _JOB_REF),
                    "400": _error("includeMessages is neither true nor false."),
                    "401": _UNAUTHENTICATED,
                    "404": _NO_JOB,
                },
            },
            "delete": {
                "operationId": "alteryxCancelJob",
                "tags": ["Alteryx"],
                "summary": "Cancel a job (a running one stops once its plugin has stopped)",
                "security": _BEARER,
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json("The job after the cancel was asked for.", _JOB_REF),
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHENTICATED,
                    "403": _error("Neither the job's owner nor a user with manageJobs."),
                    "404": _NO_JOB,
                    "409": _error("The job has ended already."),
                },
            },
        },
        "/webapi/v3/jobs/{jobId}/messages": {
            "get": {
                "operationId": "alteryxGetJobMessages",
                "tags": ["Alteryx"],
                "summary": "A job's messages (curators: manageJobs)",
                "security": _BEARER,
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json(
                        "The job's messages, oldest first.",
                        {"type": "array", "items": {"$ref": "#/components/schemas/AlteryxMessage"}},
                    ),
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHENTICATED,
                    "403": _error("The caller lacks manageJobs."),
                    "404": _NO_JOB,
                },
            }
        },
        "/webapi/v3/jobs/{jobId}/output/{outputId}": {
            "get": {
                "operationId": "alteryxGetJobOutput",
                "tags": ["Alteryx"],
                "summary": "Download an output file of a job",
                "security": _BEARER,
                "parameters": [
                    _JOB_ID,
                    {"name": "outputId", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "description": "One of the output's availableFormats (the file is served as it is).",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The file, with its content type and a Content-Disposition filename.",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "400": _error("A format the output does not have."),
                    "401": _UNAUTHENTICATED,
                    "404": _error("No such job, output, or file."),
                },
            }
        },
        "/webapi/v3/workflows/{workflowId}/jobs": {
            "get": {
                "operationId": "alteryxListWorkflowJobs",
                "tags": ["Alteryx"],
                "summary": "The caller's jobs of a workflow (every job for manageJobs)",
                "security": _BEARER,
                "parameters": [
                    _WORKFLOW_ID,
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "Any case. Complete = Completed; Error = failed jobs.",
                        "schema": {
                            "type": "string",
                            "enum": ["Queued", "Running", "Completed", "Complete", "Cancelled", "Error"],
                        },
                    },
                    {
                        "name": "sortField",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["createDate"], "default": "createDate"},
                    },
                    {
                        "name": "direction",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_LIST_LIMIT,
                            "default": DEFAULT_LIST_LIMIT,
                        },
                    },
                ],
                "responses": {
                    "200": _json(
                        "Jobs, newest first unless direction=asc.",
                        {"type": "array", "items": {"$ref": "#/components/schemas/AlteryxJobSummary"}},
                    ),
                    "400": _error("A bad status, sortField, direction, offset or limit."),
                    "401": _UNAUTHENTICATED,
                    "404": _error("No workflow (plugin) with this id."),
                },
            },
            "post": {
                "operationId": "alteryxCreateJob",
                "tags": ["Alteryx"],
                "summary": "Queue a job of a workflow (executePlugin); input = the questions as an object",
                "security": _BEARER,
                "parameters": [_WORKFLOW_ID],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlteryxCreateJob"}}},
                },
                "responses": {
                    "200": _json("The queued job.", _JOB_REF),
                    "400": _error("A malformed body, or an input the plugin refuses."),
                    "401": _UNAUTHENTICATED,
                    "403": _error("The caller lacks executePlugin."),
                    "404": _error("No workflow (plugin) with this id."),
                    "409": _error("The plugin is disabled."),
                },
            },
        },
    },
    "components": {
        "schemas": {
            "AlteryxError": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string"},
                    "message": {"type": "string", "description": "The same text, where Alteryx's clients read it."},
                },
            },
            "AlteryxOAuthError": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "string",
                        "enum": ["invalid_request", "unsupported_grant_type", "invalid_client"],
                    },
                    "error_description": {"type": "string"},
                },
            },
            "AlteryxAccessToken": {
                "type": "object",
                "required": ["access_token", "token_type", "expires_in"],
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"type": "string", "enum": ["bearer"]},
                    "expires_in": {"type": "integer"},
                },
                "additionalProperties": False,
            },
            "AlteryxMessage": {
                "type": "object",
                "required": ["status", "text", "toolId"],
                "properties": {
                    "status": {"type": "integer", "description": "1 info, 2 warning, 3 error."},
                    "text": {"type": "string"},
                    "toolId": {"type": "integer"},
                },
                "additionalProperties": False,
            },
            "AlteryxOutput": {
                "type": "object",
                "required": ["id", "availableFormats", "fileName"],
                "properties": {
                    "id": {"type": "string"},
                    "availableFormats": {"type": "array", "items": {"type": "string"}},
                    "fileName": {"type": "string"},
                },
                "additionalProperties": False,
            },
            "AlteryxJob": {
                "type": "object",
                "required": [
                    "id",
                    "appId",
                    "createDateTime",
                    "status",
                    "disposition",
                    "outputs",
                    "priority",
                    "workerTag",
                    "runWithE2",
                ],
                "properties": {
                    "id": {"type": "string"},
                    "appId": {"type": "string"},
                    "createDateTime": _DATE,
                    "disposition": {
                        "type": ["string", "null"],
                        "enum": ["Success", "Warning", "Error", "Cancelled", None],
                    },
                    "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/AlteryxOutput"}},
                    "messages": {"type": "array", "items": {"$ref": "#/components/schemas/AlteryxMessage"}},
                    **_STATUS_AND_RUN,
                },
                "additionalProperties": False,
            },
            "AlteryxJobSummary": {
                "type": "object",
                "required": ["id", "createDate", "status", "priority", "workerTag", "runWithE2"],
                "properties": {
                    "id": {"type": "string"},
                    "createDate": _DATE,
                    **_STATUS_AND_RUN,
                },
                "additionalProperties": False,
            },
            "AlteryxJobListItem": {
                "type": "object",
                "required": [
                    "id",
                    "appId",
                    "createDate",
                    "completionDateTime",
                    "status",
                    "priority",
                    "workerTag",
                    "runWithE2",
                ],
                "properties": {
                    "id": {"type": "string"},
                    "appId": {"type": "string"},
                    "createDate": _DATE,
                    "completionDateTime": {"type": ["string", "null"], "format": "date-time"},
                    **_STATUS_AND_RUN,
                },
                "additionalProperties": False,
            },
            "AlteryxCreateJob": {
                "type": "object",
                "properties": {
                    "workerTag": {"type": ["string", "null"], "description": "The queue; empty: the plugin's."},
                    "credentialId": {"type": ["string", "null"], "description": "Accepted and ignored."},
                    "questions": {
                        "description": "An array of {name, value} (as documented) or, as Alteryx's client "
                        "also sends them, an object of name -> value.",
                        "oneOf": [
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string", "minLength": 1}, "value": {}},
                                },
                            },
                            {"type": "object", "propertyNames": {"minLength": 1}},
                            {"type": "null"},
                        ],
                    },
                    "priority": {
                        "description": "A name (Low -10, Default 0, Medium 10, High 20, Critical 30) or an integer.",
                        "oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}],
                    },
                },
            },
        },
    },
}
