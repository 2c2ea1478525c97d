"""One layer of input limits before any database: what an attacker found answering 500 or an
internal error (most of it on PostgreSQL only) is now a 4xx or BAD_USER_INPUT that says why,
on both databases. The helpers themselves are tested in test_limits_helpers.py."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from jobgraph.app import create_app
from tests.support import ADMIN_TOKEN, Api, make_settings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BIG = 3_000_000_000  # above 2**31 - 1: no INTEGER column holds it
DEEP_BODY = b"[" * 100_000 + b"]" * 100_000
HUGE_NUMBER_BODY = b'{"query": "{ me { email } }", "variables": {"n": ' + b"1" * 5000 + b"}}"
EDGE_DATES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


def gql_raw(api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST an operation as raw JSON (so that lone surrogates survive the client) and return the body."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    response = api.client.post("/graphql", content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_bad_user_input(body: dict[str, Any], says: str) -> None:
    assert body.get("errors"), body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert says in error["message"], body
    assert "internal server error" not in json.dumps(body)


def assert_json_error(response: Any, status: int, says: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert says in body["error"], body
    return body


# ---------------------------------------------------------------- 1. request bodies


def test_graphql_refuses_a_deep_body_with_400_json_before_authentication(api: Api) -> None:
    for headers in ({}, ADMIN):
        response = api.client.post(
            "/graphql", content=DEEP_BODY, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert "nested more than 100 levels deep" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_graphql_refuses_a_huge_number_with_400_json(api: Api) -> None:
    response = api.client.post("/graphql", content=HUGE_NUMBER_BODY, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "number longer than 100 characters" in response.json()["errors"][0]["message"]


def test_graphql_get_variables_and_bad_json_are_refused_with_400_json(api: Api) -> None:
    deep = "[" * 5000 + "]" * 5000
    response = api.client.get("/graphql", params={"query": "{ me { email } }", "variables": deep}, headers=ADMIN)
    assert response.status_code == 400 and "nested more than" in response.json()["errors"][0]["message"]
    response = api.client.post("/graphql", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 400 and "Unable to parse" in response.json()["errors"][0]["message"]
    # What still parses is served as before.
    assert api.gql("{ me { email } }")["me"]["email"]


def test_a_deep_websocket_message_closes_the_socket_as_bad_json(api: Api) -> None:
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_text("[" * 100_000 + "]" * 100_000)
        message = ws.receive()
    assert message["type"] == "websocket.close" and message["code"] == 4400, message


def test_rest_bodies_are_limited_while_parsing(api: Api) -> None:
    tastypie = "/rundb/api/v1/PluginResultJob/"
    bodies = {
        b'{"plugin": "echo", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}": "nested more than 100 levels deep",
        b'{"plugin": "echo", "config": ' + b"1" * 5000 + b"}": "number longer than 100 characters",
    }
    for body, says in bodies.items():
        assert_json_error(
            api.client.post(tastypie, content=body, headers={**ADMIN, "Content-Type": "application/json"}), 400, says
        )
        assert_json_error(
            api.client.post(
                "/webapi/v3/workflows/jobgraph.echo/jobs",
                content=body,
                headers={**ADMIN, "Content-Type": "application/json"},
            ),
            400,
            says,
        )
        response = api.client.post(
            "/api/minion/jobgraph.echo/queue", data={"args": body.decode()}, headers=ADMIN
        )  # Minion takes args as a form field too
        body_json = assert_json_error(response, 400, says)
        assert body_json["success"] == 0 and body_json["operation"] == "queue_minion_job"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """The app under a real uvicorn on a free port (SQLite), for what only a real server shows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}"), announce=lambda text: None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_refused_body_keeps_the_connection_alive(served: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=30)
    try:
        for body in (DEEP_BODY, HUGE_NUMBER_BODY):
            conn.request("POST", "/graphql", body=body, headers={"Content-Type": "application/json"})
            first_socket = conn.sock
            response = conn.getresponse()
            payload = json.loads(response.read())
            assert response.status == 400 and "BAD_USER_INPUT" in json.dumps(payload)
            assert not response.will_close, "the server dropped the keep-alive connection"
            conn.request("GET", "/healthz")
            again = conn.getresponse()
            again.read()
            assert again.status == 200
            assert conn.sock is first_socket, "a new connection was needed"
        conn.request(
            "POST",
            "/rundb/api/v1/PluginResultJob/",
            body=b'{"plugin": "echo", "config": ' + DEEP_BODY + b"}",
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 400 and not response.will_close
    finally:
        conn.close()


# ---------------------------------------------------------------- 2. integers fit their columns


def test_job_numbers_beyond_the_column_name_no_job(any_api: Api) -> None:
    api = any_api
    # Minion answers LANraragi's own "no such job" (400 with its body) on its routes.
    for path, headers in (
        (f"/api/minion/{BIG}", {}),  # the public route: no token needed
        (f"/api/minion/{BIG}/detail", ADMIN),
        (f"/api/minion/{2**63}", {}),
    ):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"] == "No job with this ID.", path
    for path, headers in (
        (f"/rundb/api/v1/PluginResultJob/{BIG}/", ADMIN),
        (f"/rundb/api/v1/PluginResultJob/set/1;{BIG}/", ADMIN),
    ):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 404, (path, response.text)
    for method in ("PUT", "PATCH", "DELETE"):
        response = api.client.request(method, f"/rundb/api/v1/PluginResultJob/{BIG}/", headers=ADMIN, json={})
        assert response.status_code == 404, (method, response.text)


def test_integer_query_parameters_beyond_the_column_are_400(any_api: Api) -> None:
    api = any_api
    for params in (
        {"id": str(BIG)},
        {"id__gt": str(BIG)},
        {"id__in": f"1,{BIG}"},
        {"grid_engine_jobid": str(BIG)},
        {"id": str(-(2**31) - 1)},
        {"limit": str(BIG)},
    ):
        assert_json_error(api.client.get("/rundb/api/v1/PluginResultJob/", headers=ADMIN, params=params), 400, "")
    response = api.client.post("/api/minion/jobgraph.echo/queue", params={"priority": str(BIG)}, headers=ADMIN)
    assert_json_error(response, 400, "priority")
    for params in ({"limit": str(BIG)}, {"page": str(2**64)}):
        assert_json_error(api.client.get("/api/admin/plugin-job-queue", headers=ADMIN, params=params), 400, "")


def test_graphql_integers_beyond_32_bits_are_bad_user_input(any_api: Api) -> None:
    api = any_api
    assert_bad_user_input(gql_raw(api, f"{{ jobs(first: {BIG}) {{ totalCount }} }}"), "32-bit")
    assert_bad_user_input(gql_raw(api, "query($n: Int!) { jobs(first: $n) { totalCount } }", {"n": BIG}), "32-bit")
    job = api.create_job("jobgraph.noop", runAt="2999-01-01T00:00:00Z")
    assert_bad_user_input(
        gql_raw(
            api,
            "mutation($j: ID!, $p: Int) { updateJob(jobId: $j, priority: $p) { jobId } }",
            {"j": job["jobId"], "p": BIG},
        ),
        "32-bit",
    )
    assert_bad_user_input(
        gql_raw(
            api,
            "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
            {"i": {"pluginId": "jobgraph.noop", "priority": -BIG}},
        ),
        "32-bit",
    )


# ---------------------------------------------------------------- 3. no NUL, no lone surrogate


def test_nul_in_a_path_segment_is_400_in_each_systems_shape(any_api: Api) -> None:
    api = any_api
    for method, path in (
        ("GET", "/webapi/v3/workflows/a%00b/jobs"),
        ("POST", "/webapi/v3/workflows/a%00b/jobs"),
        ("GET", "/webapi/v3/jobs/ab%00c"),
        ("GET", "/webapi/v3/jobs/ab%00c/messages"),
    ):
        assert_json_error(api.client.request(method, path, headers=ADMIN), 400, "NUL")
    for path in ("/api/minion/%00/queue", "/api/minion/a%00b/queue"):
        body = assert_json_error(api.client.post(path, headers=ADMIN), 400, "NUL")
        assert body["success"] == 0 and body["operation"] == "queue_minion_job"
    body = assert_json_error(api.client.get("/api/minion/1%00"), 400, "NUL")
    assert body["operation"] == "minion_job_status"


def test_nul_in_a_query_parameter_is_400(any_api: Api) -> None:
    api = any_api
    for path in (
        "/api/admin/plugin-job-queue",
        "/webapi/v3/workflows/jobgraph.echo/jobs",
        "/rundb/api/v1/PluginResultJob/",
        "/api/minion/1",
    ):
        response = api.client.get(path, headers=ADMIN, params={"x": "a\x00b"})
        assert response.status_code == 400, (path, response.text)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($e: String!) { jobs(filter: {userEmail: [$e]}) { totalCount } }", {"e": "a\x00@b"}),
        ("query($q: String!) { jobs(filter: {queue: [$q]}) { totalCount } }", {"q": "q\x00"}),
        ("query($p: ID!) { jobs(filter: {pluginId: [$p]}) { totalCount } }", {"p": "p\x00"}),
        ("query($t: String!) { jobs(filter: {errorContains: $t}) { totalCount } }", {"t": "\x00"}),
        ("query($s: String!) { jobs(filter: {seriesUid: $s}) { totalCount } }", {"s": "1.2\x00"}),
        ("query($s: String!) { series(seriesUid: $s) { seriesUid } }", {"s": "1.2\x00"}),
        ("query($p: ID!) { plugin(pluginId: $p) { pluginId } }", {"p": "jobgraph.echo\x00"}),
        ("query($j: ID!) { job(jobId: $j) { jobId } }", {"j": "\x00"}),
        ("mutation($e: String!) { createUser(email: $e, privileges: []) { email } }", {"e": "a\x00@b.c"}),
        (
            'mutation($d: String!) { registerSeries(input: {seriesUid: "1.2", description: $d}) { seriesUid } }',
            {"d": "CT\x00"},
        ),
        (
            "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
            {"i": {"pluginId": "p", "kind": "python", "entrypoint": "a:b", "description": "\x00"}},
        ),
        (
            "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
            {"i": {"pluginId": "jobgraph.noop", "runLevel": "r\x00"}},
        ),
        ("mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }", {"i": {"pluginId": "jobgraph.noop\x00"}}),
    ],
)
def test_nul_in_graphql_string_variables_is_bad_user_input(any_api: Api, query: str, variables: dict[str, Any]) -> None:
    assert_bad_user_input(gql_raw(any_api, query, variables), "NUL")


