"""The OpenAPI description of the PluginResultJob routes (merged into /openapi.json)."""

from __future__ import annotations

from typing import Any

from jobgraph.rest.tastypie_model import API_ROOT, FIELDS, ION_STATES, RESOURCE_NAME, RESOURCE_PATH, Field
from jobgraph.rest.tastypie_query import MAX_INT, MAX_OFFSET

TAG = "Ion Torrent PluginResultJob"
SECURITY = [{"tastypieApiKey": []}, {"tastypieUsername": [], "tastypieQueryKey": []}, {"tastypieBearer": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Bad input: a bad filter, order, limit, offset, format, body or state change.",
        401: "No credentials, or not valid ones.",
        403: "The user lacks the executePlugin privilege.",
        404: "No such job (or one the caller may not see), or an id of the wrong shape.",
        413: "The body is too large.",
        415: "The body is not JSON.",
    }
    return {str(code): _json(texts[code], "TastypieError") for code in codes}


def _query(name: str, schema: dict[str, Any], description: str = "", **extra: Any) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema, **extra}
    if description:
        param["description"] = description
    return param


FORMAT = _query("format", {"type": "string", "enum": ["json"]}, "Only `json` is served; any other format is a 400.")
RETURN_DATA = _query(
    "always_return_data", {"type": "boolean"}, "Answer with the job (as tastypie's Meta.always_return_data)."
)
_INT: dict[str, Any] = {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}


def _filter_schema(f: Field, lookup: str) -> dict[str, Any]:
    if lookup == "isnull":
        return {"type": "boolean"}
    if lookup == "in":
        if f.name == "state":
            return {"type": "array", "items": {"type": "string", "enum": list(ION_STATES)}}
        return {"type": "array", "items": _INT if f.type == "integer" else {"type": "string"}}
    if f.name == "state":
        return {"type": "string", "enum": list(ION_STATES)}
    types: dict[str, dict[str, Any]] = {"integer": _INT, "datetime": _TIME}
    return types.get(f.type, {"type": "string"})


def _filters() -> list[dict[str, Any]]:
    params = []
    for f in FIELDS.values():
        for lookup in f.filters:
            name = f.name if lookup == "exact" else f"{f.name}__{lookup}"
            extra = {"style": "form", "explode": False} if lookup == "in" else {}
            params.append(_query(name, _filter_schema(f, lookup), **extra))
    return params


_ORDER_NAMES = [name for f in FIELDS.values() if f.orderable for name in (f.name, f"-{f.name}")]
LIST_PARAMETERS = [
    FORMAT,
    _query(
        "limit",
        {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "Page size: default 20; 0 or more than 1000 means 1000.",
    ),
    _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
    _query(
        "order_by",
        {"type": "array", "items": {"type": "string", "enum": _ORDER_NAMES}},
        "A field, or `-field` for descending; may repeat. Default: newest first.",
        style="form",
        explode=True,
    ),
    *_filters(),
]
ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "description": "The job's number.",
}
IDS_PARAMETER = {
    "name": "ids",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}(;[1-9][0-9]{0,17}){0,20}$"},
    "description": "Job numbers separated by `;`.",
}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _operation(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": [TAG],
        "summary": summary,
        "security": SECURITY,
        "responses": responses,
        **extra,
    }


_NO_BODY = "No body, unless `always_return_data=true`: then the job as a PluginResultJob."
_PATHS: dict[str, Any] = {
    API_ROOT: {
        "get": {
            **_operation(
                "tastypieTopLevel",
                "The API root: each resource with its list and schema URLs (tastypie's Api.top_level)",
                {"200": _json("The resources.", "TastypieTopLevel"), **_errors(400)},
                parameters=[FORMAT],
            ),
            "security": [],
        }
    },
    RESOURCE_PATH: {
        "get": _operation(
            "tastypieListPluginResultJobs",
            "List jobs, newest first, with tastypie's filters, order_by, limit and offset",
            {"200": _json("A page of jobs.", "PluginResultJobList"), **_errors(400, 401)},
            parameters=LIST_PARAMETERS,
        ),
        "post": _operation(
            "tastypieCreatePluginResultJob",
            "Create a job from {plugin, config, run_level}",
            {
                "201": {
                    "description": f"Created; `Location` is the new job's URL. {_NO_BODY}",
                    "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
                },
                **_errors(400, 401, 403, 413, 415),
            },
            parameters=[FORMAT, RETURN_DATA],
            requestBody=_body("PluginResultJobCreate"),
        ),
    },
    f"{RESOURCE_PATH}schema/": {
        "get": _operation(
            "tastypieGetPluginResultJobSchema",
            "tastypie's schema of the resource",
            {"200": _json("The schema.", "TastypieSchema"), **_errors(400, 401)},
            parameters=[FORMAT],
        )
    },
    RESOURCE_PATH + "set/{ids}/": {
        "get": _operation(
            "tastypieGetPluginResultJobSet",
            "Several jobs by number",
            {"200": _json("The jobs found, in the order asked.", "PluginResultJobSet"), **_errors(400, 401, 404)},
            parameters=[IDS_PARAMETER, FORMAT],
        )
    },
    RESOURCE_PATH + "{id}/": {
        "get": _operation(
            "tastypieGetPluginResultJob",
            "One job",
            {"200": _json("The job.", "PluginResultJob"), **_errors(400, 401, 404)},
            parameters=[ID_PARAMETER, FORMAT],
        ),
        "put": _operation(
            "tastypiePutPluginResultJob",
            "Replace the writable fields (config, run_level while queued; state to Cancelled)",
            {
                "204": {"description": "Changed."},
                "200": _json("Changed (with always_return_data=true).", "PluginResultJob"),
                **_errors(400, 401, 404, 413, 415),
            },
            parameters=[ID_PARAMETER, FORMAT, RETURN_DATA],
            requestBody=_body("PluginResultJobUpdate"),
        ),
        "patch": _operation(
            "tastypiePatchPluginResultJob",
            "Change some fields (config, run_level while queued; state to Cancelled)",
            {"202": {"description": f"Changed. {_NO_BODY}"}, **_errors(400, 401, 404, 413, 415)},
            parameters=[ID_PARAMETER, FORMAT, RETURN_DATA],
            requestBody=_body("PluginResultJobUpdate"),
        ),
        "delete": _operation(
            "tastypieDeletePluginResultJob",
            "Delete a job that has ended (a queued or running one: 400)",
            {"204": {"description": "Deleted."}, **_errors(400, 401, 404)},
            parameters=[ID_PARAMETER, FORMAT],
        ),
    },
}

