"""The plugins of installed packages (the `jobgraph.plugins` entry points): checked as any
registration is, registered (or updated) by `serve`, `worker` and `jobgraph plugin sync`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from jobgraph.db.models import Plugin
from jobgraph.errors import BadInput
from jobgraph.plugins.entrypoints import error_text
from jobgraph.plugins.installed import discover
from jobgraph.resolvers import policy
from jobgraph.resolvers.plugins import PluginSpec, check_spec, spec_from_manifest, store_plugin
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

log = logging.getLogger(__name__)


@dataclass
class Installed:
    registered: list[Plugin]
    skipped: list[str]  # what was not registered, and why


def installed_specs() -> tuple[list[PluginSpec], list[str]]:
    """The checked specs of installed packages' plugins (the `jobgraph.plugins` entry points),
    and why each of the others was skipped (also logged). No database."""
    specs: dict[str, PluginSpec] = {}
    skipped: list[str] = []

    def skip(text: str) -> None:
        skipped.append(text)
        log.warning("plugin skipped: %s", text)

    for found in discover():
        if found.problem is not None:
            skip(f"{found.source}: {found.problem}")
            continue
        for manifest in found.manifests:
            pid = manifest.get("pluginId")
            try:
                spec = spec_from_manifest(manifest)
                check_spec(spec)
            except Exception as exc:  # a manifest of any shape: skipped, never the server's end
                skip(f"{pid!r} of {found.source}: {exc.message if isinstance(exc, BadInput) else error_text(exc)}")
                continue
            if spec.plugin_id in specs:
                skip(f"{pid!r} of {found.source}: another package gave it first")
                continue
            specs[spec.plugin_id] = spec
    return list(specs.values()), skipped


def register_installed_plugins(u: Unit, viewer: Viewer | None = None) -> Installed:
    """Register (or update) the plugins of installed packages. One that fails to load or to
    check is logged and skipped; the others are registered, each keeping its enabled flag."""
    policy.require_manage_server(viewer)
    specs, skipped = installed_specs()
    registered = [store_plugin(u, spec, keep_enabled=True) for spec in specs]
    for plugin in registered:
        log.info("plugin %s %s registered from an installed package", plugin.plugin_id, plugin.version)
    return Installed(registered, skipped)
