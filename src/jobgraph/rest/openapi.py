"""`GET /openapi.json`: one OpenAPI 3.1 document of every REST route.

Each REST system module describes its own routes in an `OPENAPI` dict
(`{"paths": {...}, "components": {"schemas": {...}, "securitySchemes": {...}}}`); this module
merges them with the routes that are no system's (/healthz, /metrics, /openapi.json). Two parts that
define the same path and method, or the same component differently, are a programming error
(`OpenAPIConflict`), never silently overwritten; the one exception is a security scheme that two
systems describe in different words only, whose descriptions are kept side by side.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from jobgraph import __version__


def error_response(description: str, schema: str) -> dict[str, Any]:
    """An error response of a REST system's OPENAPI: JSON shaped by that system's `schema`."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


PATH = "/openapi.json"
COMPONENT_KINDS = ("schemas", "securitySchemes", "parameters", "responses", "headers", "requestBodies")


class OpenAPIConflict(Exception):
    pass


_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "database", "broker"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unhealthy"]},
        "database": {"type": "string"},
        "broker": {"type": "string"},
    },
}
OWN: dict[str, Any] = {
    "paths": {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["Service"],
                "summary": "Is the database reachable (and the broker, when there is one)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Healthy.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                    },
                    "503": {
                        "description": "The database or the broker is unreachable.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["Service"],
                "summary": "Prometheus metrics: the API's requests, the queue, the embedded workers",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus' text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        PATH: {
            "get": {
                "operationId": "openapi",
                "tags": ["Service"],
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document of every REST route.",
                        "content": {"application/json": {"schema": {"type": "object", "required": ["openapi"]}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {"Health": _HEALTH_SCHEMA},
        # The one Bearer scheme that CIRCUS, Minion and Alteryx routes name as `bearer`.
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token: `Authorization: Bearer <token>`; on the Alteryx routes also an "
                "access token from POST /webapi/oauth2/token.",
            }
        },
    },
}


def merge(parts: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One document from (source name, OPENAPI dict) pairs."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "jobgraph REST API",
            "version": __version__,
            "description": (
                "The REST views of jobgraph's one job model: CIRCUS, Minion (LANraragi), Ion Torrent "
                "PluginResultJob (django-tastypie) and Alteryx Server v3. GraphQL is at /graphql."
            ),
        },
        "paths": {},
        "components": {kind: {} for kind in COMPONENT_KINDS},
    }
    owners: dict[tuple[str, ...], str] = {}
    for source, part in parts:
        unknown = sorted(set(part) - {"paths", "components"})
        if unknown:
            raise OpenAPIConflict(f"{source}: OPENAPI has keys other than paths and components: {unknown}")
        for path, item in part.get("paths", {}).items():
            target = doc["paths"].setdefault(path, {})
            for method, operation in item.items():
                key = ("path", path, method)
                if method in target:
                    raise OpenAPIConflict(f"{source}: {method.upper()} {path} is described by {owners[key]} too")
                target[method] = copy.deepcopy(operation)
                owners[key] = source
        for kind, entries in part.get("components", {}).items():
            if kind not in COMPONENT_KINDS:
                raise OpenAPIConflict(f"{source}: unknown component kind {kind!r}")
            for name, value in entries.items():
                key = ("component", kind, name)
                known = doc["components"][kind].get(name)
                if known is not None and known != value:
                    if kind != "securitySchemes" or _without_description(known) != _without_description(value):
                        raise OpenAPIConflict(
                            f"{source}: components.{kind}.{name} differs from the one {owners[key]} defines"
                        )
                    value = {**known, "description": _joined(known, value)}
                doc["components"][kind][name] = copy.deepcopy(value)
                owners.setdefault(key, source)
    doc["components"] = {kind: entries for kind, entries in doc["components"].items() if entries}
    return doc


def _without_description(scheme: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scheme.items() if k != "description"}


def _joined(known: dict[str, Any], value: dict[str, Any]) -> str:
    """One security scheme described by two systems in different words: keep both."""
    texts = [str(d["description"]) for d in (known, value) if d.get("description")]
    return " / ".join(dict.fromkeys(texts))


@functools.cache
def document() -> dict[str, Any]:
    """The whole document, built once: every system module's OPENAPI, then this module's own."""
    from jobgraph.rest import registry

    return merge([*registry.openapi_parts(), (__name__, OWN)])


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


def routes() -> list[BaseRoute]:
    return [Route(PATH, openapi_json, methods=["GET"])]
