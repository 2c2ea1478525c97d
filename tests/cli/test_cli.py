"""The command line, as a user runs it: real processes, a real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cli-test-admin-token-0123456789"


def jobgraph(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobgraph", *args],
        env=env,
        cwd=env["JOBGRAPH_TEST_CWD"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The default, relative data folder (./.jobgraph) in a fresh working directory."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JOBGRAPH_")}
    return {
        **environ,
        "JOBGRAPH_TEST_CWD": str(tmp_path),
        "JOBGRAPH_ADMIN_TOKEN": TOKEN,
        "JOBGRAPH_ADMIN_EMAIL": "admin@example.com",
        "PYTHONPATH": str(ROOT),
    }


def start_serve(env: dict[str, str], port: int) -> tuple[subprocess.Popen[str], str]:
    """`jobgraph serve`, waited for until it says it is up (not a fixed time); returns the process
    and what it printed until then. Its later output is drained, so a full pipe never blocks it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jobgraph", "serve", "--port", str(port)],
        env=env,
        cwd=env["JOBGRAPH_TEST_CWD"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Application startup complete" in line:
            break
    else:
        pytest.fail("the server ended before it started:\n" + "".join(lines))
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, "".join(lines)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`jobgraph serve` on a free port; yields the environment for job commands."""
    port = free_port()
    process, _ = start_serve(env, port)
    try:
        yield {**env, "JOBGRAPH_URL": f"http://127.0.0.1:{port}", "JOBGRAPH_TOKEN": TOKEN}
    finally:
        stop(process)


def test_serve_announces_the_first_admin_token_once(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "JOBGRAPH_ADMIN_TOKEN"}
    port = free_port()
    for round_ in range(2):
        process, text = start_serve(env, port)
        try:
            assert f"GraphiQL: http://127.0.0.1:{port}/graphql" in text
            if round_ == 0:
                token = text.split("(shown only now):")[1].split()[0]
                me = httpx.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": "{ me { email } }"},
                    headers={"Authorization": f"Bearer {token}"},
                ).json()
                assert me == {"data": {"me": {"email": "admin@example.com"}}}
            else:
                assert "shown only now" not in text
        finally:
            stop(process)


def test_users_tokens_and_plugins_from_the_command_line(env: dict[str, str]) -> None:
    assert jobgraph(env, "migrate").returncode == 0
    made = jobgraph(env, "user", "create", "ann@example.com", "-p", "executePlugin", "-p", "manageJobs")
    assert made.returncode == 0 and "created ann@example.com (executePlugin, manageJobs)" in made.stdout
    duplicate = jobgraph(env, "user", "create", "ann@example.com")
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "error: a user with email 'ann@example.com' exists already"
    assert "Traceback" not in duplicate.stderr
    bad = jobgraph(env, "user", "create", "x@example.com", "-p", "fly")
    assert bad.returncode == 1 and "unknown privileges ['fly']" in bad.stderr
    token = jobgraph(env, "token", "create", "ann@example.com", "--name", "laptop")
    assert token.returncode == 0 and "." in token.stdout.strip()
    registered = jobgraph(env, "plugin", "register", str(ROOT / "examples/count-lines/plugin.json"))
    assert registered.returncode == 0, registered.stderr
    assert "registered example.count-lines (command, queue default)" in registered.stdout
    listed = jobgraph(env, "plugin", "list")
    assert "example.count-lines\tcommand" in listed.stdout
    missing = jobgraph(env, "plugin", "register", "nope.json")
    assert missing.returncode == 1 and "No such file" in missing.stderr


def test_plugin_validate_disable_enable_remove_from_the_command_line(env: dict[str, str], tmp_path: Path) -> None:
    count_lines = str(ROOT / "examples/count-lines/plugin.json")
    valid = jobgraph(env, "plugin", "validate", count_lines)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("ok example.count-lines (command, python3 ")
    assert not (tmp_path / ".jobgraph").exists()  # validating needs no database
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"pluginId": "t.broken", "kind": "python", "entrypoint": "no_such_pkg.mod:run"}))
    for command in ("validate", "register"):
        refused = jobgraph(env, "plugin", command, str(broken))
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert refused.stderr.startswith(
            "error: entrypoint no_such_pkg.mod:run: cannot import no_such_pkg.mod: no module named 'no_such_pkg'"
        ), refused.stderr
    bad_schema = tmp_path / "bad-schema.json"
    bad_schema.write_text(
        json.dumps({"pluginId": "t.s", "kind": "command", "entrypoint": ["true"], "inputSchema": {"type": 3}})
    )
    refused = jobgraph(env, "plugin", "validate", str(bad_schema))
    assert refused.returncode == 1 and "error: inputSchema is not a valid JSON Schema" in refused.stderr

    assert jobgraph(env, "plugin", "register", count_lines).returncode == 0
    disabled = jobgraph(env, "plugin", "disable", "example.count-lines")
    assert disabled.returncode == 0 and disabled.stdout == "disabled example.count-lines\n"
    assert "(disabled)" in jobgraph(env, "plugin", "list").stdout
    assert jobgraph(env, "plugin", "enable", "example.count-lines").returncode == 0
    assert "(disabled)" not in jobgraph(env, "plugin", "list").stdout
    removed = jobgraph(env, "plugin", "remove", "example.count-lines")
    assert removed.returncode == 0 and removed.stdout == "removed example.count-lines\n"
    again = jobgraph(env, "plugin", "remove", "example.count-lines")
    assert again.returncode == 1 and again.stderr == "error: no plugin 'example.count-lines'\n"
    assert "example.count-lines" not in jobgraph(env, "plugin", "list").stdout
    nothing = jobgraph(env, "plugin", "sync")
    assert nothing.returncode == 0 and "no installed package has a plugin" in nothing.stdout


def table(output: str) -> list[dict[str, str]]:
    """A table as `token list` prints it: columns start where their header does."""
    header, *rows = output.splitlines()
    names = header.split()
    starts = [header.index(name) for name in names]
    ends = [*starts[1:], None]
    return [{n: row[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)} for row in rows]


def test_token_list_shows_every_user_s_tokens_and_what_they_derive_from(server: dict[str, str]) -> None:
    assert jobgraph(server, "user", "create", "ann@example.com", "-p", "executePlugin").returncode == 0
    made = jobgraph(server, "token", "create", "ann@example.com", "--name", "laptop", "--expires-days", "30")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    api_id, client_secret = secret.split(".", 1)
    access = httpx.post(
        f"{server['JOBGRAPH_URL']}/webapi/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": api_id, "client_secret": client_secret},
    ).json()["access_token"]
    access_id = access.split(".", 1)[0]

    listed = jobgraph(server, "token", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:7] == ["ID", "USER", "NAME", "CREATED", "EXPIRES", "REVOKED", "DERIVED-FROM"]
    assert secret not in listed.stdout and access not in listed.stdout
    rows = table(listed.stdout)
    assert [r["USER"] for r in rows] == ["admin@example.com", "ann@example.com", "ann@example.com"]
    admin, api_row, access_row = rows
    assert (admin["NAME"], admin["EXPIRES"], admin["DERIVED-FROM"]) == ("JOBGRAPH_ADMIN_TOKEN", "-", "-")
    assert (api_row["ID"], api_row["NAME"], api_row["REVOKED"], api_row["DERIVED-FROM"]) == (api_id, "laptop", "-", "-")
    assert api_row["EXPIRES"] > api_row["CREATED"]
    assert (access_row["ID"], access_row["NAME"], access_row["DERIVED-FROM"]) == (
        access_id,
        "oauth2 access token",
        api_id,
    )

    only_ann = table(jobgraph(server, "token", "list", "--user", "ann@example.com").stdout)
    assert [r["ID"] for r in only_ann] == [api_id, access_id]
    assert jobgraph(server, "token", "revoke", api_id).stdout.strip() == f"revoked {api_id}"
    after = table(jobgraph(server, "token", "list", "--user", "ann@example.com").stdout)
    assert all(r["REVOKED"] >= r["CREATED"] for r in after)  # a date, not "-"
    unknown = jobgraph(server, "token", "list", "--user", "nobody@example.com")
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: no user 'nobody@example.com'"
    me = httpx.post(
        f"{server['JOBGRAPH_URL']}/graphql",
        json={"query": "{ me { email } }"},
        headers={"Authorization": f"Bearer {access}"},
    )
    assert me.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_job_commands_against_a_running_server(server: dict[str, str], tmp_path: Path) -> None:
    assert jobgraph(server, "plugin", "register", str(ROOT / "examples/count-lines/plugin.json")).returncode == 0
    echoed = jobgraph(server, "job", "submit", "jobgraph.echo", "-i", '{"hello": "world"}', "--wait")
    assert echoed.returncode == 0 and "output   echo.json" in echoed.stdout, echoed.stdout
    submitted = jobgraph(server, "job", "submit", "example.count-lines", "-i", '{"texts": ["a\\nb", "c"]}', "--wait")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.splitlines()[0]
    assert "finished" in submitted.stdout and '"total": 3' in submitted.stdout
    assert "[info] text 1 of 2: 2 lines" in submitted.stdout
    shown = jobgraph(server, "job", "show", job_id, "--json")
    job = json.loads(shown.stdout)
    assert job["result"] == {"total": 3, "counts": [2, 1]}
    assert [o["fileName"] for o in job["outputs"]] == ["counts.csv"]
    listed = jobgraph(server, "job", "list")
    assert job_id in listed.stdout and "2 of 2" in listed.stderr

    slow = jobgraph(server, "job", "submit", "jobgraph.slow", "-i", '{"seconds": 60}').stdout.strip()
    cancelled = jobgraph(server, "job", "cancel", slow)
    assert cancelled.returncode == 0
    waited = jobgraph(server, "job", "wait", slow, "--timeout", "20")
    assert waited.returncode == 1 and "cancelled" in waited.stdout

    invalid = jobgraph(server, "job", "submit", "example.count-lines", "-i", '{"texts": 5}')
    assert invalid.returncode == 1 and "does not match the schema" in invalid.stderr
    assert jobgraph(server, "job", "show", "nope").stderr.strip() == "error: no job nope"
    wrong = jobgraph({**server, "JOBGRAPH_TOKEN": "wrong"}, "job", "list")
    assert wrong.returncode == 1 and "API token is not valid" in wrong.stderr
    unreachable = jobgraph({**server, "JOBGRAPH_URL": "http://127.0.0.1:9"}, "job", "list")
    assert unreachable.returncode == 1 and "cannot reach jobgraph" in unreachable.stderr


def test_schema_command_prints_the_sdl(env: dict[str, str]) -> None:
    result = jobgraph(env, "schema")
    assert result.stdout == (ROOT / "schema.graphql").read_text()


def test_queue_control_from_the_command_line(server: dict[str, str]) -> None:
    paused = jobgraph(server, "queue", "pause", "slowlane")
    assert paused.returncode == 0 and paused.stdout.startswith("slowlane paused (by admin@example.com at "), paused
    held = jobgraph(server, "job", "submit", "jobgraph.echo", "-i", "{}", "--queue", "slowlane").stdout.strip()
    listed = table(jobgraph(server, "queue", "list").stdout)
    slowlane = next(row for row in listed if row["QUEUE"] == "slowlane")
    assert (slowlane["STATE"], slowlane["QUEUED"], slowlane["PAUSED-BY"]) == ("paused", "1", "admin@example.com")
    assert jobgraph(server, "queue", "resume", "slowlane").stdout.strip() == "slowlane running"
    assert jobgraph(server, "job", "wait", held, "--timeout", "30").returncode == 0

    failed = [
        jobgraph(server, "job", "submit", "jobgraph.fail", "-i", '{"fail": true}', "--wait").stdout.splitlines()[0]
        for _ in range(2)
    ]
    dry = jobgraph(
        server, "job", "bulk", "retry", "--plugin", "jobgraph.fail", "--plugin", "jobgraph.echo", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == "RETRY: the filter selects 3 jobs; it applies to 2 (at most 1000 per action)"
    done = jobgraph(server, "job", "bulk", "retry", "--status", "failed")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "RETRY: the filter selects 2 jobs; it applies to 2 (at most 1000 per action)"
    assert lines[1].startswith("retried 2 jobs (0 left as they were); audit entry ")
    for job_id in failed:
        assert jobgraph(server, "job", "wait", job_id, "--timeout", "30").returncode == 1  # it failed again
    missing = jobgraph(server, "job", "bulk", "set-priority", "--status", "queued")
    assert missing.returncode == 1 and "SET_PRIORITY needs a priority" in missing.stderr
    unknown = jobgraph(server, "job", "bulk", "explode")
    assert unknown.returncode == 1 and "unknown action 'explode'" in unknown.stderr

    again = jobgraph(server, "job", "rerun", held)
    assert again.returncode == 0, again.stderr
    new = again.stdout.strip()
    assert new != held and jobgraph(server, "job", "wait", new, "--timeout", "30").returncode == 0
