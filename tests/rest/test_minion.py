"""LANraragi's Minion API: conformance with the seed, mappings, auth, views, bad input."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from jobgraph.db.models import JOB_STATUSES
from jobgraph.rest import minion
from tests.rest.helpers import (
    EPOCH,
    FAR_FUTURE,
    assert_conforms,
    check_openapi,
    gql_job,
    gql_job_id,
    job_count,
    parse_time,
    register_plugin,
    result_plugin,
)
from tests.support import Api, wait_for_event

# The seed's documented responses (seeds/001_*.txt), as given.
SEED_STATUS_FINISHED: dict[str, Any] = {"state": "finished", "task": "handle_upload", "error": None}
SEED_STATUS_FAILED: dict[str, Any] = {"state": "failed", "task": "thumbnail_task", "error": "oh no"}
SEED_DETAIL: dict[str, Any] = {
    "args": ["/tmp/QF3UCnKdMr/myfile.zip"],
    "attempts": 1,
    "children": [],
    "created": "1601145004",
    "delayed": "1601145004",
    "expires": None,
    "finished": "1601145004",
    "id": 7,
    "lax": 0,
    "notes": {},
    "parents": [],
    "priority": 0,
    "queue": "default",
    "result": {
        "id": "75d18ce470dc99f83dc355bdad66319d1f33c82b",
        "message": "This file already exists in the Library.",
        "success": 0,
    },
    "retried": None,
    "retries": 0,
    "started": "1601145004",
    "state": "finished",
    "task": "handle_upload",
    "time": "1601145005",
    "worker": 1,
}
IDS_AND_TIMES = {"id", "created", "delayed", "finished", "started", "time", "worker"}


def status(api: Api, number: int | str) -> Any:
    return api.client.get(f"/api/minion/{number}")


def detail(api: Api, number: int | str, token: str | None = None, headers: dict[str, str] | None = None) -> Any:
    return api.client.get(f"/api/minion/{number}/detail", headers=headers or api.headers(token))


def enqueue(api: Api, task: str, token: str | None = None, **params: Any) -> Any:
    return api.client.post(f"/api/minion/{task}/queue", params=params, headers=api.headers(token))


def b64(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + base64.b64encode(token.encode()).decode()}


def epoch_of(value: str) -> str:
    return str(int(parse_time(value).timestamp()))


# ---------------------------------------------------------------- conformance


def test_detail_answers_the_seed_example_key_by_key_and_type_by_type(any_api: Api) -> None:
    api = any_api
    result_plugin(api, "lrr.handle-upload", json.dumps(SEED_DETAIL["result"]), name="handle_upload")
    token = api.user("uploader@example.com", ["executePlugin"])
    queued = enqueue(api, "handle_upload", token=token, args=json.dumps(SEED_DETAIL["args"]))
    assert queued.status_code == 200
    number = queued.json()["job"]
    assert api.wait_for(gql_job_id(api, number))["status"] == "finished"

    response = detail(api, number, headers=b64(token))  # as LANraragi's own client sends the key
    assert response.status_code == 200
    body = response.json()
    assert_conforms(body, SEED_DETAIL, ignore_values=IDS_AND_TIMES)
    assert sorted(body) == sorted(SEED_DETAIL)
    assert body["id"] == number
    for key in ("created", "delayed", "finished", "started", "time"):
        assert EPOCH.match(body[key]), (key, body[key])
    assert int(body["created"]) <= int(body["started"]) <= int(body["finished"]) <= int(body["time"])


def test_status_answers_the_seed_examples(any_api: Api) -> None:
    api = any_api
    result_plugin(api, "lrr.handle-upload", "{}", name="handle_upload")
    register_plugin(
        api, pluginId="lrr.thumbnail", name="thumbnail_task", kind="python", entrypoint="jobgraph.plugins.builtin:fail"
    )
    done = api.create_job("lrr.handle-upload")
    failed = api.create_job("lrr.thumbnail", {"fail": True, "message": "oh no"})
    api.wait_for(done["jobId"])
    api.wait_for(failed["jobId"])

    finished_body = status(api, done["number"]).json()
    assert {k: finished_body[k] for k in SEED_STATUS_FINISHED} == SEED_STATUS_FINISHED
    assert sorted(finished_body) == sorted([*SEED_STATUS_FINISHED, "notes"])
    assert finished_body["notes"] == {}

    failed_body = status(api, failed["number"]).json()
    # values aside from the error text, which is the plugin's exception as jobgraph records it
    assert_conforms({k: failed_body[k] for k in SEED_STATUS_FAILED}, SEED_STATUS_FAILED, ignore_values={"error"})
    assert failed_body["error"].endswith("oh no")
    assert failed_body["error"] == api.job(failed["jobId"])["errorMessage"]


# ---------------------------------------------------------------- mappings


def test_state_table_covers_every_status() -> None:
    assert minion.STATE == {
        "queued": "inactive",
        "running": "active",
        "finished": "finished",
        "invalidated": "finished",
        "failed": "failed",
        "cancelled": "failed",
    }
    assert set(minion.STATE) == set(JOB_STATUSES)


def test_every_status_maps_to_its_minion_state(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    for name, job in statuses.items():
        seen = gql_job(api, job["jobId"])
        assert seen is not None
        basic = status(api, job["number"]).json()
        full = detail(api, job["number"]).json()
        assert basic["state"] == full["state"] == minion.STATE[name], name
        assert basic["task"] == full["task"] == seen["plugin"]["name"]
        if name == "failed":
            assert basic["error"] == full["result"] == seen["errorMessage"] == "RuntimeError: oh no"
        elif name == "cancelled":
            assert basic["error"] == full["result"] == minion.CANCELLED
        else:
            assert basic["error"] is None
            assert full["result"] == seen["result"]
    assert detail(api, statuses["invalidated"]["number"]).json()["result"] == {"input": {"i": 1}, "series": []}


def test_times_are_epoch_seconds_as_strings(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    finished = detail(api, statuses["finished"]["number"]).json()
    seen = gql_job(api, statuses["finished"]["jobId"])
    assert seen is not None
    assert finished["created"] == finished["delayed"] == epoch_of(seen["createdAt"])
    assert finished["started"] == epoch_of(seen["startedAt"])
    assert finished["finished"] == epoch_of(seen["finishedAt"])
    assert abs(int(finished["time"]) - time.time()) < 10

    queued = detail(api, statuses["queued"]["number"]).json()
    assert queued["started"] is None and queued["finished"] is None and queued["worker"] is None
    assert queued["delayed"] == str(int(datetime(2999, 1, 1, tzinfo=UTC).timestamp()))  # runAt
    running = detail(api, statuses["running"]["number"]).json()
    assert running["started"] is not None and running["finished"] is None
    assert isinstance(running["worker"], int)


def test_expires_retried_and_retries(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    expiring = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE, expires="3000-01-01T00:00:00+00:00")
    assert detail(api, expiring["number"]).json()["expires"] == str(int(datetime(3000, 1, 1, tzinfo=UTC).timestamp()))
    failed = statuses["failed"]
    api.gql("mutation($id: ID!) { retryJob(jobId: $id) { jobId } }", {"id": failed["jobId"]})
    api.wait_for(failed["jobId"])
    body = detail(api, failed["number"]).json()
    assert body["retries"] == 1
    assert EPOCH.match(body["retried"])
    assert body["attempts"] == 2


def test_args_are_the_input_as_an_array(api: Api) -> None:
    cases: list[Any] = [[1, "two", {"three": 3}], {"a": 1}, "text", 5, None, []]
    for value in cases:
        job = api.create_job("jobgraph.echo", value, runAt=FAR_FUTURE)
        expected = value if isinstance(value, list) else [value]
        assert detail(api, job["number"]).json()["args"] == expected, value


def test_unit_mappings() -> None:
    assert minion.minion_args([1, 2]) == [1, 2]
    assert minion.minion_args({"a": 1}) == [{"a": 1}]
    assert minion.minion_args(None) == [None]
    assert minion.minion_time(None) is None
    assert minion.minion_time(datetime(2020, 9, 26, 18, 30, 4, 999999, tzinfo=UTC)) == "1601145004"
    assert minion.minion_time(datetime(2020, 9, 26, 18, 30, 4)) == "1601145004"  # naive is UTC
    assert minion.minion_error("failed", "boom") == "boom"
    assert minion.minion_error("cancelled", None) == minion.CANCELLED
    assert minion.minion_error("finished", None) is None


def test_parents_children_lax_priority_queue_and_notes(api: Api) -> None:
    parent = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    child = api.create_job(
        "jobgraph.echo", {}, parents=[parent["jobId"]], lax=True, priority=7, queue="special", notes={"k": "v"}
    )
    child_body = detail(api, child["number"]).json()
    assert child_body["parents"] == [parent["number"]]
    assert (child_body["lax"], child_body["priority"], child_body["queue"]) == (1, 7, "special")
    assert child_body["notes"] == {"k": "v"}
    assert status(api, child["number"]).json()["notes"] == {"k": "v"}
    assert detail(api, parent["number"]).json()["children"] == [child["number"]]
    assert detail(api, parent["number"]).json()["lax"] == 0


def test_relatives_the_caller_may_not_see_are_left_out(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    parent = api.create_job("jobgraph.echo", {}, token=owner, runAt=FAR_FUTURE)
    child = api.create_job("jobgraph.echo", {}, parents=[parent["jobId"]])  # the admin's child of owner's job
    assert detail(api, parent["number"], token=owner).json()["children"] == []
    assert detail(api, parent["number"]).json()["children"] == [child["number"]]


# ---------------------------------------------------------------- authentication


def test_status_needs_no_token(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    job = api.create_job("jobgraph.echo", {"secret": 1}, token=owner, runAt=FAR_FUTURE)
    body = status(api, job["number"]).json()
    assert body == {"state": "inactive", "task": "echo", "error": None, "notes": {}}  # no input, no owner


def test_detail_needs_a_valid_token_given_plain_or_base64(api: Api) -> None:
    job = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE)
    missing = api.client.get(f"/api/minion/{job['number']}/detail")
    assert missing.status_code == 401
    assert missing.json() == {"operation": "minion_job_detail", "error": missing.json()["error"], "success": 0}
    assert missing.headers["www-authenticate"] == "Bearer"
    assert detail(api, job["number"], token="wrong-token-0000000000").status_code == 401
    assert detail(api, job["number"], headers=b64("wrong-token-0000000000")).status_code == 401
    assert detail(api, job["number"], headers={"Authorization": "Bearer !!!"}).status_code == 401
    assert detail(api, job["number"]).status_code == 200
    assert detail(api, job["number"], headers=b64(api.token)).status_code == 200


def test_another_users_job_is_no_job_unless_the_caller_manages_jobs(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    other = api.user("other@example.com", ["executePlugin"])
    manager = api.user("manager@example.com", ["manageJobs"])
    job = api.create_job("jobgraph.echo", {}, token=owner, runAt=FAR_FUTURE)
    assert detail(api, job["number"], token=owner).status_code == 200
    hidden = detail(api, job["number"], token=other)
    missing = detail(api, 10_000, token=other)
    assert hidden.status_code == missing.status_code == 400  # LANraragi's answer to an unknown job
    assert hidden.json() == missing.json() == {"operation": "minion_job_detail", "error": minion.NO_JOB, "success": 0}
    assert detail(api, job["number"], token=manager).status_code == 200


def test_queue_needs_a_token_and_execute_plugin(api: Api) -> None:
    before = job_count(api)
    assert api.client.post("/api/minion/echo/queue").status_code == 401
    assert enqueue(api, "echo", token="wrong-token-0000000000").status_code == 401
    reader = api.user("reader@example.com", ["manageJobs"])
    refused = enqueue(api, "echo", token=reader)
    assert refused.status_code == 403
    assert refused.json()["operation"] == "queue_minion_job" and refused.json()["success"] == 0
    assert "executePlugin" in refused.json()["error"]
    assert job_count(api) == before
    runner = api.user("runner@example.com", ["executePlugin"])
    assert enqueue(api, "echo", token=runner, args="[]").status_code == 200
    response = api.client.post("/api/minion/echo/queue", headers=b64(runner))
    assert response.status_code == 200
    assert job_count(api) == before + 2


# ---------------------------------------------------------------- cross-view


def test_a_job_queued_here_is_the_same_job_in_graphql(any_api: Api) -> None:
    api = any_api
    runner = api.user("runner@example.com", ["executePlugin"])
    response = enqueue(api, "jobgraph.echo", token=runner, args='["a", {"b": 2}]', priority="4")
    assert response.status_code == 200
    body = response.json()
    assert body == {"operation": "queue_minion_job", "success": 1, "job": body["job"]}
    job_id = gql_job_id(api, body["job"])
    api.wait_for(job_id)
    seen = gql_job(api, job_id, token=runner)
    assert seen is not None
    assert seen["number"] == body["job"]
    assert seen["input"] == ["a", {"b": 2}]
    assert seen["priority"] == 4
    assert seen["plugin"]["pluginId"] == "jobgraph.echo"
    assert seen["user"]["email"] == "runner@example.com"
    info = detail(api, body["job"], token=runner).json()
    assert info["state"] == minion.STATE[seen["status"]] == "finished"
    assert info["result"] == seen["result"] == {"input": ["a", {"b": 2}], "series": []}


def test_a_job_made_in_graphql_is_the_same_job_here(api: Api) -> None:
    job = api.create_job("jobgraph.echo", {"x": 1}, runAt=FAR_FUTURE, priority=3)
    info = detail(api, job["number"]).json()
    assert (info["id"], info["args"], info["priority"], info["state"], info["task"]) == (
        job["number"],
        [{"x": 1}],
        3,
        "inactive",
        "echo",
    )
    api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { jobId } }", {"id": job["jobId"]})
    assert status(api, job["number"]).json()["state"] == "failed"
    assert detail(api, job["number"]).json()["result"] == minion.CANCELLED


def test_task_is_a_plugin_id_or_a_name(api: Api) -> None:
    by_name = enqueue(api, "noop", args="[]").json()["job"]
    by_id = enqueue(api, "jobgraph.noop", args="[]").json()["job"]
    for number in (by_name, by_id):
        assert gql_job(api, gql_job_id(api, number))["plugin"]["pluginId"] == "jobgraph.noop"  # type: ignore[index]


def test_args_and_priority_may_come_as_form_fields(api: Api) -> None:
    response = api.client.post("/api/minion/echo/queue", data={"args": "[42]", "priority": "2"}, headers=api.headers())
    assert response.status_code == 200
    seen = gql_job(api, gql_job_id(api, response.json()["job"]))
    assert seen is not None and seen["input"] == [42] and seen["priority"] == 2


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "1.5", "1e3", "9" * 30, "%201", "0x10", "99999999"])
def test_ids_that_name_no_job_are_answered_as_lanraragi_answers_them(api: Api, raw: str) -> None:
    """LANraragi's OpenAPI document and its Minion controller: 400 with its operation envelope."""
    for response, operation in ((status(api, raw), "minion_job_status"), (detail(api, raw), "minion_job_detail")):
        assert response.status_code == 400, (raw, response.text)
        assert response.json() == {"operation": operation, "error": minion.NO_JOB, "success": 0}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"args": "not json"}, 400),
        ({"args": "[1, 2"}, 400),
        ({"args": '{"a": 1}'}, 400),
        ({"args": '"x"'}, 400),
        ({"args": "[]", "priority": "high"}, 400),
        ({"args": "[]", "priority": "1.5"}, 400),
        ({"args": "[]", "priority": str(2**31)}, 400),
        ({"args": "[]", "priority": "1" + "0" * 40}, 400),
        ({"args": "[NaN]"}, 400),
        ({"args": "[1, -Infinity]"}, 400),
        ({"args": "[" * 3000 + "]" * 3000}, 400),
        ({"args": "[" * 65 + "]" * 65}, 400),
    ],
)
def test_bad_queue_parameters_are_400_and_create_nothing(api: Api, params: dict[str, str], code: int) -> None:
    before = job_count(api)
    response = enqueue(api, "echo", **params)
    assert response.status_code == code, response.text
    assert response.json()["success"] == 0 and isinstance(response.json()["error"], str)
    assert job_count(api) == before


