"""Hostile requests outside GraphQL's arguments: bodies nested 100 000 levels deep, integers of
5000 digits, job numbers past what the database's integer column holds, NUL in path segments.
Each is a 4xx that says so, never a 5xx, and nothing is stored; a refused body leaves the
connection open for the next request."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
import uvicorn
from sqlalchemy import func, select

from jobgraph.app import create_app
from jobgraph.db.models import Job
from tests.support import ADMIN_TOKEN, Api, make_settings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TASTYPIE = "/rundb/api/v1/PluginResultJob/"
DEEP = 100_000
HUGE = "9" * 5000  # Python refuses to read more than 4300 digits into an int
FAR_FUTURE = "2999-01-01T00:00:00+00:00"


def deep_list(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def job_count(api: Api) -> int:
    with api.rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


# ---------------------------------------------------------------- a real server, for keep-alive


@dataclass(frozen=True)
class Served:
    host: str
    port: int


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app under uvicorn on a socket of its own (the test client has no connections to keep).
    The socket listens before the server starts, so the first request waits in its backlog."""
    tmp = tmp_path_factory.mktemp("served")
    app = create_app(make_settings(tmp, f"sqlite:///{tmp / 'jobgraph.db'}"), announce=lambda text: None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=60))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, port = sock.getsockname()[:2]
    try:
        yield Served(host, port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _form(args: str) -> tuple[str, bytes]:
    return "application/x-www-form-urlencoded", urlencode({"args": args}).encode()


def _json(text: str) -> tuple[str, bytes]:
    return "application/json", text.encode()


DEEP_BODIES = [
    pytest.param("/graphql", *_json('{"query": "{ __typename }", "variables": {"x": ' + deep_list() + "}}"), id="graphql"),
    pytest.param(
        "/graphql",
        *_json('{"query": "mutation($i: JSON) { createJob(input: {pluginId: \\"jobgraph.echo\\", input: $i}) '
               '{ jobId } }", "variables": {"i": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}}"),
        id="graphql createJob input",
    ),
    pytest.param(TASTYPIE, *_json('{"plugin": "jobgraph.echo", "config": ' + deep_list() + "}"), id="tastypie"),
    pytest.param(
        "/webapi/v3/workflows/jobgraph.echo/jobs",
        *_json('{"questions": [{"name": "a", "value": ' + deep_list() + "}]}"),
        id="alteryx",
    ),
    pytest.param("/api/minion/jobgraph.echo/queue", *_form(deep_list()), id="minion"),
]


@pytest.mark.parametrize(("path", "content_type", "body"), DEEP_BODIES)
def test_a_body_nested_100k_deep_is_a_400_and_the_connection_stays_open(
    served: Served, path: str, content_type: str, body: bytes
) -> None:
    conn = http.client.HTTPConnection(served.host, served.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={**ADMIN, "Content-Type": content_type})
        refused = conn.getresponse()
        text = refused.read().decode(errors="replace")
        assert refused.status == 400, text[:500]
        assert not refused.will_close, "the server closed the connection after refusing the body"
        first_socket = conn.sock
        conn.request("GET", "/healthz")
        after = conn.getresponse()
        after.read()
        assert after.status == 200
        assert conn.sock is first_socket, "the next request needed a new connection"
    finally:
        conn.close()


# ---------------------------------------------------------------- 5000 digits


GRAPHQL_HUGE_BODIES = [
    pytest.param('{"query": "query($n: Int!) { seriesList(first: $n) { seriesUid } }", "variables": {"n": %s}}', id="Int"),
    pytest.param(
        '{"query": "mutation($i: JSON) { createJob(input: {pluginId: \\"jobgraph.echo\\", input: $i}) { jobId } }",'
        ' "variables": {"i": {"n": %s}}}',
        id="JSON",
    ),
    pytest.param('{"query": "query($id: ID!) { job(jobId: $id) { jobId } }", "variables": {"id": %s}}', id="ID"),
    pytest.param('{"query": "{ __typename }", "variables": {"unused": -%s}}', id="unused variable"),
]


@pytest.mark.parametrize("template", GRAPHQL_HUGE_BODIES)
def test_an_integer_of_5000_digits_in_a_graphql_body_is_a_400(api: Api, template: str) -> None:
    response = api.client.post(
        "/graphql", content=(template % HUGE).encode(), headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text[:500]
    assert job_count(api) == 0


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        pytest.param(f"{{ seriesList(first: {HUGE}) {{ seriesUid }} }}", True, id="Int"),
        pytest.param(
            f'mutation {{ createJob(input: {{pluginId: "jobgraph.echo", input: {HUGE}}}) {{ jobId }} }}', True, id="JSON"
        ),
        # An ID literal is its digits as text: a well-formed id of no job.
        pytest.param(f"{{ job(jobId: {HUGE}) {{ jobId }} }}", False, id="ID"),
    ],
)
def test_an_integer_of_5000_digits_in_the_query_text_is_a_coded_graphql_error(
    api: Api, query: str, refused: bool
) -> None:
    response = api.client.post("/graphql", json={"query": query}, headers=ADMIN)
    assert response.status_code in (200, 400), response.text[:500]
    body = response.json()
    errors = body.get("errors") or []
    assert bool(errors) == refused, body
    assert all(e.get("extensions", {}).get("code") not in (None, "INTERNAL_SERVER_ERROR") for e in errors), errors
    assert all("internal" not in e["message"].lower() for e in errors), errors
    if not refused:
        assert body["data"] == {"job": None}
    assert job_count(api) == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", TASTYPIE, '{"plugin": "jobgraph.echo", "config": {"n": %s}}', id="tastypie body"),
        pytest.param("PATCH", TASTYPIE + "1/", '{"grid_engine_jobid": %s}', id="tastypie update body"),
        pytest.param("GET", TASTYPIE + "?id=%s", None, id="tastypie filter"),
        pytest.param("GET", TASTYPIE + "?limit=%s", None, id="tastypie limit"),
        pytest.param("POST", "/webapi/v3/workflows/jobgraph.echo/jobs", '{"priority": %s}', id="alteryx priority"),
        pytest.param(
            "POST",
            "/webapi/v3/workflows/jobgraph.echo/jobs",
            '{"questions": [{"name": "n", "value": %s}]}',
            id="alteryx questions",
        ),
        pytest.param("GET", "/webapi/v3/workflows/jobgraph.echo/jobs?limit=%s", None, id="alteryx limit"),
        pytest.param("POST", "/api/minion/jobgraph.echo/queue?args=[%s]", None, id="minion args"),
        pytest.param("POST", "/api/minion/jobgraph.echo/queue?priority=%s", None, id="minion priority"),
        pytest.param("GET", "/api/admin/plugin-job-queue?limit=%s", None, id="circus limit"),
    ],
)
def test_an_integer_of_5000_digits_in_a_rest_request_is_a_400(
    api: Api, method: str, path: str, body: str | None
) -> None:
    api.create_job("jobgraph.noop", None, runAt=FAR_FUTURE)  # job 1, for the update
    url = path % HUGE if "%s" in path else path
    content = (body % HUGE).encode() if body else None
    response = api.client.request(method, url, content=content, headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:500]
    assert job_count(api) == 1