def test_lone_surrogates_and_nul_literals_are_bad_user_input(any_api: Api) -> None:
    api = any_api
    body = gql_raw(api, "query($e: String!) { jobs(filter: {userEmail: [$e]}) { totalCount } }", {"e": "a\ud800"})
    assert_bad_user_input(body, "lone surrogate")
    body = gql_raw(api, '{ jobs(filter: {userEmail: ["a\\u0000b"]}) { totalCount } }')
    assert_bad_user_input(body, "NUL")
    body = gql_raw(api, '{ series(seriesUid: "1.2\\u0000") { seriesUid } }')
    assert_bad_user_input(body, "NUL")
    # Nothing was written, and the server still answers.
    assert api.gql("{ jobs { totalCount } }")["jobs"]["totalCount"] == 0


# ---------------------------------------------------------------- 4. dates the database can store


@pytest.mark.parametrize("edge", EDGE_DATES)
def test_dates_at_the_edge_of_the_calendar_are_bad_user_input(any_api: Api, edge: str) -> None:
    api = any_api
    for field in ("createdAfter", "createdBefore", "updatedAfter", "finishedAfter", "finishedBefore"):
        body = gql_raw(api, f"query($t: DateTime!) {{ jobs(filter: {{{field}: $t}}) {{ totalCount }} }}", {"t": edge})
        assert_bad_user_input(body, "out of range")
        body = gql_raw(api, f'{{ jobs(filter: {{{field}: "{edge}"}}) {{ totalCount }} }}')
        assert_bad_user_input(body, "out of range")
    for field in ("runAt", "expires"):
        body = gql_raw(
            api,
            "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
            {"i": {"pluginId": "jobgraph.noop", field: edge}},
        )
        assert_bad_user_input(body, "out of range")
    for name in ("starttime__gt", "endtime__lte", "starttime"):
        assert_json_error(api.client.get("/rundb/api/v1/PluginResultJob/", headers=ADMIN, params={name: edge}), 400, "")
    assert api.gql("{ jobs { totalCount } }")["jobs"]["totalCount"] == 0


