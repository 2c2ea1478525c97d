"""Plugins from installed Python packages: the `jobgraph.plugins` entry point group.

A distribution declares, in its pyproject.toml,

    [project.entry-points."jobgraph.plugins"]
    word-count = "my_package.manifest:PLUGIN"

and the object named there is a plugin manifest (a dict with the keys of a plugin.json), a list
of them, or a callable taking no argument that returns either. Loading one never raises: a
package that fails to load is reported in `Found.problem` and its plugins are skipped.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jobgraph.plugins.entrypoints import error_text

GROUP = "jobgraph.plugins"


@dataclass
class Found:
    """One entry point: where it is from and what it gave (or why it gave nothing)."""

    name: str  # the entry point's name
    value: str  # "module:object"
    distribution: str  # "name version", or "?" when it has none
    manifests: list[Any] = field(default_factory=list)
    problem: str | None = None

    @property
    def source(self) -> str:
        return f"entry point {self.name!r} ({self.value}) of {self.distribution}"


def entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=GROUP)


def discover() -> list[Found]:
    """Every entry point of the group, loaded, sorted by name."""
    found = [_load(ep) for ep in entry_points()]
    return sorted(found, key=lambda f: (f.name, f.value))


def _load(ep: importlib.metadata.EntryPoint) -> Found:
    dist = ep.dist
    where = Found(ep.name, ep.value, f"{dist.name} {dist.version}" if dist is not None else "?")
    try:
        obj = ep.load()
        if callable(obj):
            obj = obj()
    except (Exception, SystemExit) as exc:
        where.problem = f"cannot load it: {error_text(exc)}"
        return where
    manifests = obj if isinstance(obj, list) else [obj]
    if not manifests or not all(isinstance(m, dict) for m in manifests):
        where.problem = "it is not a plugin manifest (a dict), a list of them, or a callable returning either"
        return where
    where.manifests = manifests
    return where
