"""Plugins of installed packages: found through the `jobgraph.plugins` entry points (faked here;
tests/plugins/test_template.py installs a real package), registered on start, bad ones skipped
with a reason, never the server's end."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobgraph.plugins.installed import GROUP
from jobgraph.resolvers import plugins
from jobgraph.resolvers.installed_plugins import installed_specs
from jobgraph.unit import unit_of_work
from tests.support import Api, make_settings

M = "tests.plugins_for_tests.packaged"
Install = Callable[..., None]


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Install:
    """`install(name="module:object", ...)`: these entry points, and no other, in the group."""
    real = importlib.metadata.entry_points

    def installing(**points: str) -> None:
        found = importlib.metadata.EntryPoints(
            importlib.metadata.EntryPoint(name, value, GROUP) for name, value in points.items()
        )

        def entry_points(**params: Any) -> Any:
            return found if params.get("group") == GROUP else real(**params)

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    return installing


@pytest.fixture
def started(tmp_path: Path) -> Callable[[], Any]:
    def start() -> Any:
        return Api.start(
            make_settings(
                tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}", builtin_plugins=False, installed_plugins=True
            )
        )

    return start


BAD = {
    "unimportable": f"{M}:UNIMPORTABLE",
    "bad-schema": f"{M}:BAD_SCHEMA",
    "not-a-manifest": f"{M}:NOT_A_MANIFEST",
    "broken": f"{M}:broken",
    "gone": "tests.plugins_for_tests.uninstalled:PLUGIN",
}


def plugin_ids(api: Api) -> list[str]:
    return [p["pluginId"] for p in api.gql("{ plugins { pluginId } }")["plugins"]]


def test_the_server_registers_installed_plugins_skips_bad_ones_and_runs_their_jobs(
    install: Install, started: Callable[[], Any]
) -> None:
    install(shout=f"{M}:SHOUT", several=f"{M}:several", **BAD)
    with started() as api:
        assert plugin_ids(api) == ["pkg.echo-too", "pkg.lines", "pkg.shout"]
        plugin = api.gql('{ plugin(pluginId: "pkg.shout") { version enabled } }')["plugin"]
        assert plugin == {"version": "2.0", "enabled": True}
        job = api.wait_for(api.create_job("pkg.shout", {"text": "hi"})["jobId"])
        assert job["status"] == "finished" and job["result"] == {"text": "HI"}
        assert job["messages"] == [{"status": 1, "text": "shouting"}]


def test_each_skipped_plugin_says_why(install: Install) -> None:
    install(shout=f"{M}:SHOUT", **BAD)
    specs, skipped = installed_specs()
    assert [s.plugin_id for s in specs] == ["pkg.shout"]
    why = "\n".join(skipped)
    assert len(skipped) == 5
    assert "'pkg.unimportable'" in why and "no module named 'tests.plugins_for_tests.no_such_module'" in why
    assert "'pkg.bad-schema'" in why and "inputSchema is not a valid JSON Schema" in why
    assert f"'not-a-manifest' ({M}:NOT_A_MANIFEST)" in why and "is not a plugin manifest" in why
    assert "RuntimeError: the package's own bug" in why
    assert "cannot load it: ModuleNotFoundError" in why


def test_a_plugin_given_twice_is_registered_once(install: Install) -> None:
    install(first=f"{M}:SHOUT", second=f"{M}:SHOUT")
    specs, skipped = installed_specs()
    assert [s.plugin_id for s in specs] == ["pkg.shout"]
    assert skipped == [f"'pkg.shout' of entry point 'second' ({M}:SHOUT) of ?: another package gave it first"]


def test_a_disabled_installed_plugin_stays_disabled_across_restarts_and_updates(
    install: Install, started: Callable[[], Any]
) -> None:
    install(shout=f"{M}:SHOUT")
    with started() as api:
        api.gql('mutation { setPluginEnabled(pluginId: "pkg.shout", enabled: false) { enabled } }')
    with started() as api:
        plugin = api.gql('{ plugin(pluginId: "pkg.shout") { enabled version } }')["plugin"]
        assert plugin == {"enabled": False, "version": "2.0"}
        body = api.gql(
            'mutation { createJob(input: {pluginId: "pkg.shout", input: {text: "x"}}) { jobId } }', expect_errors=True
        )
        assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
        assert "plugin 'pkg.shout' is disabled" in body["errors"][0]["message"]


def test_no_installed_plugins_is_fine(install: Install, started: Callable[[], Any]) -> None:
    install()
    with started() as api:
        assert plugin_ids(api) == []


def test_a_start_that_loses_a_race_for_a_new_plugin_tries_again_and_a_failure_never_stops_it(
    install: Install, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`jobgraph worker --processes N`: N processes insert the same new plugin at once."""
    from sqlalchemy.exc import IntegrityError

    from jobgraph import service
    from jobgraph.db import migrate
    from jobgraph.resolvers import installed_plugins
    from jobgraph.runtime import build_runtime

    install(shout=f"{M}:SHOUT")
    rt = build_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}"))
    migrate.upgrade(rt.db)
    real = installed_plugins.register_installed_plugins
    calls: list[int] = []

    def racing(u: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO plugins", {}, Exception("duplicate key"))
        return real(u)

    monkeypatch.setattr(installed_plugins, "register_installed_plugins", racing)
    try:
        service.register_installed_plugins(rt)
        assert len(calls) == 2
        with unit_of_work(rt) as u:
            assert [p.plugin_id for p in plugins.list_plugins(u, None)] == ["pkg.shout"]

        def broken(u: Any) -> Any:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(installed_plugins, "register_installed_plugins", broken)
        service.register_installed_plugins(rt)  # logged, not raised
        assert "plugins of installed packages not registered" in caplog.text
    finally:
        rt.close()