# ---------------------------------------------------------------- 5. cursors


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("order", "cursor"),
    [
        ("NEWEST", _cursor(["NEWEST", [BIG]])),
        ("NEWEST", _cursor(["NEWEST", [True]])),
        ("NEWEST", _cursor(["NEWEST", "x"])),
        ("NEWEST", "not a cursor"),
        ("NEWEST", "A" * 10_000),
        ("DISPATCH", _cursor(["DISPATCH", [BIG, 1]])),
        ("RECENTLY_UPDATED", _cursor(["RECENTLY_UPDATED", [EDGE_DATES[0], 1]])),
        ("RECENTLY_UPDATED", _cursor(["RECENTLY_UPDATED", [EDGE_DATES[1], 1]])),
        ("RECENTLY_UPDATED", _cursor(["RECENTLY_UPDATED", [12, 1]])),
        ("NEWEST", "\ud800"),
    ],
)
def test_forged_cursors_are_bad_user_input(any_api: Api, order: str, cursor: str) -> None:
    query = "query($a: String!, $o: JobOrder!) { jobs(after: $a, orderBy: $o) { totalCount } }"
    body = gql_raw(any_api, query, {"a": cursor, "o": order})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


def test_real_cursors_still_page(any_api: Api) -> None:
    api = any_api
    made = [api.create_job("jobgraph.noop", runAt="2999-01-01T00:00:00Z")["jobId"] for _ in range(3)]
    seen: list[str] = []
    for order in ("NEWEST", "RECENTLY_UPDATED", "DISPATCH"):
        seen, after = [], None
        while True:
            data = api.gql(
                "query($a: String, $o: JobOrder!) { jobs(first: 2, after: $a, orderBy: $o) "
                "{ edges { node { jobId } } pageInfo { hasNextPage endCursor } } }",
                {"a": after, "o": order},
            )["jobs"]
            seen += [e["node"]["jobId"] for e in data["edges"]]
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        assert sorted(seen) == sorted(made), order