# ---------------------------------------------------------------- job numbers past the column


BEYOND = [2**31, 2**63, 2**64]
MISSING = 999_999  # a number the column holds, of no job
NUMBER_ROUTES = [
    ("GET", "/api/minion/{n}", False),  # LANraragi's status route takes no token
    ("GET", "/api/minion/{n}/detail", True),
    ("GET", TASTYPIE + "{n}/", True),
    ("PATCH", TASTYPIE + "{n}/", True),
    ("PUT", TASTYPIE + "{n}/", True),
    ("DELETE", TASTYPIE + "{n}/", True),
    ("GET", TASTYPIE + "set/{n}/", True),
    ("GET", TASTYPIE + "set/1;{n}/", True),
    ("GET", "/webapi/v3/jobs/{n}", True),
    ("DELETE", "/webapi/v3/jobs/{n}", True),
    ("GET", "/webapi/v3/jobs/{n}/messages", True),
]


def _answer(api: Api, method: str, path: str, with_token: bool, number: int) -> tuple[int, str]:
    """Status and body of the route for job `number`, the number itself written N (messages may
    say more about a number out of range)."""
    headers = {**(ADMIN if with_token else {}), "Content-Type": "application/json"}
    body = b'{"run_level": "x"}' if method in ("PATCH", "PUT") else None
    response = api.client.request(method, path.format(n=number), content=body, headers=headers)
    return response.status_code, response.text.replace(str(number), "N")


