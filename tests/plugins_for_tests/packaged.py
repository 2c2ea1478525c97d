"""What installed packages' `jobgraph.plugins` entry points name, good and bad (the tests
point fake entry points here)."""

from __future__ import annotations

from typing import Any

from jobgraph.tasks.context import JobContext


def shout(ctx: JobContext) -> dict[str, str]:
    ctx.message("shouting")
    return {"text": str(ctx.input["text"]).upper()}


SHOUT: dict[str, Any] = {
    "pluginId": "pkg.shout",
    "version": "2.0",
    "kind": "python",
    "entrypoint": "tests.plugins_for_tests.packaged:shout",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}


def several() -> list[dict[str, Any]]:
    return [
        {"pluginId": "pkg.echo-too", "kind": "python", "entrypoint": "jobgraph.plugins.builtin:echo"},
        {"pluginId": "pkg.lines", "kind": "command", "entrypoint": ["wc", "-l"]},
    ]


UNIMPORTABLE: dict[str, Any] = {
    "pluginId": "pkg.unimportable",
    "kind": "python",
    "entrypoint": "tests.plugins_for_tests.no_such_module:run",
}

BAD_SCHEMA: dict[str, Any] = {
    "pluginId": "pkg.bad-schema",
    "kind": "python",
    "entrypoint": "tests.plugins_for_tests.packaged:shout",
    "inputSchema": {"type": "no-such-type"},
}

NOT_A_MANIFEST = 42

NOT_CALLABLE = "a string"


def broken() -> list[dict[str, Any]]:
    raise RuntimeError("the package's own bug")