def test_args_may_nest_64_levels(api: Api) -> None:
    response = enqueue(api, "echo", args="[" * 64 + "]" * 64)
    assert response.status_code == 200
    seen = gql_job(api, gql_job_id(api, response.json()["job"]))
    assert seen is not None and json.dumps(seen["input"]) == "[" * 64 + "]" * 64


def test_unknown_disabled_or_refusing_plugins(api: Api) -> None:
    before = job_count(api)
    unknown = enqueue(api, "no-such-task", args="[]")
    assert unknown.status_code == 404 and "no-such-task" in unknown.json()["error"]
    refused = enqueue(api, "slow", args="[1]")  # slow's inputSchema wants an object or null
    assert refused.status_code == 400 and refused.json()["error"]
    api.gql('mutation { setPluginEnabled(pluginId: "jobgraph.noop", enabled: false) { enabled } }')
    disabled = enqueue(api, "noop", args="[]")
    assert disabled.status_code == 409 and "disabled" in disabled.json()["error"]
    assert job_count(api) == before


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/minion/1", {"GET", "HEAD"}),
        ("DELETE", "/api/minion/1", {"GET", "HEAD"}),
        ("PUT", "/api/minion/1/detail", {"GET", "HEAD"}),
        ("GET", "/api/minion/echo/queue", {"POST"}),
    ],
)
def test_other_methods_are_405_with_allow_and_json(api: Api, method: str, path: str, allowed: set[str]) -> None:
    response = api.client.request(method, path, headers=api.headers())
    assert response.status_code == 405
    assert response.json()["error"]
    assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed


def test_openapi_fragment_describes_the_routes() -> None:
    check_openapi(minion, "Minion")
    paths = minion.OPENAPI["paths"]
    assert paths["/api/minion/{id}"]["get"]["security"] == [{}, {"bearer": []}]  # none by default; JOBGRAPH_MINION_STATUS=token needs one
    assert paths["/api/minion/{id}/detail"]["get"]["security"] == [{"bearer": []}]
    schemas = minion.OPENAPI["components"]["schemas"]
    assert sorted(schemas["MinionJobInfo"]["required"]) == sorted(SEED_DETAIL)
    assert sorted(schemas["MinionJobStatus"]["required"]) == sorted([*SEED_STATUS_FINISHED, "notes"])


# ---------------------------------------------------------------- progress in notes


def test_status_shows_a_running_plugins_progress_in_notes_as_it_wrote_it(any_api: Api) -> None:
    """LANraragi's status route answers the job's notes as they are (Minion's `$job->note`);
    jobgraph's plugins write their progress there (`notes.progress`, 0..1), read here without a
    token while the job runs."""
    api = any_api
    job = api.create_job("jobgraph.slow", {"seconds": 120, "steps": 1200}, notes={"upload": "file.zip"})
    seen: dict[str, Any] = {}

    def progressing() -> bool:
        body = status(api, job["number"]).json()
        seen.update(body)
        return body["state"] == "active" and 0 < body["notes"].get("progress", 0) < 1

    wait_for_event(api.rt, progressing, lambda e: e.job_id == job["jobId"], 60, "progress in the status notes")
    assert seen["notes"]["upload"] == "file.zip"  # the notes given at creation stay beside it
    assert set(detail(api, job["number"]).json()["notes"]) == set(seen["notes"]) == {"upload", "progress"}
    cancel_response = api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { jobId } }", {"id": job["jobId"]})
    assert cancel_response["cancelJob"]["jobId"] == job["jobId"]
    api.wait_for(job["jobId"])
    assert status(api, job["number"]).json()["state"] == "failed"  # cancelled: Minion has no such state