def test_a_job_number_past_the_integer_column_is_answered_as_a_missing_job(any_api: Api) -> None:
    """2^31, 2^63 and 2^64 (past PostgreSQL's integer and bigint, and SQLite's integer) get what
    a number of no job gets: 404, the unauthenticated Minion status route included."""
    any_api.create_job("jobgraph.noop", None, runAt=FAR_FUTURE)  # job 1
    wrong = []
    for method, path, with_token in NUMBER_ROUTES:
        missing = _answer(any_api, method, path, with_token, MISSING)
        assert missing[0] < 500, (method, path, missing)
        for number in BEYOND:
            got = _answer(any_api, method, path, with_token, number)
            # A set lists a missing id in not_found; an id no job can have may also be refused (404).
            fine = got[0] == missing[0] and ("/set/" not in path or got == missing)
            if not (fine or ("/set/" in path and got[0] == 404)):
                wrong.append(f"{method} {path.format(n=number)}: {got[0]} {got[1][:200]} (a missing job: {missing[0]})")
    assert not wrong, "\n".join(wrong)
    assert job_count(any_api) == 1


def test_a_number_past_the_integer_column_in_a_tastypie_filter_is_no_5xx(any_api: Api) -> None:
    any_api.create_job("jobgraph.noop", None, runAt=FAR_FUTURE)  # job 1
    wrong = []
    for number in BEYOND:
        for query in ("id={n}", "id__in=1,{n}", "id__gt={n}", "id__lte={n}", "grid_engine_jobid={n}", "offset={n}"):
            response = any_api.client.get(f"{TASTYPIE}?{query.format(n=number)}", headers=ADMIN)
            if response.status_code == 200:
                ids = [o["id"] for o in response.json()["objects"]]
                expected = [1] if query.startswith(("id__in", "id__lte")) else []
                if ids != expected:
                    wrong.append(f"?{query.format(n=number)}: 200 with ids {ids}, not {expected}")
            elif response.status_code != 400 or not response.json().get("error"):
                wrong.append(f"?{query.format(n=number)}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_a_minion_priority_past_the_integer_column_is_a_400(any_api: Api) -> None:
    for number in BEYOND:
        response = any_api.client.post(f"/api/minion/jobgraph.noop/queue?priority={number}", headers=ADMIN)
        assert response.status_code == 400, (number, response.text[:500])
    assert job_count(any_api) == 0


# ---------------------------------------------------------------- NUL in path segments


NUL_PATHS = [
    ("GET", "/api/minion/{x}"),
    ("GET", "/api/minion/{x}/detail"),
    ("POST", "/api/minion/{x}/queue"),
    ("GET", TASTYPIE + "{x}/"),
    ("DELETE", TASTYPIE + "{x}/"),
    ("GET", TASTYPIE + "set/1;{x}/"),
    ("GET", "/webapi/v3/jobs/{x}"),
    ("GET", "/webapi/v3/jobs/{x}/messages"),
    ("GET", "/webapi/v3/jobs/{job}/output/{x}"),
    ("GET", "/webapi/v3/workflows/{x}/jobs"),
    ("POST", "/webapi/v3/workflows/{x}/jobs"),
]
NUL_SEGMENTS = ["%00", "jobgraph.echo%00", "1%00"]


def test_nul_in_a_path_segment_is_a_400(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.noop", None, runAt=FAR_FUTURE)
    wrong = []
    for method, path in NUL_PATHS:
        for segment in NUL_SEGMENTS:
            url = path.format(x=segment, job=quote(job["jobId"]))
            response = any_api.client.request(
                method,
                url,
                content=b"{}" if method == "POST" else None,
                headers={**ADMIN, "Content-Type": "application/json"},
            )
            if response.status_code != 400:
                wrong.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert job_count(any_api) == 1