_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time", "examples": ["2017-08-09T20:26:03.000549+00:00"]}
_PAGE_URI = {"type": ["string", "null"], "examples": [f"{RESOURCE_PATH}?offset=1&limit=1&format=json"]}
_SCHEMAS: dict[str, Any] = {
    "TastypieError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "PluginResultJob": {
        "type": "object",
        "required": list(FIELDS),
        "properties": {
            "grid_engine_jobid": {"type": "integer", "minimum": -1, "description": "The worker's id; -1 when none."},
            "id": {"type": "integer", "minimum": 1},
            "state": {"type": "string", "enum": list(ION_STATES)},
            "starttime": _NULLABLE_TIME,
            "endtime": _NULLABLE_TIME,
            "config": {"description": "The job's input (any JSON value)."},
            "run_level": {"type": "string"},
            "resource_uri": {"type": "string", "pattern": f"^{RESOURCE_PATH}[0-9]+/$"},
        },
        "additionalProperties": False,
    },
    "PluginResultJobList": {
        "type": "object",
        "required": ["meta", "objects"],
        "properties": {
            "meta": {
                "type": "object",
                "required": ["limit", "next", "offset", "previous", "total_count"],
                "properties": {
                    "limit": {"type": "integer", "minimum": 1},
                    "next": _PAGE_URI,
                    "offset": {"type": "integer", "minimum": 0},
                    "previous": _PAGE_URI,
                    "total_count": {
                        "type": "integer",
                        "minimum": 0,
                        "description": (
                            "Exact up to the server's exact count limit (10000 by default); above it "
                            "PostgreSQL's estimate (exact on the last page)."
                        ),
                    },
                },
                "additionalProperties": False,
            },
            "objects": {"type": "array", "items": _ref("PluginResultJob")},
        },
        "additionalProperties": False,
    },
    "PluginResultJobSet": {
        "type": "object",
        "required": ["objects", "not_found"],
        "properties": {
            "objects": {"type": "array", "items": _ref("PluginResultJob")},
            "not_found": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    },
    "PluginResultJobCreate": {
        "type": "object",
        "required": ["plugin"],
        "properties": {
            "plugin": {"type": "string", "minLength": 1, "maxLength": 200, "description": "A plugin's name or id."},
            "config": {"description": "The job's input; default {}."},
            "run_level": {"type": "string", "minLength": 1, "maxLength": 64, "default": "default"},
            "resource_uri": {"description": "Read-only: ignored."},
        },
        "additionalProperties": False,
    },
    "PluginResultJobUpdate": {
        "type": "object",
        "properties": {
            "grid_engine_jobid": {"type": ["integer", "null"], "description": "Read-only in effect: must not change."},
            "id": {"type": "integer", "description": "Must be the job's id."},
            "state": {"type": "string", "enum": list(ION_STATES), "description": "Only `Cancelled` changes it."},
            "starttime": {"type": ["string", "null"], "format": "date-time", "description": "Must not change."},
            "endtime": {"type": ["string", "null"], "format": "date-time", "description": "Must not change."},
            "config": {"description": "The job's input; changes only while it is queued."},
            "run_level": {"type": "string", "minLength": 1, "maxLength": 64},
            "resource_uri": {"description": "Read-only: ignored."},
            "plugin": {"type": "string", "description": "Must name the job's plugin."},
        },
        "additionalProperties": False,
    },
    "TastypieTopLevel": {
        "type": "object",
        "required": [RESOURCE_NAME],
        "additionalProperties": {
            "type": "object",
            "required": ["list_endpoint", "schema"],
            "properties": {"list_endpoint": {"type": "string"}, "schema": {"type": "string"}},
            "additionalProperties": False,
        },
    },
    "TastypieSchema": {
        "type": "object",
        "required": [
            "allowed_detail_http_methods",
            "allowed_list_http_methods",
            "default_format",
            "default_limit",
            "fields",
            "filtering",
            "ordering",
        ],
        "properties": {
            "allowed_detail_http_methods": {"type": "array", "items": {"type": "string"}},
            "allowed_list_http_methods": {"type": "array", "items": {"type": "string"}},
            "default_format": {"type": "string"},
            "default_limit": {"type": "integer"},
            "fields": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["default", "help_text", "nullable", "readonly", "blank", "unique", "type"],
                },
            },
            "filtering": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "ordering": {"type": "array", "items": {"type": "string"}},
        },
    },
}

OPENAPI: dict[str, Any] = {
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "tastypieApiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Authorization: ApiKey <email>:<token>` (tastypie's ApiKeyAuthentication).",
            },
            "tastypieUsername": {"type": "apiKey", "in": "query", "name": "username", "description": "The email."},
            "tastypieQueryKey": {"type": "apiKey", "in": "query", "name": "api_key", "description": "The API token."},
            "tastypieBearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>`."},
        },
    },
}