# ---------------------------------------------------------------- 6. stored strings have a length


@pytest.mark.parametrize(
    ("mutation", "variables", "says"),
    [
        (
            'mutation($d: String!) { registerSeries(input: {seriesUid: "1.2", description: $d}) { seriesUid } }',
            {"d": "x" * 10_001},
            "description is at most 10000 characters",
        ),
        (
            'mutation($m: String!) { registerSeries(input: {seriesUid: "1.2", modality: $m}) { seriesUid } }',
            {"m": "x" * 17},
            "modality is at most 16 characters",
        ),
        (
            "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
            {"i": {"pluginId": "p", "kind": "python", "entrypoint": "a:b", "version": "v" * 65}},
            "version is at most 64 characters",
        ),
        (
            "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
            {"i": {"pluginId": "p", "kind": "python", "entrypoint": "a:b", "description": "d" * 10_001}},
            "description is at most 10000 characters",
        ),
        (
            "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
            {"i": {"pluginId": "p", "kind": "python", "entrypoint": "a:b", "name": "n" * 201}},
            "name must be 1 to 200 characters",
        ),
        (
            "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
            {"i": {"pluginId": "jobgraph.noop", "notes": {"k" * 201: 1}}},
            "a key is at most 200 characters",
        ),
        (
            "mutation($e: String!) { createUser(email: $e, privileges: []) { email } }",
            {"e": "a" * 300 + "@b.c"},
            "email",
        ),
        (
            "query($t: String!) { jobs(filter: {errorContains: $t}) { totalCount } }",
            {"t": "x" * 1001},
            "at most 1000 characters",
        ),
    ],
)
def test_strings_longer_than_their_column_are_bad_user_input(
    any_api: Api, mutation: str, variables: dict[str, Any], says: str
) -> None:
    assert_bad_user_input(gql_raw(any_api, mutation, variables), says)


