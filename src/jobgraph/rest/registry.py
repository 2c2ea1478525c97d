"""The REST systems' routes, gathered in one list for the app."""

from __future__ import annotations

import importlib

from starlette.routing import BaseRoute

SYSTEMS = ("circus", "minion", "tastypie", "alteryx")


def routes() -> list[BaseRoute]:
    gathered: list[BaseRoute] = []
    for name in SYSTEMS:
        try:
            module = importlib.import_module(f"jobgraph.rest.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"jobgraph.rest.{name}":
                continue  # not built yet
            raise
        gathered.extend(module.routes())
    return gathered
