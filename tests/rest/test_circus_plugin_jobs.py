"""CIRCUS's plugin-job routes (`/api/plugin-jobs`, `/api/plugin-job-queue`), as CIRCUS's own
circus-api defines them: shapes, status codes, the duplicate guard (and GraphQL's `unique`),
search, feedback, attachments, and who may do what."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobgraph.rest import circus
from tests.rest.helpers import (
    FAR_FUTURE,
    ISO_MS_Z,
    check_openapi,
    command_plugin,
    gql_job,
    job_count,
    register_series,
)
from tests.support import Api

JOBS = "/api/plugin-jobs"
SERIES_A = "1.2.840.10"
SERIES_B = "1.2.840.20"
VOLUME = {"start": 1, "end": 50, "delta": 1}
RECORD_KEYS = [
    "jobId",
    "pluginId",
    "userEmail",
    "status",
    "series",
    "errorMessage",
    "startedAt",
    "finishedAt",
    "feedbacks",
    "results",
    "createdAt",
    "updatedAt",
]


def setup_series(api: Api) -> None:
    register_series(api, SERIES_A, image_count=100)
    register_series(api, SERIES_B, image_count=100)


def new_job(api: Api, body: Any, token: str | None = None) -> Any:
    return api.client.post(JOBS, json=body, headers=api.headers(token))


def circus_body(plugin: str = "jobgraph.echo", **extra: Any) -> dict[str, Any]:
    return {"pluginId": plugin, "series": [{"seriesUid": SERIES_A, "partialVolumeDescriptor": VOLUME}], **extra}


def search(api: Api, token: str | None = None, **params: Any) -> Any:
    query = {k: json.dumps(v) if k in ("filter", "sort") else v for k, v in params.items()}
    return api.client.get(JOBS, params=query, headers=api.headers(token))


def patch(api: Api, job_id: str, body: Any, token: str | None = None) -> Any:
    return api.client.patch(f"{JOBS}/{job_id}", json=body, headers=api.headers(token))


def feedback(api: Api, job_id: str, kind: str, body: Any, token: str | None = None) -> Any:
    return api.client.post(f"{JOBS}/{job_id}/feedback/{kind}", json=body, headers=api.headers(token))


def parked(api: Api, token: str | None = None, **fields: Any) -> dict[str, Any]:
    """A job that stays queued (it may run only in the far future)."""
    return api.create_job("jobgraph.echo", {}, token=token, runAt=FAR_FUTURE, **fields)


def finished(api: Api, token: str | None = None, **fields: Any) -> str:
    job = api.create_job("jobgraph.echo", {"x": 1}, token=token, **fields)
    assert api.wait_for(job["jobId"])["status"] == "finished"
    return str(job["jobId"])


# ---------------------------------------------------------------- creating, and the duplicate guard


def test_a_job_created_here_is_the_same_job_in_graphql(any_api: Api) -> None:
    api = any_api
    setup_series(api)
    before = job_count(api)
    body = {
        "pluginId": "jobgraph.echo",
        "series": [
            {"seriesUid": SERIES_A, "partialVolumeDescriptor": VOLUME},
            {"seriesUid": SERIES_B, "partialVolumeDescriptor": "auto"},
        ],
        "priority": 5,
    }
    response = new_job(api, body)
    assert response.status_code == 201
    assert list(response.json()) == ["jobId"]
    job = gql_job(api, response.json()["jobId"])
    assert job is not None and job["priority"] == 5 and job["plugin"]["pluginId"] == "jobgraph.echo"
    assert job["series"] == [
        {"seriesUid": SERIES_A, "partialVolumeDescriptor": VOLUME},
        {"seriesUid": SERIES_B, "partialVolumeDescriptor": None},  # "auto": the whole series
    ]
    assert job_count(api) == before + 1


def test_the_same_plugin_on_the_same_series_again_is_refused_unless_forced(any_api: Api) -> None:
    api = any_api
    setup_series(api)
    first = new_job(api, circus_body())
    assert first.status_code == 201
    api.wait_for(first.json()["jobId"])  # finished: still a duplicate, as CIRCUS has it
    before = job_count(api)
    again = new_job(api, circus_body())
    assert again.status_code == 400
    assert "duplicate" in again.json()["error"] and first.json()["jobId"] in again.json()["error"]
    assert job_count(api) == before
    # Other series, another volume, another order or another plugin: no duplicate.
    other_volume = circus_body(series=[{"seriesUid": SERIES_A, "partialVolumeDescriptor": {**VOLUME, "end": 60}}])
    assert new_job(api, other_volume).status_code == 201
    assert new_job(api, circus_body(plugin="jobgraph.noop")).status_code == 201
    forced = new_job(api, circus_body(force=True))
    assert forced.status_code == 201 and forced.json()["jobId"] != first.json()["jobId"]


def test_another_users_duplicate_is_refused_without_naming_it(api: Api) -> None:
    setup_series(api)
    other = api.user("other@example.com", ["executePlugin"])
    mine = new_job(api, circus_body()).json()["jobId"]
    refused = new_job(api, circus_body(), token=other)
    assert refused.status_code == 400 and "duplicate" in refused.json()["error"]
    assert mine not in refused.json()["error"]  # ids leak nothing


def test_failed_cancelled_and_invalidated_jobs_are_no_duplicates(api: Api) -> None:
    setup_series(api)
    series = [{"seriesUid": SERIES_A, "partialVolumeDescriptor": VOLUME}]
    cancelled = parked(api, series=series)
    assert patch(api, cancelled["jobId"], {"status": "cancelled"}).status_code == 204
    invalidated = finished(api, series=[{"seriesUid": SERIES_B, "partialVolumeDescriptor": VOLUME}])
    assert patch(api, invalidated, {"status": "invalidated"}).status_code == 204
    assert new_job(api, circus_body()).status_code == 201
    assert (
        new_job(api, circus_body(series=[{"seriesUid": SERIES_B, "partialVolumeDescriptor": VOLUME}])).status_code
        == 201
    )


def test_graphql_asks_for_the_guard_with_unique(any_api: Api) -> None:
    api = any_api
    setup_series(api)
    series = [{"seriesUid": SERIES_A, "partialVolumeDescriptor": VOLUME}]
    first = parked(api, series=series, unique=True)
    parked(api, series=series)  # without unique: GraphQL creates the same job again, as before
    mutation = "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }"
    spec = {"pluginId": "jobgraph.echo", "input": {}, "runAt": FAR_FUTURE, "series": series, "unique": True}
    errors = api.gql(mutation, {"i": spec}, expect_errors=True)["errors"]
    assert errors[0]["extensions"]["code"] == "CONFLICT" and first["jobId"] in errors[0]["message"]
    # The CIRCUS route sees the jobs GraphQL made (one guard, in the use case).
    assert new_job(api, circus_body()).status_code == 400
    # In a batch, a duplicate of another job of the batch is refused too, and nothing is created.
    before = job_count(api)
    other = {**spec, "series": [{"seriesUid": SERIES_B, "partialVolumeDescriptor": VOLUME}]}
    batch = "mutation($a: [CreateJobInput!]!) { createJobs(inputs: $a) { jobId } }"
    errors = api.gql(batch, {"a": [other, other]}, expect_errors=True)["errors"]
    assert errors[0]["extensions"]["code"] == "CONFLICT" and "inputs[1]" in errors[0]["message"]
    assert job_count(api) == before
    assert len(api.gql(batch, {"a": [other, {**other, "unique": False}]})["createJobs"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"pluginId": "jobgraph.echo"},
        {"pluginId": "jobgraph.echo", "series": []},
        {"pluginId": 5, "series": [{"seriesUid": SERIES_A, "partialVolumeDescriptor": "auto"}]},
        {"pluginId": "jobgraph.echo", "series": [{"seriesUid": SERIES_A}]},  # CIRCUS needs the descriptor
        {"pluginId": "jobgraph.echo", "series": [{"seriesUid": SERIES_A, "partialVolumeDescriptor": "some"}]},
        {"pluginId": "jobgraph.echo", "series": [{"seriesUid": SERIES_A, "partialVolumeDescriptor": VOLUME}], "x": 1},
        {"pluginId": "jobgraph.echo", "series": [{"seriesUid": "9.9.9", "partialVolumeDescriptor": "auto"}]},
        {
            "pluginId": "jobgraph.echo",
            "series": [{"seriesUid": SERIES_A, "partialVolumeDescriptor": {**VOLUME, "end": 500}}],
        },
        circus_body(priority="high"),
        circus_body(priority=2**40),
        circus_body(force="yes"),
    ],
)
def test_bad_bodies_are_400_and_create_nothing(api: Api, body: Any) -> None:
    setup_series(api)
    before = job_count(api)
    response = api.client.post(JOBS, content=b"" if body is None else json.dumps(body), headers=api.headers())
    assert response.status_code == 400, (body, response.text)
    assert isinstance(response.json()["error"], str)
    assert job_count(api) == before


def test_creating_needs_execute_plugin_and_a_known_plugin(api: Api) -> None:
    setup_series(api)
    reader = api.user("reader@example.com", [])
    assert new_job(api, circus_body(), token=reader).status_code == 403
    assert new_job(api, circus_body(plugin="no.such.plugin")).status_code == 404


# ---------------------------------------------------------------- reading, cancelling, invalidating


def test_a_job_reads_as_circus_shows_it_to_whoever_may_see_it(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    other = api.user("other@example.com", ["executePlugin"])
    job_id = finished(api, token=owner)
    record = api.client.get(f"{JOBS}/{job_id}", headers=api.headers(owner)).json()
    assert list(record) == RECORD_KEYS
    assert (record["jobId"], record["status"], record["userEmail"]) == (job_id, "finished", "owner@example.com")
    assert record["results"] == {"input": {"x": 1}, "series": []}
    assert ISO_MS_Z.match(record["finishedAt"])
    admin_view = api.client.get("/api/admin/plugin-job-queue", headers=api.headers()).json()
    assert next(r for r in admin_view if r["jobId"] == job_id) == record  # one record, two routes
    hidden = api.client.get(f"{JOBS}/{job_id}", headers=api.headers(other))
    missing = api.client.get(f"{JOBS}/{'0' * 26}", headers=api.headers(other))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace(job_id, "X") == missing.json()["error"].replace("0" * 26, "X")


def test_patch_cancels_or_invalidates_with_circus_status_codes(any_api: Api) -> None:
    api = any_api
    owner = api.user("owner@example.com", ["executePlugin"])
    queued = parked(api, token=owner)
    assert patch(api, queued["jobId"], {"status": "cancelled"}, token=owner).status_code == 204
    assert api.job(queued["jobId"])["status"] == "cancelled"
    again = patch(api, queued["jobId"], {"status": "cancelled"}, token=owner)
    assert again.status_code == 422 and "cancelled" in again.json()["error"]
    done = finished(api, token=owner)
    refused = patch(api, done, {"status": "invalidated"}, token=owner)
    assert refused.status_code == 403  # invalidating needs manageJobs (CIRCUS: 401)
    assert patch(api, done, {"status": "invalidated"}).status_code == 204
    assert api.job(done)["status"] == "invalidated"
    assert patch(api, done, {"status": "invalidated"}).status_code == 422
    still_queued = parked(api, token=owner)
    assert patch(api, still_queued["jobId"], {"status": "invalidated"}).status_code == 422


def test_patch_of_another_users_job_or_a_bad_body(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    other = api.user("other@example.com", ["executePlugin"])
    job = parked(api, token=owner)
    assert patch(api, job["jobId"], {"status": "cancelled"}, token=other).status_code == 404
    for body in ({}, {"status": "finished"}, {"status": "cancelled", "x": 1}, [], "cancelled"):
        assert patch(api, job["jobId"], body, token=owner).status_code == 400, body
    assert api.client.patch(f"{JOBS}/{job['jobId']}", content=b"{", headers=api.headers(owner)).status_code == 400
    assert api.job(job["jobId"])["status"] == "queued"


# ---------------------------------------------------------------- search


def test_search_answers_items_total_and_page_of_what_the_caller_may_see(any_api: Api) -> None:
    api = any_api
    setup_series(api)
    owner = api.user("owner@example.com", ["executePlugin"])
    mine = [parked(api, token=owner)["jobId"] for _ in range(3)]
    on_series = parked(api, token=owner, series=[{"seriesUid": SERIES_B, "partialVolumeDescriptor": None}])["jobId"]
    admins = finished(api)
    body = search(api, owner, limit=2, page=1).json()
    assert sorted(body) == ["items", "page", "totalItems"]
    assert (body["totalItems"], body["page"], len(body["items"])) == (4, 1, 2)
    assert [i["jobId"] for i in body["items"]] == [on_series, mine[2]]  # newest first by default
    assert "results" not in body["items"][0]  # CIRCUS's search leaves results out
    assert [i["jobId"] for i in search(api, owner, limit=2, page=2).json()["items"]] == [mine[1], mine[0]]
    everything = {i["jobId"] for i in search(api, limit=200).json()["items"]}
    assert {admins, *mine, on_series} <= everything  # manageJobs sees every job

    def ids(token: str | None = None, **params: Any) -> list[str]:
        response = search(api, token, **params)
        assert response.status_code == 200, response.text
        return [i["jobId"] for i in response.json()["items"]]

    assert ids(filter={"status": "finished"}) == [admins]
    assert ids(owner, filter={"status": "finished"}) == []
    assert set(ids(owner, filter={"status": {"$in": ["in_queue", "processing"]}})) == {*mine, on_series}
    assert ids(filter={"status": {"$ne": "in_queue"}, "pluginId": "jobgraph.echo"}) == [admins]
    assert ids(owner, filter={"seriesUid": SERIES_B}) == [on_series]
    assert ids(owner, filter={"jobId": mine[1]}) == [mine[1]]
    assert ids(
        owner, filter={"$and": [{"jobId": {"$in": mine}}, {"pluginId": "jobgraph.echo"}, {"jobId": mine[0]}]}
    ) == [mine[0]]
    created = api.client.get(f"{JOBS}/{mine[0]}", headers=api.headers(owner)).json()["createdAt"]
    assert set(ids(owner, filter={"createdAt": {"$gte": {"$date": created}}})) == {*mine, on_series}
    assert ids(owner, filter={"createdAt": {"$gt": {"$date": "2999-01-01T00:00:00.000Z"}}}) == []
    assert ids(owner, filter={"createdAt": {"$lt": "2000-01-01T00:00:00Z"}, "status": "in_queue"}) == []
    assert ids(owner, filter={"finishedAt": {"$lt": {"$date": "2999-01-01T00:00:00.000Z"}}}) == []  # none ended
    assert ids(owner, sort={"createdAt": 1}) == [*mine, on_series]
    assert ids(owner, sort={"jobId": 1}) == sorted([*mine, on_series])


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "{"},
        {"filter": "[]"},
        {"filter": json.dumps({"$or": [{"status": "finished"}]})},
        {"filter": json.dumps({"patientInfo.patientName": "Sakura"})},
        {"filter": json.dumps({"status": "done"})},
        {"filter": json.dumps({"status": {"$regex": "x"}})},
        {"filter": json.dumps({"createdAt": {"$gt": "yesterday"}})},
        {"filter": json.dumps({"pluginId": {"$in": "x"}})},
        {"sort": "{"},
        {"sort": json.dumps({"createdAt": 2})},
        {"sort": json.dumps({"unknown": 1})},
        {"sort": json.dumps({k: 1 for k in ["jobId", "pluginId", "status", "createdAt", "updatedAt", "finishedAt"]})},
        {"limit": "201"},
        {"limit": "0"},
        {"page": "0"},
    ],
)
def test_bad_search_parameters_are_400(api: Api, params: dict[str, str]) -> None:
    response = api.client.get(JOBS, params=params, headers=api.headers())
    assert response.status_code == 400, (params, response.text)
    assert response.json()["error"]


# ---------------------------------------------------------------- the caller's own queue


def test_an_ordinary_user_sees_their_own_queue(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    other = api.user("other@example.com", ["executePlugin"])
    low = parked(api, token=owner, priority=1)["jobId"]
    high = parked(api, token=owner, priority=9)["jobId"]
    theirs = parked(api, token=other)["jobId"]
    finished(api, token=owner)  # not in the queue any more

    def queue(token: str | None, **params: Any) -> Any:
        response = api.client.get("/api/plugin-job-queue", params=params, headers=api.headers(token))
        assert response.status_code == 200, response.text
        return response.json()

    body = queue(owner)
    assert (body["totalItems"], body["page"]) == (2, 1)
    assert [i["jobId"] for i in body["items"]] == [high, low]  # dispatch order
    assert list(body["items"][0]) == RECORD_KEYS
    assert queue(owner, state="processing")["items"] == []
    assert [i["jobId"] for i in queue(owner, state="wait", limit=1, page=2)["items"]] == [low]
    assert [i["jobId"] for i in queue(other)["items"]] == [theirs]
    assert {high, low, theirs} <= {i["jobId"] for i in queue(None)["items"]}  # manageJobs: every user's
    assert api.client.get("/api/plugin-job-queue", params={"state": "x"}, headers=api.headers(owner)).status_code == 400


# ---------------------------------------------------------------- feedback


def test_feedback_routes_follow_circus_rules_and_codes(any_api: Api) -> None:
    api = any_api
    alice = api.user("alice@example.com", ["executePlugin", "inputPersonalFeedback"])
    bob = api.user("bob@example.com", ["inputPersonalFeedback", "manageJobs"])
    job_id = finished(api, token=alice)
    assert feedback(api, parked(api, token=alice)["jobId"], "personal", {"data": {}}, alice).status_code == 400
    first = feedback(api, job_id, "personal", {"data": {"ok": True}, "actionLog": []}, alice)
    assert first.status_code == 200 and list(first.json()) == ["feedbackId"]
    twice = feedback(api, job_id, "personal", {"data": {"ok": False}}, alice)
    assert twice.status_code == 400 and "already" in twice.json()["error"]
    assert feedback(api, job_id, "consensual", {"data": {}}, alice).status_code == 403  # no such privilege
    assert feedback(api, job_id, "personal", {"data": {}, "x": 1}, bob).status_code == 400
    bobs = feedback(api, job_id, "personal", {"data": {"ok": False}}, bob).json()["feedbackId"]
    consensual = feedback(api, job_id, "consensual", {"data": {"ok": True}}).json()["feedbackId"]
    late = feedback(api, job_id, "personal", {"data": {}}).status_code
    assert late == 400  # no personal feedback after the consensual one

    listed = api.client.get(f"{JOBS}/{job_id}/feedback", headers=api.headers(alice)).json()
    assert [f["feedbackId"] for f in listed] == [first.json()["feedbackId"], bobs, consensual]
    assert list(listed[0]) == ["feedbackId", "userEmail", "isConsensual", "data", "actionLog", "createdAt"]
    assert (listed[0]["userEmail"], listed[2]["isConsensual"]) == ("alice@example.com", True)

    def delete(feedback_id: str, token: str | None = None) -> Any:
        return api.client.delete(f"{JOBS}/{job_id}/feedback/{feedback_id}", headers=api.headers(token))

    assert delete(bobs, alice).status_code == 403  # manageFeedback (CIRCUS: 401)
    assert delete(bobs).status_code == 400  # a personal one while the consensual one stands
    assert delete("0" * 26).status_code == 404
    assert delete(consensual).status_code == 204
    assert delete(bobs).status_code == 204
    assert [f["feedbackId"] for f in api.client.get(f"{JOBS}/{job_id}/feedback", headers=api.headers()).json()] == [
        first.json()["feedbackId"]
    ]
    assert delete("all").status_code == 204
    assert api.client.get(f"{JOBS}/{job_id}/feedback", headers=api.headers()).json() == []
    assert gql_job(api, job_id) is not None


# ---------------------------------------------------------------- attachments


def test_attachments_list_and_serve_the_jobs_output_files(api: Api) -> None:
    code = (
        "import pathlib; o = pathlib.Path('output'); (o / 'sub').mkdir(parents=True, exist_ok=True); "
        "(o / 'report.txt').write_text('hello'); (o / 'sub' / 'data.json').write_text('{\"a\": 1}')"
    )
    command_plugin(api, "test.files", code, name="files")
    owner = api.user("owner@example.com", ["executePlugin"])
    other = api.user("other@example.com", ["executePlugin"])
    job = api.create_job("test.files", {}, token=owner)
    assert api.wait_for(job["jobId"])["status"] == "finished"
    listed = api.client.get(f"{JOBS}/{job['jobId']}/attachment", headers=api.headers(owner))
    assert listed.status_code == 200 and sorted(listed.json()) == ["report.txt", "sub/data.json"]
    report = api.client.get(f"{JOBS}/{job['jobId']}/attachment/report.txt", headers=api.headers(owner))
    assert (report.status_code, report.text) == (200, "hello")
    assert report.headers["content-type"].startswith("text/plain")
    nested = api.client.get(f"{JOBS}/{job['jobId']}/attachment/sub/data.json", headers=api.headers(owner))
    assert nested.status_code == 200 and nested.json() == {"a": 1}
    assert api.client.get(f"{JOBS}/{job['jobId']}/attachment/nope.txt", headers=api.headers(owner)).status_code == 404
    climbing = api.client.get(f"{JOBS}/{job['jobId']}/attachment/sub/%2E%2E/%2E%2E/x", headers=api.headers(owner))
    assert climbing.status_code in (400, 404)
    assert api.client.get(f"{JOBS}/{job['jobId']}/attachment", headers=api.headers(other)).status_code == 404
    assert api.client.get(f"{JOBS}/{job['jobId']}/attachment/report.txt", headers=api.headers(other)).status_code == 404


# ---------------------------------------------------------------- authentication, methods, OpenAPI


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", JOBS),
        ("POST", JOBS),
        ("GET", f"{JOBS}/{'0' * 26}"),
        ("PATCH", f"{JOBS}/{'0' * 26}"),
        ("GET", f"{JOBS}/{'0' * 26}/feedback"),
        ("POST", f"{JOBS}/{'0' * 26}/feedback/personal"),
        ("POST", f"{JOBS}/{'0' * 26}/feedback/consensual"),
        ("DELETE", f"{JOBS}/{'0' * 26}/feedback/all"),
        ("GET", f"{JOBS}/{'0' * 26}/attachment"),
        ("GET", f"{JOBS}/{'0' * 26}/attachment/a.txt"),
        ("GET", "/api/plugin-job-queue"),
    ],
)
def test_every_route_needs_a_valid_token(api: Api, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0000000000"}):
        response = api.client.request(method, path, json={}, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]


def test_other_methods_are_405_with_allow(api: Api) -> None:
    response = api.client.delete(JOBS, headers=api.headers())
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


def test_openapi_fragment_describes_the_routes() -> None:
    check_openapi(circus, "Circus")