def test_a_long_plugin_version_never_reaches_the_database(any_api: Api) -> None:
    """PostgreSQL refused a VARCHAR(64) overflow with an internal error; now nothing is written."""
    api = any_api
    body = gql_raw(
        api,
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
        {"i": {"pluginId": "long.version", "kind": "python", "entrypoint": "a:b", "version": "1" * 65}},
    )
    assert_bad_user_input(body, "version")
    assert api.gql('{ plugin(pluginId: "long.version") { pluginId } }')["plugin"] is None


# ---------------------------------------------------------------- 7. REST parameters as documented


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/admin/plugin-job-queue", {"page": ""}),
        ("/api/admin/plugin-job-queue", {"limit": ""}),
        ("/api/admin/plugin-job-queue", {"state": ""}),
        ("/api/admin/plugin-job-queue", {"state": "bogus"}),
        ("/rundb/api/v1/PluginResultJob/", {"format": ""}),
        ("/rundb/api/v1/PluginResultJob/", {"state": "bogus"}),
        ("/rundb/api/v1/PluginResultJob/", {"state__in": "Queued,bogus"}),
        ("/rundb/api/v1/PluginResultJob/", {"limit": ""}),
        ("/rundb/api/v1/PluginResultJob/schema/", {"format": ""}),
        ("/webapi/v3/workflows/jobgraph.echo/jobs", {"status": ""}),
        ("/webapi/v3/workflows/jobgraph.echo/jobs", {"status": "bogus"}),
        ("/webapi/v3/workflows/jobgraph.echo/jobs", {"sortField": ""}),
        ("/webapi/v3/workflows/jobgraph.echo/jobs", {"direction": ""}),
        ("/webapi/v3/workflows/jobgraph.echo/jobs", {"offset": ""}),
        ("/webapi/v3/workflows/jobgraph.echo/jobs", {"limit": ""}),
    ],
)
def test_empty_and_unknown_enum_and_integer_parameters_are_400(api: Api, path: str, params: dict[str, str]) -> None:
    assert_json_error(api.client.get(path, headers=ADMIN, params=params), 400, "")


def test_documented_values_are_still_served(api: Api) -> None:
    assert (
        api.client.get("/api/admin/plugin-job-queue", headers=ADMIN, params={"state": "wait", "page": "1"}).status_code
        == 200
    )
    assert (
        api.client.get(
            "/rundb/api/v1/PluginResultJob/", headers=ADMIN, params={"format": "json", "state": "Queued"}
        ).status_code
        == 200
    )
    response = api.client.get(
        "/webapi/v3/workflows/jobgraph.echo/jobs",
        headers=ADMIN,
        params={"status": "completed", "sortField": "createDate", "direction": "ASC", "offset": "0", "limit": "5"},
    )
    assert response.status_code == 200, response.text
    # Alteryx documents an empty includeMessages as true: still so.
    job = api.create_job("jobgraph.noop", runAt="2999-01-01T00:00:00Z")
    response = api.client.get(f"/webapi/v3/jobs/{job['jobId']}", headers=ADMIN, params={"includeMessages": ""})
    assert response.status_code == 200 and "messages" in response.json()
