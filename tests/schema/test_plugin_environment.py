"""A plugin's environment through the API: declared variables reach its runs, the server's
settings never do, and the values are not shown back."""

from __future__ import annotations

from tests.schema.test_job_lifecycle import register
from tests.support import ADMIN_TOKEN, Api


def test_a_command_plugin_gets_its_variables_and_none_of_the_servers(api: Api) -> None:
    register(api, "test.env", ["sh", "-c", "env"], kind="command", env={"PLUGIN_API_KEY": "k1"})
    plugin = api.gql('{ plugin(pluginId: "test.env") { envNames } }')["plugin"]
    assert plugin == {"envNames": ["PLUGIN_API_KEY"]}
    done = api.wait_for(api.create_job("test.env")["jobId"])
    lines = {m["text"] for m in done["messages"]}
    assert "PLUGIN_API_KEY=k1" in lines
    assert not any(ADMIN_TOKEN in line or line.startswith(("JOBGRAPH_ADMIN", "JOBGRAPH_DATABASE")) for line in lines)


def test_reserved_or_malformed_variables_are_refused(api: Api) -> None:
    body = api.gql(
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
        {"i": {"pluginId": "test.env", "kind": "command", "entrypoint": ["true"], "env": {"JOBGRAPH_X": "1"}}},
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "reserved" in body["errors"][0]["message"]
