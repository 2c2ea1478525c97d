"""Plugins: register (create or update), check, enable or disable, remove, read, list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, Plugin
from jobgraph.errors import BadInput, Conflict, NotFound
from jobgraph.plugins.entrypoints import entrypoint_problem
from jobgraph.resolvers import limits, policy
from jobgraph.resolvers.validation import check_json_value, check_schema
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

PLUGIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
KINDS = ("python", "command", "docker")
ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass
class PluginSpec:
    plugin_id: str
    kind: str
    entrypoint: Any
    name: str | None = None
    version: str = ""
    description: str = ""
    input_schema: dict[str, Any] | None = None
    feedback_schema: dict[str, Any] | None = None
    timeout: int = 0
    attempts: int = 1
    queue: str = "default"
    isolation: str = "process"
    enabled: bool = True
    icon: Any = None
    display_strategy: Any = None
    env: dict[str, str] | None = None  # variables its runs get, beside the allowlisted ones


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_ENV = 64
MAX_ENV_VALUE = 4096


def _check_env(env: Any) -> None:
    if env is None:
        return
    if not isinstance(env, dict) or len(env) > MAX_ENV:
        raise BadInput(f"env is an object of at most {MAX_ENV} variables, name to string value")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise BadInput(f"env: {name!r} is not a variable name ([A-Za-z_][A-Za-z0-9_]*, up to 128)")
        if name.startswith("JOBGRAPH_"):
            raise BadInput(f"env: {name} is reserved (JOBGRAPH_ names are jobgraph's own)")
        if not isinstance(value, str) or len(value) > MAX_ENV_VALUE or "\x00" in value:
            raise BadInput(f"env: the value of {name} must be a string of at most {MAX_ENV_VALUE} characters, no NUL")


def check_queue(queue: str) -> str:
    if not isinstance(queue, str) or not QUEUE_NAME.match(queue):
        raise BadInput(f"queue {queue!r} must be 1 to 100 characters of [A-Za-z0-9._-]")
    return queue


def check_spec(spec: PluginSpec) -> None:
    """Everything a registration checks, without the database: the fields, the JSON Schemas, and
    that a python plugin's entrypoint imports here (this process has the workers' packages)."""
    if not PLUGIN_ID.match(spec.plugin_id or ""):
        raise BadInput("pluginId must be 1 to 128 characters of [A-Za-z0-9._:-]")
    if spec.kind not in KINDS:
        raise BadInput(f"kind must be one of {list(KINDS)}")
    if spec.kind == "python" and not (isinstance(spec.entrypoint, str) and ENTRYPOINT.match(spec.entrypoint)):
        raise BadInput("a python plugin's entrypoint is 'package.module:function'")
    if spec.kind == "command" and not (
        isinstance(spec.entrypoint, list) and spec.entrypoint and all(isinstance(a, str) and a for a in spec.entrypoint)
    ):
        raise BadInput("a command plugin's entrypoint is a non-empty list of strings (argv)")
    if spec.kind == "docker" and not (isinstance(spec.entrypoint, str) and spec.entrypoint.strip()):
        raise BadInput("a docker plugin's entrypoint is an image name")
    if not 0 <= spec.timeout <= 7 * 24 * 3600:
        raise BadInput("timeout is in seconds, 0 (none) to 604800")
    if not 1 <= spec.attempts <= 100:
        raise BadInput("attempts must be 1 to 100")
    if spec.isolation not in ("process", "thread"):
        raise BadInput("isolation must be 'process' or 'thread'")
    if spec.isolation == "thread" and spec.kind != "python":
        raise BadInput("only python plugins can run in the worker's thread")
    check_queue(spec.queue)
    for value, what in (
        (spec.entrypoint, "entrypoint"),
        (spec.input_schema, "inputSchema"),
        (spec.feedback_schema, "feedbackSchema"),
        (spec.icon, "icon"),
        (spec.display_strategy, "displayStrategy"),
    ):
        check_json_value(value, what)
    check_schema(spec.input_schema, "inputSchema")
    check_schema(spec.feedback_schema, "feedbackSchema")
    _check_env(spec.env)
    if spec.name is not None and not 1 <= len(spec.name) <= 200:
        raise BadInput("name must be 1 to 200 characters")
    if spec.name is not None:
        limits.check_text(spec.name, "name", limits.MAX_NAME)
    limits.check_text(spec.version, "version", 64)
    limits.check_text(spec.description, "description", limits.MAX_DESCRIPTION)
    if spec.kind == "python":  # last: the cheap checks first, and only a well-formed one is imported
        problem = entrypoint_problem(spec.entrypoint)
        if problem is not None:
            raise BadInput(f"entrypoint {spec.entrypoint}: {problem}", reason="ENTRYPOINT_NOT_IMPORTABLE")


def register_plugin(u: Unit, viewer: Viewer | None, spec: PluginSpec) -> Plugin:
    """Create the plugin, or update it in place when the pluginId exists (a new version)."""
    policy.require_manage_server(viewer)
    check_spec(spec)
    return store_plugin(u, spec, keep_enabled=False)


def store_plugin(u: Unit, spec: PluginSpec, *, keep_enabled: bool) -> Plugin:
    """Write a spec that passed `check_spec` (no privilege asked: the caller asked). With
    `keep_enabled`, an existing plugin keeps its enabled flag (the operator's choice outlives a
    restart that registers built-in and installed plugins again)."""
    now = utcnow()
    s = u.session
    plugin = s.get(Plugin, spec.plugin_id)
    keep = keep_enabled and plugin is not None
    if plugin is None:
        plugin = Plugin(plugin_id=spec.plugin_id, name=spec.name or spec.plugin_id, kind=spec.kind, created_at=now)
    plugin.name = spec.name or plugin.name or spec.plugin_id
    plugin.kind = spec.kind
    plugin.entrypoint = spec.entrypoint
    plugin.version = spec.version
    plugin.description = spec.description
    plugin.input_schema = spec.input_schema
    plugin.feedback_schema = spec.feedback_schema
    plugin.timeout = spec.timeout
    plugin.attempts = spec.attempts
    plugin.queue = spec.queue
    plugin.isolation = spec.isolation
    plugin.enabled = plugin.enabled if keep else spec.enabled
    plugin.icon = spec.icon
    plugin.display_strategy = spec.display_strategy
    plugin.env = dict(spec.env or {})
    plugin.updated_at = now
    s.add(plugin)
    return plugin


def set_plugin_enabled(u: Unit, viewer: Viewer | None, plugin_id: str, enabled: bool) -> Plugin:
    policy.require_manage_server(viewer)
    if not _may_name_a_plugin(plugin_id):
        raise NotFound(f"no plugin {plugin_id!r}")
    s = u.session
    plugin = s.get(Plugin, plugin_id)
    if plugin is None:
        raise NotFound(f"no plugin {plugin_id!r}")
    plugin.enabled = enabled
    plugin.updated_at = utcnow()
    s.add(plugin)
    return plugin


def remove_plugin(u: Unit, viewer: Viewer | None, plugin_id: str) -> None:
    """Delete a plugin that has no jobs. Jobs keep their plugin (their record says what ran), so
    a plugin with any job, ended or not, is refused: disable it instead, or delete its jobs."""
    policy.require_manage_server(viewer)
    if not _may_name_a_plugin(plugin_id):
        raise NotFound(f"no plugin {plugin_id!r}")
    s = u.session
    # FOR UPDATE: a job being inserted for it (its foreign key holds a key-share lock until it
    # commits) is waited for, so the count below sees it; one inserted later waits for this to end.
    plugin = s.get(Plugin, plugin_id, with_for_update=True)
    if plugin is None:
        raise NotFound(f"no plugin {plugin_id!r}")
    counts: dict[str, int] = dict(
        s.execute(select(Job.status, func.count()).where(Job.plugin_id == plugin_id).group_by(Job.status)).all()
    )
    if counts:
        total = sum(counts.values())
        active = counts.get("queued", 0) + counts.get("running", 0)
        raise Conflict(
            f"plugin {plugin_id!r} has {total} job{'s' if total != 1 else ''} ({active} queued or running) "
            "and jobs keep their plugin: disable it instead (new jobs are refused, its jobs stay), "
            "or delete its jobs first",
            reason="PLUGIN_HAS_JOBS",
            jobs=total,
            activeJobs=active,
        )
    s.delete(plugin)


def _may_name_a_plugin(text: str, pattern: re.Pattern[str] = PLUGIN_ID) -> bool:
    """Whether `text` could be a pluginId (or, with another pattern, a name): any other text
    names no plugin, and is never sent to the database (where a NUL would be an error)."""
    return isinstance(text, str) and bool(pattern.match(text)) and limits.text_problem(text) is None


_NAME = re.compile(r"^.{1,200}$", re.DOTALL)


def get_plugin(u: Unit, viewer: Viewer, plugin_id: str) -> Plugin | None:
    if not _may_name_a_plugin(plugin_id):
        return None
    s = u.session
    return s.get(Plugin, plugin_id)


def find_plugin_by_name(u: Unit, viewer: Viewer, name: str) -> Plugin | None:
    """By pluginId first, else by name (Minion's `task`, Ion's `plugin`): the newest such."""
    if not _may_name_a_plugin(name, _NAME):
        return None
    s = u.session
    plugin = s.get(Plugin, name)
    if plugin is not None:
        return plugin
    return s.scalars(select(Plugin).where(Plugin.name == name).order_by(Plugin.updated_at.desc())).first()  # type: ignore[attr-defined]


def list_plugins(u: Unit, viewer: Viewer) -> list[Plugin]:
    s = u.session
    return list(s.scalars(select(Plugin).order_by(Plugin.plugin_id)))


MANIFEST_KEYS = {
    "pluginId": "plugin_id",
    "name": "name",
    "version": "version",
    "description": "description",
    "kind": "kind",
    "entrypoint": "entrypoint",
    "inputSchema": "input_schema",
    "feedbackSchema": "feedback_schema",
    "timeout": "timeout",
    "attempts": "attempts",
    "queue": "queue",
    "isolation": "isolation",
    "enabled": "enabled",
    "icon": "icon",
    "displayStrategy": "display_strategy",
    "env": "env",
}


def spec_from_manifest(manifest: Any) -> PluginSpec:
    """A PluginSpec from a manifest object (camelCase keys, as in GraphQL's PluginInput)."""
    if not isinstance(manifest, dict):
        raise BadInput("a plugin manifest is a JSON object")
    unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
    if unknown:
        raise BadInput(f"unknown manifest keys {unknown}; known: {sorted(MANIFEST_KEYS)}")
    for required in ("pluginId", "kind", "entrypoint"):
        if required not in manifest:
            raise BadInput(f"a plugin manifest needs {required!r}")
    kwargs = {MANIFEST_KEYS[k]: v for k, v in manifest.items()}
    for key in ("timeout", "attempts"):
        if key in kwargs and (isinstance(kwargs[key], bool) or not isinstance(kwargs[key], int)):
            raise BadInput(f"{key} must be an integer")
    return PluginSpec(**kwargs)


def register_builtin_plugins(u: Unit) -> list[Plugin]:
    from jobgraph.plugins.builtin import BUILTIN_PLUGINS

    specs = [spec_from_manifest(m) for m in BUILTIN_PLUGINS]
    for spec in specs:
        check_spec(spec)
    return [store_plugin(u, spec, keep_enabled=True) for spec in specs]
