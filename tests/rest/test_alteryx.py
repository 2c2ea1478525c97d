"""Alteryx Server API v3: conformance with the seed, mappings, auth, views, outputs, bad input."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from jobgraph.db.models import JOB_STATUSES, Output
from jobgraph.rest import alteryx, alteryx_openapi
from tests.rest.helpers import (
    FAR_FUTURE,
    ISO_MS_Z,
    assert_conforms,
    cancel,
    check_openapi,
    command_plugin,
    gql_job,
    job_count,
    parse_time,
    register_plugin,
)
from tests.support import Api, unit_call

# The seed's documented responses (seeds/003_*.txt), as given.
SEED_JOB: dict[str, Any] = {
    "id": "string",
    "appId": "string",
    "createDateTime": "2024-09-19T10:02:54.589Z",
    "status": "string",
    "disposition": "string",
    "outputs": [{"id": "string", "availableFormats": ["string"], "fileName": "string"}],
    "messages": [{"status": 0, "text": "string", "toolId": 0}],
    "priority": "Default",
    "workerTag": "string",
    "runWithE2": True,
}
SEED_MESSAGE: dict[str, Any] = {"status": 0, "text": "string", "toolId": 0}
PLACEHOLDERS = {"id", "appId", "createDateTime", "status", "disposition", "fileName", "text", "workerTag", "runWithE2"}
PLACEHOLDERS |= {"availableFormats", "status", "toolId"}


def get_job(api: Api, job_id: str, token: str | None = None, **params: Any) -> Any:
    return api.client.get(f"/webapi/v3/jobs/{job_id}", params=params, headers=api.headers(token))


def post_job(api: Api, workflow: str, body: Any, token: str | None = None) -> Any:
    return api.client.post(f"/webapi/v3/workflows/{workflow}/jobs", json=body, headers=api.headers(token))


def list_jobs(api: Api, workflow: str, token: str | None = None, **params: Any) -> Any:
    return api.client.get(f"/webapi/v3/workflows/{workflow}/jobs", params=params, headers=api.headers(token))


def token_request(api: Api, **form: str) -> Any:
    return api.client.post("/webapi/oauth2/token", data=form)


def ms(value: str) -> str:
    exact = parse_time(value)
    return exact.strftime("%Y-%m-%dT%H:%M:%S.") + f"{exact.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------- conformance


def test_job_answers_the_seed_example_key_by_key_and_type_by_type(any_api: Api) -> None:
    api = any_api
    token = api.user("analyst@example.com", ["executePlugin"])
    created = post_job(api, "jobgraph.echo", {"questions": [{"name": "region", "value": "EMEA"}]}, token=token)
    assert created.status_code == 200
    job_id = created.json()["id"]
    assert api.wait_for(job_id)["status"] == "finished"

    body = get_job(api, job_id, token=token).json()
    assert_conforms(body, SEED_JOB, ignore_values=PLACEHOLDERS)  # the seed's values are placeholders
    assert list(body) == list(SEED_JOB)
    assert ISO_MS_Z.match(body["createDateTime"])
    assert (body["id"], body["appId"], body["status"], body["disposition"]) == (
        job_id,
        "jobgraph.echo",
        "Completed",
        "Success",
    )
    assert (body["workerTag"], body["runWithE2"]) == ("", False)
    assert body["outputs"][0]["fileName"] == "echo.json"
    assert body["outputs"][0]["availableFormats"] == ["json"]
    assert body["messages"] == [{"status": 1, "text": f"echoing the input of job {job_id}", "toolId": 0}]

    reduced = get_job(api, job_id, token=token, includeMessages="false").json()
    assert list(reduced) == [k for k in SEED_JOB if k != "messages"]
    assert list(get_job(api, job_id, token=token, includeMessages="").json()) == list(SEED_JOB)
    assert get_job(api, job_id, token=token, includeMessages="TRUE").json() == body

    messages = api.client.get(f"/webapi/v3/jobs/{job_id}/messages", headers=api.headers()).json()
    assert isinstance(messages, list) and len(messages) == 1
    assert_conforms(messages[0], SEED_MESSAGE, ignore_values={"status", "text"})
    assert messages == body["messages"]


# ---------------------------------------------------------------- mappings


def test_mapping_tables() -> None:
    assert alteryx.STATUS == {
        "queued": "Queued",
        "running": "Running",
        "finished": "Completed",
        "failed": "Completed",
        "invalidated": "Completed",
        "cancelled": "Cancelled",
    }
    assert set(alteryx.STATUS) == set(alteryx.DISPOSITION) == set(JOB_STATUSES)
    assert alteryx.PRIORITY == {"Low": -10, "Default": 0, "Medium": 10, "High": 20, "Critical": 30}


@pytest.mark.parametrize(
    ("priority", "name"),
    [
        (-(2**31) + 1, "Low"),
        (-10, "Low"),
        (-1, "Low"),
        (0, "Default"),
        (9, "Default"),
        (10, "Medium"),
        (19, "Medium"),
        (20, "High"),
        (29, "High"),
        (30, "Critical"),
        (2**31 - 1, "Critical"),
    ],
)
def test_priority_bands(priority: int, name: str) -> None:
    assert alteryx.priority_name(priority) == name


@pytest.mark.parametrize(
    ("given", "value"),
    [
        (None, 0),
        ("Low", -10),
        ("Default", 0),
        ("Medium", 10),
        ("High", 20),
        ("Critical", 30),
        ("critical", 30),
        (" HIGH ", 20),
        (7, 7),
        (-4, -4),
        ("3", 3),
        ("-12", -12),
    ],
)
def test_priority_in_requests(given: Any, value: int) -> None:
    assert alteryx.parse_priority(given) == value


def test_every_status_maps_to_status_and_disposition(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    expected = {
        "queued": ("Queued", None),
        "running": ("Running", None),
        "finished": ("Completed", "Success"),
        "failed": ("Completed", "Error"),
        "cancelled": ("Cancelled", "Cancelled"),
        "invalidated": ("Completed", "Warning"),
    }
    for name, job in statuses.items():
        body = get_job(api, job["jobId"]).json()
        assert (body["status"], body["disposition"]) == expected[name], name


def test_a_finished_job_with_warnings_is_a_warning(api: Api) -> None:
    command_plugin(api, "warns", "import sys; print('careful', file=sys.stderr); print('fine')")
    command_plugin(api, "quiet", "print('only information')")
    job = post_job(api, "warns", {}).json()
    assert api.wait_for(job["id"])["status"] == "finished"
    body = get_job(api, job["id"]).json()
    assert body["disposition"] == "Warning"
    assert sorted(m["status"] for m in body["messages"]) == [1, 2]
    clean = post_job(api, "quiet", {}).json()
    api.wait_for(clean["id"])
    assert get_job(api, clean["id"]).json()["disposition"] == "Success"


def test_priority_names_and_integers_through_the_route(api: Api) -> None:
    for given, stored, shown in [
        ("Low", -10, "Low"),
        ("Default", 0, "Default"),
        ("Medium", 10, "Medium"),
        ("High", 20, "High"),
        ("Critical", 30, "Critical"),
        (25, 25, "High"),
        (-3, -3, "Low"),
        (None, 0, "Default"),
    ]:
        response = post_job(api, "jobgraph.noop", {"priority": given})
        assert response.status_code == 200, response.text
        assert response.json()["priority"] == shown
        seen = gql_job(api, response.json()["id"])
        assert seen is not None and seen["priority"] == stored, given


def test_worker_tag_is_the_queue(api: Api) -> None:
    register_plugin(api, pluginId="batcher", kind="python", entrypoint="jobgraph.plugins.builtin:noop", queue="batch")
    cases = [
        ("jobgraph.echo", {}, "default", ""),
        ("jobgraph.echo", {"workerTag": ""}, "default", ""),
        ("jobgraph.echo", {"workerTag": None}, "default", ""),
        ("jobgraph.echo", {"workerTag": "gpu"}, "gpu", "gpu"),
        ("batcher", {}, "batch", "batch"),
        ("batcher", {"workerTag": "default"}, "default", ""),
    ]
    for workflow, body, queue, tag in cases:
        response = post_job(api, workflow, {**body, "questions": [], "credentialId": "cred-1"})
        assert response.status_code == 200, response.text
        assert response.json()["workerTag"] == tag
        seen = gql_job(api, response.json()["id"])
        assert seen is not None and seen["queue"] == queue, (workflow, body)


def test_dates_are_utc_with_milliseconds(api: Api) -> None:
    job = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    seen = gql_job(api, job["jobId"])
    assert seen is not None
    assert get_job(api, job["jobId"]).json()["createDateTime"] == ms(seen["createdAt"])
    summary = list_jobs(api, "jobgraph.echo").json()[0]
    assert summary["createDate"] == ms(seen["createdAt"])
    assert alteryx.alteryx_date(datetime(2024, 9, 19, 10, 2, 54, 589999, tzinfo=UTC)) == "2024-09-19T10:02:54.589Z"
    assert alteryx.alteryx_date(None) is None


# ---------------------------------------------------------------- OAuth2 and authentication


def test_client_credentials_buy_an_access_token_that_works_as_bearer(api: Api) -> None:
    token = api.user("analyst@example.com", ["executePlugin"])
    client_id, client_secret = token.split(".", 1)
    response = token_request(api, grant_type="client_credentials", client_id=client_id, client_secret=client_secret)
    assert response.status_code == 200
    body = response.json()
    assert sorted(body) == ["access_token", "expires_in", "token_type"]
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert response.headers["cache-control"] == "no-store"
    access = body["access_token"]
    assert access != token

    job = post_job(api, "jobgraph.noop", {}, token=access).json()
    assert get_job(api, job["id"], token=access).status_code == 200
    assert get_job(api, job["id"], token=token).status_code == 200  # the API token works too
    seen = gql_job(api, job["id"])
    assert seen is not None and seen["user"]["email"] == "analyst@example.com"

    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    via_basic = api.client.post(
        "/webapi/oauth2/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert via_basic.status_code == 200 and via_basic.json()["access_token"]

    api.gql(
        "mutation($id: ID!) { revokeApiToken(tokenId: $id) }", {"id": access.split(".", 1)[0]}, token=token
    )  # a revoked access token no longer works
    assert get_job(api, job["id"], token=access).status_code == 401


@pytest.mark.parametrize(
    ("form", "code", "error"),
    [
        ({"grant_type": "password", "client_id": "a", "client_secret": "b"}, 400, "unsupported_grant_type"),
        ({"client_id": "a", "client_secret": "b"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "a"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
    ],
)
def test_bad_token_requests(api: Api, form: dict[str, str], code: int, error: str) -> None:
    response = token_request(api, **form)
    assert response.status_code == code
    assert response.json()["error"] == error
    assert isinstance(response.json()["error_description"], str)


def test_token_requests_with_a_wrong_secret_or_a_json_body(api: Api) -> None:
    token = api.user("analyst@example.com", ["executePlugin"])
    client_id, client_secret = token.split(".", 1)
    wrong = token_request(api, grant_type="client_credentials", client_id=client_id, client_secret=client_secret + "x")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    as_json = api.client.post(
        "/webapi/oauth2/token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    )
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert api.client.get("/webapi/oauth2/token").status_code == 405


def test_an_access_token_buys_no_other_and_dies_with_its_api_token(api: Api) -> None:
    token = api.user("analyst@example.com", ["executePlugin"])
    client_id, client_secret = token.split(".", 1)
    access = token_request(api, grant_type="client_credentials", client_id=client_id, client_secret=client_secret)
    access_token = access.json()["access_token"]
    job = post_job(api, "jobgraph.noop", {}, token=access_token).json()

    again_id, again_secret = access_token.split(".", 1)
    again = token_request(api, grant_type="client_credentials", client_id=again_id, client_secret=again_secret)
    assert again.status_code == 401
    assert again.json() == {
        "error": "invalid_client",
        "error_description": "client_id and client_secret name an access token: give an API token instead",
    }
    assert again.headers["www-authenticate"] == 'Basic realm="jobgraph"'

    api.gql("mutation($id: ID!) { revokeApiToken(tokenId: $id) }", {"id": client_id}, token=token)
    gone = get_job(api, job["id"], token=access_token)
    assert gone.status_code == 401 and "revoked" in gone.json()["error"]


def test_an_access_token_lives_no_longer_than_its_api_token(api: Api) -> None:
    from datetime import timedelta

    from jobgraph.resolvers import users

    api.user("analyst@example.com", ["executePlugin"])
    short = unit_call(api.rt, users.create_api_token, None, "analyst@example.com", "ten minutes", timedelta(minutes=10))
    client_id, client_secret = short.secret.split(".", 1)
    response = token_request(api, grant_type="client_credentials", client_id=client_id, client_secret=client_secret)
    assert response.status_code == 200
    assert 590 <= response.json()["expires_in"] <= 600


def test_job_routes_need_a_valid_token(api: Api) -> None:
    job = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    paths = [
        ("GET", f"/webapi/v3/jobs/{job['jobId']}"),
        ("DELETE", f"/webapi/v3/jobs/{job['jobId']}"),
        ("GET", f"/webapi/v3/jobs/{job['jobId']}/messages"),
        ("GET", f"/webapi/v3/jobs/{job['jobId']}/output/{'0' * 26}"),
        ("GET", "/webapi/v3/workflows/jobgraph.echo/jobs"),
        ("POST", "/webapi/v3/workflows/jobgraph.echo/jobs"),
    ]
    before = job_count(api)
    for method, path in paths:
        for headers in ({}, {"Authorization": "Bearer not-a-valid-token"}, {"Authorization": "Token abc"}):
            response = api.client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert isinstance(response.json()["error"], str)
    assert job_count(api) == before
    assert api.job(job["jobId"])["status"] == "queued"


def test_another_users_job_is_404_unless_the_caller_manages_jobs(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    other = api.user("other@example.com", ["executePlugin"])
    manager = api.user("manager@example.com", ["manageJobs"])
    job = post_job(api, "jobgraph.echo", {}, token=owner).json()
    api.wait_for(job["id"])
    output_id = get_job(api, job["id"], token=owner).json()["outputs"][0]["id"]
    for path in (f"/webapi/v3/jobs/{job['id']}", f"/webapi/v3/jobs/{job['id']}/output/{output_id}"):
        assert api.client.get(path, headers=api.headers(owner)).status_code == 200
        assert api.client.get(path, headers=api.headers(manager)).status_code == 200
        hidden = api.client.get(path, headers=api.headers(other))
        assert hidden.status_code == 404
        assert "error" in hidden.json()
    missing = get_job(api, "0" * 26, token=other)
    assert get_job(api, job["id"], token=other).json() == {
        "error": f"no job {job['id']}",
        "message": f"no job {job['id']}",
    }
    missing_text = f"no job {'0' * 26}"
    assert missing.json() == {"error": missing_text, "message": missing_text}  # as for no job at all
    assert api.client.delete(f"/webapi/v3/jobs/{job['id']}", headers=api.headers(other)).status_code == 404
    assert list_jobs(api, "jobgraph.echo", token=other).json() == []
    assert [j["id"] for j in list_jobs(api, "jobgraph.echo", token=owner).json()] == [job["id"]]
    assert [j["id"] for j in list_jobs(api, "jobgraph.echo", token=manager).json()] == [job["id"]]


def test_messages_are_for_curators_only(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    manager = api.user("manager@example.com", ["manageJobs"])
    job = post_job(api, "jobgraph.echo", {}, token=owner).json()
    api.wait_for(job["id"])
    path = f"/webapi/v3/jobs/{job['id']}/messages"
    refused = api.client.get(path, headers=api.headers(owner))
    assert refused.status_code == 403 and "manageJobs" in refused.json()["error"]
    assert api.client.get(f"/webapi/v3/jobs/{'0' * 26}/messages", headers=api.headers(owner)).status_code == 403
    allowed = api.client.get(path, headers=api.headers(manager))
    assert allowed.status_code == 200 and allowed.json() == get_job(api, job["id"]).json()["messages"]
    assert api.client.get(f"/webapi/v3/jobs/{'0' * 26}/messages", headers=api.headers(manager)).status_code == 404


def test_creating_needs_execute_plugin(api: Api) -> None:
    reader = api.user("reader@example.com", ["manageJobs"])
    before = job_count(api)
    refused = post_job(api, "jobgraph.echo", {"questions": "not even valid"}, token=reader)
    assert refused.status_code == 403 and "executePlugin" in refused.json()["error"]
    assert job_count(api) == before


def test_cancelling_another_users_job_needs_manage_jobs(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    manager = api.user("manager@example.com", ["manageJobs"])
    job = api.create_job("jobgraph.echo", {}, token=owner, runAt=FAR_FUTURE)
    response = api.client.delete(f"/webapi/v3/jobs/{job['jobId']}", headers=api.headers(manager))
    assert response.status_code == 200 and response.json()["status"] == "Cancelled"


# ---------------------------------------------------------------- cross-view


def test_a_job_created_here_is_the_same_job_in_graphql(any_api: Api) -> None:
    api = any_api
    token = api.user("analyst@example.com", ["executePlugin"])
    questions = [{"name": "region", "value": "EMEA"}, {"name": "year", "value": 2024}, {"name": "all"}]
    response = post_job(api, "jobgraph.echo", {"questions": questions, "priority": "Medium"}, token=token)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["disposition"], body["priority"]) == ("Queued", None, "Medium")
    seen = api.wait_for(body["id"])
    full = gql_job(api, body["id"], token=token)
    assert full is not None
    assert full["input"] == {"region": "EMEA", "year": 2024, "all": None}
    assert (full["priority"], full["queue"], full["plugin"]["pluginId"]) == (10, "default", "jobgraph.echo")
    assert full["user"]["email"] == "analyst@example.com"
    again = get_job(api, body["id"], token=token).json()
    assert again["status"] == alteryx.STATUS[seen["status"]]
    assert [(o["id"], o["fileName"]) for o in again["outputs"]] == [(o["id"], o["fileName"]) for o in full["outputs"]]
    assert again["messages"] == full["messages"]


def test_a_job_made_in_graphql_is_seen_and_cancelled_here(api: Api) -> None:
    job = api.create_job("jobgraph.echo", {"x": 1}, runAt=FAR_FUTURE, priority=20, queue="gpu")
    body = get_job(api, job["jobId"]).json()
    assert (body["appId"], body["status"], body["priority"], body["workerTag"]) == (
        "jobgraph.echo",
        "Queued",
        "High",
        "gpu",
    )
    response = api.client.delete(f"/webapi/v3/jobs/{job['jobId']}", headers=api.headers())
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["disposition"]) == ("Cancelled", "Cancelled")
    assert api.job(job["jobId"])["status"] == "cancelled"
    again = api.client.delete(f"/webapi/v3/jobs/{job['jobId']}", headers=api.headers())
    assert again.status_code == 409 and "cancelled" in again.json()["error"]

    other = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    cancel(api, other["jobId"])
    assert get_job(api, other["jobId"]).json()["status"] == "Cancelled"


def test_deleting_a_running_job_cancels_it_once_the_plugin_stopped(api: Api) -> None:
    job = post_job(api, "jobgraph.slow", {"questions": [{"name": "seconds", "value": 120}]}).json()
    api.wait_for(job["id"], {"running"})
    response = api.client.delete(f"/webapi/v3/jobs/{job['id']}", headers=api.headers())
    assert response.status_code == 200
    assert response.json()["status"] in ("Running", "Cancelled")
    assert api.wait_for(job["id"])["status"] == "cancelled"
    assert get_job(api, job["id"]).json()["status"] == "Cancelled"


def test_workflow_job_list_order_paging_and_status(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    echo_jobs = [j["jobId"] for s, j in statuses.items() if s in ("queued", "cancelled", "finished", "invalidated")]
    minion = api.client.post("/api/minion/echo/queue", params={"args": "[]"}, headers=api.headers()).json()["job"]
    minion_job_id = next(j["id"] for j in list_jobs(api, "jobgraph.echo", limit=1).json())
    api.wait_for(minion_job_id)
    listed = list_jobs(api, "jobgraph.echo").json()
    assert len(listed) == 5
    assert sorted(listed[0]) == ["createDate", "id", "priority", "runWithE2", "status", "workerTag"]
    assert {j["id"] for j in listed[1:]} == set(echo_jobs)
    assert api.job(listed[0]["id"])["number"] == minion  # newest first, whichever route made it
    oldest_first = [j["id"] for j in list_jobs(api, "jobgraph.echo", direction="asc").json()]
    assert oldest_first == [j["id"] for j in reversed(listed)]
    assert [j["id"] for j in list_jobs(api, "jobgraph.echo", offset=1, limit=2).json()] == [
        listed[1]["id"],
        listed[2]["id"],
    ]
    assert list_jobs(api, "jobgraph.echo", limit=0).json() == []

    def ids(status: str) -> set[str]:
        return {j["id"] for j in list_jobs(api, "jobgraph.echo", status=status).json()}

    completed = {statuses["finished"]["jobId"], statuses["invalidated"]["jobId"], minion_job_id}
    assert ids("Completed") == ids("complete") == completed
    assert ids("Cancelled") == {statuses["cancelled"]["jobId"]}
    assert ids("Queued") == ids("QUEUED") == {statuses["queued"]["jobId"]}
    assert {j["id"] for j in list_jobs(api, "jobgraph.fail", status="Error").json()} == {statuses["failed"]["jobId"]}
    assert {j["id"] for j in list_jobs(api, "jobgraph.slow", status="running").json()} == {statuses["running"]["jobId"]}


# ---------------------------------------------------------------- outputs


def test_an_output_downloads_with_its_type_and_name(api: Api) -> None:
    job = post_job(api, "jobgraph.echo", {"questions": [{"name": "q", "value": "ü"}]}).json()
    api.wait_for(job["id"])
    output = get_job(api, job["id"]).json()["outputs"][0]
    response = api.client.get(f"/webapi/v3/jobs/{job['id']}/output/{output['id']}", headers=api.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert 'filename="echo.json"' in response.headers["content-disposition"]
    assert json.loads(response.content) == {"q": "ü"}
    with_format = api.client.get(
        f"/webapi/v3/jobs/{job['id']}/output/{output['id']}", params={"format": "JSON"}, headers=api.headers()
    )
    assert with_format.status_code == 200
    bad_format = api.client.get(
        f"/webapi/v3/jobs/{job['id']}/output/{output['id']}", params={"format": "csv"}, headers=api.headers()
    )
    assert bad_format.status_code == 400 and bad_format.json()["error"]


def _add_output(api: Api, job_number: int, path: str) -> str:
    row = Output(job_number=job_number, file_name="x.txt", size=1, content_type="text/plain", path=path)
    with api.rt.db.session(write=True) as s:
        s.add(row)
    return row.id


def test_outputs_never_leave_the_outputs_folder(api: Api, tmp_path: Any) -> None:
    job = api.create_job("jobgraph.echo", {})
    api.wait_for(job["jobId"])
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    outputs_dir = api.rt.settings.outputs_dir
    outputs_dir.mkdir(parents=True, exist_ok=True)
    link = outputs_dir / job["jobId"] / "output" / "link.txt"
    os.symlink(secret, link)
    relative = os.path.relpath(secret, outputs_dir.resolve())
    attempts = {
        "dotdot": _add_output(api, job["number"], relative),
        "absolute": _add_output(api, job["number"], str(secret)),
        "symlink": _add_output(api, job["number"], f"{job['jobId']}/output/link.txt"),
        "gone": _add_output(api, job["number"], f"{job['jobId']}/output/missing.txt"),
        "folder": _add_output(api, job["number"], f"{job['jobId']}/output"),
    }
    for name, output_id in attempts.items():
        response = api.client.get(f"/webapi/v3/jobs/{job['jobId']}/output/{output_id}", headers=api.headers())
        assert response.status_code == 404, name
        assert "top secret" not in response.text
        assert response.json()["error"]


def test_an_output_of_another_job_or_of_a_wrong_shape_is_404(api: Api) -> None:
    first = api.create_job("jobgraph.echo", {})
    second = api.create_job("jobgraph.echo", {})
    api.wait_for(first["jobId"])
    api.wait_for(second["jobId"])
    output_id = get_job(api, first["jobId"]).json()["outputs"][0]["id"]
    for path in (
        f"/webapi/v3/jobs/{second['jobId']}/output/{output_id}",
        f"/webapi/v3/jobs/{first['jobId']}/output/abc",
        f"/webapi/v3/jobs/{first['jobId']}/output/..%2F..%2Fetc%2Fpasswd",
        f"/webapi/v3/jobs/{first['jobId']}/output/{'Z' * 26}",
    ):
        response = api.client.get(path, headers=api.headers())
        assert response.status_code == 404, path
        assert response.json()["error"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body",
    [
        [],
        "questions",
        7,
        {"questions": "a=1"},
        {"questions": {"": 1}},
        {"questions": [1]},
        {"questions": [{"value": 1}]},
        {"questions": [{"name": ""}]},
        {"questions": [{"name": 5, "value": 1}]},
        {"questions": [{"name": "a", "value": 1}, {"name": "a", "value": 2}]},
        {"priority": True},
        {"priority": 1.5},
        {"priority": "Urgent"},
        {"priority": [10]},
        {"priority": 2**40},
        {"workerTag": 5},
        {"workerTag": "bad tag!"},
        {"credentialId": 12},
    ],
)
def test_bad_create_bodies_are_400_and_create_nothing(api: Api, body: Any) -> None:
    before = job_count(api)
    response = post_job(api, "jobgraph.echo", body)
    assert response.status_code == 400, (body, response.text)
    assert isinstance(response.json()["error"], str)
    assert job_count(api) == before


def test_malformed_json_unknown_workflows_and_refused_input(api: Api) -> None:
    before = job_count(api)
    deep_value = b'{"questions": [{"name": "a", "value": ' + b"[" * 70 + b"]" * 70 + b"}]}"
    for raw in (
        b"{",
        b'{"questions": [}',
        b"\xff\xfe",
        b"nul",
        b'{"questions": [{"name": "a", "value": NaN}]}',
        b'{"priority": -Infinity}',
        b"[" * 5000 + b"]" * 5000,
        deep_value,
    ):
        response = api.client.post(
            "/webapi/v3/workflows/jobgraph.echo/jobs",
            content=raw,
            headers={**api.headers(), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw
        assert response.json()["error"]
    unknown = post_job(api, "no.such.workflow", {})
    assert unknown.status_code == 404 and unknown.json()["error"]
    refused = post_job(api, "jobgraph.slow", {"questions": [{"name": "seconds", "value": "soon"}]})
    assert refused.status_code == 400 and refused.json()["error"]
    assert job_count(api) == before
    empty = api.client.post("/webapi/v3/workflows/jobgraph.noop/jobs", headers=api.headers())
    assert empty.status_code == 200  # no body: no questions, default priority
    assert job_count(api) == before + 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"limit": "1001"},
        {"limit": "many"},
        {"limit": "9" * 40},
        {"offset": "-1"},
        {"offset": "1.5"},
        {"status": "Finished"},
        {"direction": "up"},
        {"sortField": "name"},
    ],
)
def test_bad_list_parameters_are_400(api: Api, params: dict[str, str]) -> None:
    response = list_jobs(api, "jobgraph.echo", **params)
    assert response.status_code == 400, (params, response.text)
    assert response.json()["error"]


def test_unknown_workflow_list_and_bad_job_ids(api: Api) -> None:
    assert list_jobs(api, "no.such.workflow").status_code == 404
    for job_id in ("abc", "A" * 26, "0" * 27, "%20", "..", "1"):
        for path in (f"/webapi/v3/jobs/{job_id}", f"/webapi/v3/jobs/{job_id}/messages"):
            response = api.client.get(path, headers=api.headers())
            assert response.status_code == 404, path
            assert response.json()["error"]
        assert api.client.delete(f"/webapi/v3/jobs/{job_id}", headers=api.headers()).status_code == 404
    job = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    response = get_job(api, job["jobId"], includeMessages="maybe")
    assert response.status_code == 400 and response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/webapi/v3/jobs/{job}", {"GET", "HEAD", "DELETE"}),
        ("POST", "/webapi/v3/jobs/{job}", {"GET", "HEAD", "DELETE"}),
        ("DELETE", "/webapi/v3/jobs/{job}/messages", {"GET", "HEAD"}),
        ("POST", "/webapi/v3/jobs/{job}/output/abc", {"GET", "HEAD"}),
        ("PATCH", "/webapi/v3/workflows/jobgraph.echo/jobs", {"GET", "HEAD", "POST"}),
        ("GET", "/webapi/oauth2/token", {"POST"}),
    ],
)
def test_other_methods_are_405_with_allow_and_json(api: Api, method: str, path: str, allowed: set[str]) -> None:
    job = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    response = api.client.request(method, path.format(job=job["jobId"]), headers=api.headers())
    assert response.status_code == 405
    assert response.json()["error"]
    assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed
    assert api.job(job["jobId"])["status"] == "queued"


def test_openapi_fragment_describes_the_routes() -> None:
    check_openapi(alteryx, "Alteryx")
    schemas = alteryx_openapi.OPENAPI["components"]["schemas"]
    assert set(schemas["AlteryxJob"]["properties"]) == set(SEED_JOB)
    assert sorted(schemas["AlteryxMessage"]["required"]) == sorted(SEED_MESSAGE)
    token = alteryx_openapi.OPENAPI["paths"]["/webapi/oauth2/token"]["post"]
    assert token["security"] == []


# ---------------------------------------------------------------- what Alteryx's own client does


def test_questions_may_come_as_an_object_of_name_to_value(any_api: Api) -> None:
    api = any_api
    as_object = post_job(api, "jobgraph.echo", {"questions": {"region": "EU", "limit": 3, "flags": [1, 2]}})
    as_array = post_job(api, "jobgraph.echo", {"questions": [{"name": "region", "value": "EU"}]})
    assert as_object.status_code == as_array.status_code == 200
    same = gql_job(api, as_object.json()["id"])
    assert same is not None and same["input"] == {"region": "EU", "limit": 3, "flags": [1, 2]}
    assert gql_job(api, as_array.json()["id"])["input"] == {"region": "EU"}  # type: ignore[index]
    assert post_job(api, "jobgraph.echo", {"questions": {}}).status_code == 200


def test_errors_carry_a_message_key_with_the_error(api: Api) -> None:
    reader = api.user("reader@example.com", [])
    responses = [
        get_job(api, "0" * 26),  # 404
        get_job(api, "0" * 26, token="wrong-token-0000000000"),  # 401
        api.client.get(f"/webapi/v3/jobs/{'0' * 26}/messages", headers=api.headers(reader)),  # 403
        post_job(api, "jobgraph.echo", {"questions": 7}),  # 400
        get_job(api, "0" * 26, includeMessages="maybe"),  # 400
    ]
    for response in responses:
        body = response.json()
        assert response.status_code in (400, 401, 403, 404)
        assert body["message"] == body["error"] and body["message"], body


def all_jobs(api: Api, token: str | None = None, **params: Any) -> Any:
    return api.client.get("/webapi/v3/jobs", params=params, headers=api.headers(token))


def test_curators_list_jobs_by_workflow_status_and_sort_field(any_api: Api) -> None:
    api = any_api
    curator = api.user("curator@example.com", ["executePlugin", "manageJobs"])
    plain = api.user("plain@example.com", ["executePlugin"])
    echo_low = api.create_job("jobgraph.echo", {}, token=curator, runAt=FAR_FUTURE, priority=1)["jobId"]
    echo_high = api.create_job("jobgraph.echo", {}, token=curator, runAt=FAR_FUTURE, priority=25)["jobId"]
    noop = api.create_job("jobgraph.noop", None, token=curator)["jobId"]
    api.wait_for(noop)
    theirs = api.create_job("jobgraph.echo", {}, token=plain, runAt=FAR_FUTURE)["jobId"]

    def ids(token: str | None = curator, **params: Any) -> list[str]:
        response = all_jobs(api, token, **params)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()]

    # Alteryx: a curator sees their own jobs, everyone's with allUsers=true.
    assert ids() == [noop, echo_high, echo_low]
    assert ids(workflowId="jobgraph.echo") == [echo_high, echo_low]
    assert set(ids(workflowId="jobgraph.echo", allUsers="true")) == {echo_high, echo_low, theirs}
    assert ids(workflowId="jobgraph.echo", allUsers="true", users="plain@example.com") == [theirs]
    assert ids(workflowId="jobgraph.echo,jobgraph.noop", status="Queued") == [echo_high, echo_low]
    assert ids(statuses="Complete") == ids(status="completed") == [noop]
    assert ids(statuses="Queued,Running", direction="asc") == [echo_low, echo_high]
    assert ids(status="Initializing") == []
    assert ids(workflowId="no.such.workflow") == []
    assert ids(sortField="Priority", workflowId="jobgraph.echo") == [echo_high, echo_low]
    assert ids(sortField="priority", direction="asc", workflowId="jobgraph.echo") == [echo_low, echo_high]
    assert ids(sortField="AppName", direction="asc") == [echo_low, echo_high, noop]
    assert ids(offset=1, limit=1) == [echo_high]
    item = all_jobs(api, curator, workflowId="jobgraph.noop").json()[0]
    assert sorted(item) == sorted(
        ["id", "appId", "createDate", "completionDateTime", "status", "priority", "workerTag", "runWithE2"]
    )
    assert (item["appId"], item["status"]) == ("jobgraph.noop", "Completed")
    assert ISO_MS_Z.match(item["completionDateTime"]) and ISO_MS_Z.match(item["createDate"])
    refused = all_jobs(api, plain)
    assert refused.status_code == 403 and "manageJobs" in refused.json()["message"]  # curators only
    assert all_jobs(api, "wrong-token-0000000000").status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"status": "Done"},
        {"statuses": "Queued,Nope"},
        {"sortField": "Owner"},
        {"direction": "up"},
        {"offset": "-1"},
        {"limit": "x"},
        {"allUsers": "yes"},
    ],
)
def test_bad_job_list_parameters_are_400(api: Api, params: dict[str, str]) -> None:
    response = all_jobs(api, **params)
    assert response.status_code == 400, (params, response.text)
    assert response.json()["message"]
