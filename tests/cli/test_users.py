"""`jobgraph user list | remove` and `token list` on the server's database, as the operator."""

from __future__ import annotations

from tests.cli.test_cli import env, jobgraph, table  # noqa: F401  (env is a fixture)


def test_list_and_remove_a_user(env: dict[str, str]) -> None:  # noqa: F811
    assert jobgraph(env, "migrate").returncode == 0
    assert jobgraph(env, "user", "create", "ann@example.com", "-p", "executePlugin").returncode == 0
    assert jobgraph(env, "token", "create", "ann@example.com", "--name", "laptop").returncode == 0
    listed = jobgraph(env, "user", "list")
    assert listed.stdout.splitlines() == ["ann@example.com\texecutePlugin"]  # no admin yet: serve makes it
    tokens = jobgraph(env, "token", "list", "--user", "ann@example.com")
    assert [(row["USER"], row["NAME"]) for row in table(tokens.stdout)] == [("ann@example.com", "laptop")]
    removed = jobgraph(env, "user", "remove", "ann@example.com")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == "removed ann@example.com (1 tokens deleted)\n"
    assert jobgraph(env, "user", "list").stdout == ""
    assert table(jobgraph(env, "token", "list").stdout) == []
    again = jobgraph(env, "user", "remove", "ann@example.com")
    assert again.returncode == 1 and again.stderr == "error: no user 'ann@example.com'\n"
