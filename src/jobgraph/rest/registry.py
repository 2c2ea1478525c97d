"""The REST systems' routes, gathered in one list for the app, and /openapi.json describing them."""

from __future__ import annotations

import importlib
from types import ModuleType

from starlette.routing import BaseRoute

SYSTEMS = ("circus", "minion", "tastypie", "alteryx")


def modules() -> list[ModuleType]:
    """The system modules, each with `routes()` and `OPENAPI`."""
    return [importlib.import_module(f"jobgraph.rest.{name}") for name in SYSTEMS]


def routes() -> list[BaseRoute]:
    from jobgraph.rest import openapi

    gathered: list[BaseRoute] = []
    for module in modules():
        gathered.extend(module.routes())
    gathered.extend(openapi.routes())
    return gathered
