"""The REST systems' routes, gathered in one list for the app, and /openapi.json describing them."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from starlette.routing import BaseRoute

SYSTEMS = ("circus", "minion", "tastypie", "alteryx")


def modules() -> list[ModuleType]:
    """The system modules, each with `routes()`."""
    return [importlib.import_module(f"jobgraph.rest.{name}") for name in SYSTEMS]


def openapi_parts() -> list[tuple[str, dict[str, Any]]]:
    """Each system's OPENAPI: from its `<name>_openapi` module where the description is long
    enough to live apart from the views, else from the system module itself."""
    parts = []
    for name in SYSTEMS:
        try:
            module = importlib.import_module(f"jobgraph.rest.{name}_openapi")
        except ModuleNotFoundError as exc:
            if exc.name != f"jobgraph.rest.{name}_openapi":
                raise
            module = importlib.import_module(f"jobgraph.rest.{name}")
        parts.append((module.__name__, module.OPENAPI))
    return parts


def routes() -> list[BaseRoute]:
    from jobgraph.rest import openapi

    gathered: list[BaseRoute] = []
    for module in modules():
        gathered.extend(module.routes())
    gathered.extend(openapi.routes())
    return gathered
