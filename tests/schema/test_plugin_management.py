"""Registering, disabling and removing plugins over GraphQL: an entrypoint that does not import
is refused with the reason; a plugin with jobs is not removed (disable it instead)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api

REGISTER = "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }"
REMOVE = "mutation($id: ID!) { removePlugin(pluginId: $id) }"


def error(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["message"], first["extensions"]


@pytest.mark.parametrize(
    ("entrypoint", "says"),
    [
        (
            "tests.plugins_for_tests.no_such_module:run",
            "cannot import tests.plugins_for_tests.no_such_module: no module named "
            "'tests.plugins_for_tests.no_such_module' in jobgraph's environment",
        ),
        (
            "tests.plugins_for_tests.raises_on_import:run",
            "cannot import tests.plugins_for_tests.raises_on_import: RuntimeError: needs a GPU",
        ),
        ("tests.plugins_for_tests.packaged:nothing", "module tests.plugins_for_tests.packaged has no 'nothing'"),
        ("tests.plugins_for_tests.packaged:NOT_CALLABLE", "is not callable (it is a str)"),
    ],
)
def test_a_python_plugin_whose_entrypoint_does_not_import_is_refused(api: Api, entrypoint: str, says: str) -> None:
    body = api.gql(
        REGISTER, {"i": {"pluginId": "t.broken", "kind": "python", "entrypoint": entrypoint}}, expect_errors=True
    )
    code, message, extensions = error(body)
    assert (code, extensions["reason"]) == ("BAD_USER_INPUT", "ENTRYPOINT_NOT_IMPORTABLE")
    assert message.startswith(f"entrypoint {entrypoint}: ") and says in message
    assert "Traceback" not in message
    assert api.gql('{ plugin(pluginId: "t.broken") { pluginId } }')["plugin"] is None


def test_a_plugin_without_jobs_is_removed(any_api: Api) -> None:
    any_api.gql(
        REGISTER, {"i": {"pluginId": "t.gone", "kind": "python", "entrypoint": "jobgraph.plugins.builtin:noop"}}
    )
    assert any_api.gql(REMOVE, {"id": "t.gone"}) == {"removePlugin": True}
    assert any_api.gql('{ plugin(pluginId: "t.gone") { pluginId } }')["plugin"] is None
    code, message, _ = error(any_api.gql(REMOVE, {"id": "t.gone"}, expect_errors=True))
    assert (code, message) == ("NOT_FOUND", "no plugin 't.gone'")


def test_a_plugin_with_jobs_is_not_removed_but_can_be_disabled(any_api: Api) -> None:
    any_api.gql(
        REGISTER, {"i": {"pluginId": "t.kept", "kind": "python", "entrypoint": "jobgraph.plugins.builtin:echo"}}
    )
    done = any_api.wait_for(any_api.create_job("t.kept", {"a": 1})["jobId"])
    any_api.create_job("t.kept", runAt="2999-01-01T00:00:00Z")
    code, message, extensions = error(any_api.gql(REMOVE, {"id": "t.kept"}, expect_errors=True))
    assert (code, extensions["reason"], extensions["jobs"], extensions["activeJobs"]) == (
        "CONFLICT",
        "PLUGIN_HAS_JOBS",
        2,
        1,
    )
    assert message.startswith("plugin 't.kept' has 2 jobs (1 queued or running)") and "disable it instead" in message
    disabled = any_api.gql('mutation { setPluginEnabled(pluginId: "t.kept", enabled: false) { enabled } }')
    assert disabled == {"setPluginEnabled": {"enabled": False}}
    refused = any_api.gql('mutation { createJob(input: {pluginId: "t.kept"}) { jobId } }', expect_errors=True)
    assert error(refused)[:2] == ("CONFLICT", "plugin 't.kept' is disabled")
    assert any_api.job(done["jobId"])["result"] == {"input": {"a": 1}, "series": []}  # its jobs keep their record
    any_api.gql('mutation { setPluginEnabled(pluginId: "t.kept", enabled: true) { enabled } }')
    assert any_api.create_job("t.kept", runAt="2999-01-01T00:00:00Z")["status"] == "queued"


def test_only_manage_server_removes_or_disables_plugins(api: Api) -> None:
    runner = api.user("runner@example.com", ["executePlugin", "manageJobs"])
    for query in (REMOVE, "mutation($id: ID!) { setPluginEnabled(pluginId: $id, enabled: false) { enabled } }"):
        body = api.gql(query, {"id": "jobgraph.echo"}, token=runner, expect_errors=True)
        assert error(body)[0] == "FORBIDDEN"
    assert api.gql('{ plugin(pluginId: "jobgraph.echo") { enabled } }')["plugin"] == {"enabled": True}
