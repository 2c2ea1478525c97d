"""CIRCUS `GET /api/admin/plugin-job-queue`: conformance with the seed, mappings, auth, views, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from jobgraph.db.models import JOB_STATUSES
from jobgraph.resolvers import users
from jobgraph.rest import circus, circus_openapi
from tests.rest.helpers import (
    FAR_FUTURE,
    ISO_MS_Z,
    add_feedback,
    assert_conforms,
    check_openapi,
    gql_job,
    job_count,
    parse_time,
    register_series,
    result_plugin,
    statements_on_this_thread,
)
from tests.support import Api, unit_call

PATH = "/api/admin/plugin-job-queue"

# The seed's documented response (seeds/000_*.txt), as given.
SEED_EXAMPLE: list[dict[str, Any]] = [
    {
        "jobId": "9sc3q3kcx7tcx1a7ppjvwfpj1j",
        "pluginId": "85w1yc7xbzqjr7daf8mu6p2qj7f6a6vegzy4k9nf3vewv7sy32kvjrar49k70h3n",
        "userEmail": "user1@example.com",
        "status": "finished",
        "series": [
            {"seriesUid": "111.222.333.444.555", "partialVolumeDescriptor": {"start": 1, "end": 100, "delta": 1}},
            {"seriesUid": "111.222.333.444.666", "partialVolumeDescriptor": {"start": 1, "end": 100, "delta": 1}},
        ],
        "errorMessage": None,
        "startedAt": "2023-01-10T00:00:00.000Z",
        "finishedAt": "2023-01-10T00:01:00.000Z",
        "feedbacks": [
            {
                "feedbackId": "5rxtnshpmhyyzry17d5k7jsbd7",
                "userEmail": "user1@example.com",
                "isConsensual": False,
                "data": {"lesionCandidates": []},
                "actionLog": [],
                "createdAt": "2023-01-10T00:10:00.000Z",
            }
        ],
        "results": {},
        "createdAt": "2023-01-10T00:00:00.000Z",
        "updatedAt": "2023-01-10T00:01:00.000Z",
    }
]
IDS_AND_TIMES = {"jobId", "feedbackId", "startedAt", "finishedAt", "createdAt", "updatedAt"}
DATE_KEYS = ("startedAt", "finishedAt", "createdAt", "updatedAt")


def queue(api: Api, token: str | None = None, **params: Any) -> Any:
    return api.client.get(PATH, params=params, headers=api.headers(token))


def seed_job(api: Api) -> tuple[str, str]:
    """What the seed shows: its plugin, user1, two series with partial volumes, a finished job
    whose result is {}, and user1's personal feedback. Returns (jobId, user1's token)."""
    plugin_id = SEED_EXAMPLE[0]["pluginId"]
    result_plugin(api, plugin_id, "{}", name="lesion-cad")
    for uid in ("111.222.333.444.555", "111.222.333.444.666"):
        register_series(api, uid, image_count=120)
    user1 = api.user("user1@example.com", ["executePlugin", "inputPersonalFeedback"])
    volume = {"start": 1, "end": 100, "delta": 1}
    job = api.create_job(
        plugin_id,
        None,
        token=user1,
        series=[
            {"seriesUid": "111.222.333.444.555", "partialVolumeDescriptor": volume},
            {"seriesUid": "111.222.333.444.666", "partialVolumeDescriptor": volume},
        ],
    )
    assert api.wait_for(job["jobId"])["status"] == "finished"
    add_feedback(api, job["jobId"], {"lesionCandidates": []}, token=user1)
    return job["jobId"], user1


# ---------------------------------------------------------------- conformance


def test_answers_the_seed_example_key_by_key_and_type_by_type(any_api: Api) -> None:
    job_id, _ = seed_job(any_api)
    response = queue(any_api)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-total-count"] == "1"
    body = response.json()
    assert_conforms(body, SEED_EXAMPLE, ignore_values=IDS_AND_TIMES)  # ids and times aside
    record = body[0]
    assert list(record) == list(SEED_EXAMPLE[0])  # exactly the documented keys, in the documented order
    assert record["jobId"] == job_id
    for key in DATE_KEYS:
        assert ISO_MS_Z.match(record[key]), (key, record[key])
    assert ISO_MS_Z.match(record["feedbacks"][0]["createdAt"])
    assert list(record["feedbacks"][0]) == list(SEED_EXAMPLE[0]["feedbacks"][0])


# ---------------------------------------------------------------- mappings


def test_status_table_covers_every_status() -> None:
    assert circus.STATUS == {
        "queued": "in_queue",
        "running": "processing",
        "finished": "finished",
        "failed": "failed",
        "cancelled": "cancelled",
        "invalidated": "invalidated",
    }
    assert set(circus.STATUS) == set(JOB_STATUSES)


def test_every_status_maps_to_its_circus_name(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    body = queue(api, limit=200).json()
    by_id = {r["jobId"]: r for r in body}
    for status, job in statuses.items():
        record = by_id[job["jobId"]]
        assert record["status"] == circus.STATUS[status], status
    assert by_id[statuses["failed"]["jobId"]]["errorMessage"] == api.job(statuses["failed"]["jobId"])["errorMessage"]
    assert "oh no" in by_id[statuses["failed"]["jobId"]]["errorMessage"]
    assert by_id[statuses["finished"]["jobId"]]["errorMessage"] is None


def test_dates_are_utc_with_milliseconds_and_null_until_known(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    by_id = {r["jobId"]: r for r in queue(api, limit=200).json()}
    queued = by_id[statuses["queued"]["jobId"]]
    assert queued["startedAt"] is None and queued["finishedAt"] is None
    running = by_id[statuses["running"]["jobId"]]
    assert running["startedAt"] is not None and running["finishedAt"] is None
    finished = by_id[statuses["finished"]["jobId"]]
    seen = gql_job(api, statuses["finished"]["jobId"])
    assert seen is not None
    for key in DATE_KEYS:
        exact = parse_time(seen[key])
        assert finished[key] == exact.strftime("%Y-%m-%dT%H:%M:%S.") + f"{exact.microsecond // 1000:03d}Z"


def test_date_format_unit() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert circus.circus_date(None) is None
    assert circus.circus_date(datetime(2023, 1, 10, 0, 1, tzinfo=UTC)) == "2023-01-10T00:01:00.000Z"
    assert circus.circus_date(datetime(2023, 1, 10, 0, 1, 2, 345999, tzinfo=UTC)) == "2023-01-10T00:01:02.345Z"
    assert circus.circus_date(datetime(2023, 1, 10, 9, 0, tzinfo=timezone(timedelta(hours=9)))) == (
        "2023-01-10T00:00:00.000Z"
    )
    assert circus.circus_date(datetime(2023, 1, 10, 0, 0)) == "2023-01-10T00:00:00.000Z"  # naive is UTC


def test_state_wait_lists_queued_jobs_in_dispatch_order(api: Api, statuses: dict[str, dict[str, Any]]) -> None:
    low = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE, priority=0)
    high_old = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE, priority=5)
    high_new = api.create_job("jobgraph.echo", {}, runAt=FAR_FUTURE, priority=5)
    response = queue(api, state="wait")
    ids = [r["jobId"] for r in response.json()]
    assert ids == [high_old["jobId"], high_new["jobId"], statuses["queued"]["jobId"], low["jobId"]]
    assert response.headers["x-total-count"] == "4"
    assert {r["status"] for r in response.json()} == {"in_queue"}

    processing = queue(api, state="processing").json()
    assert [r["jobId"] for r in processing] == [statuses["running"]["jobId"]]
    assert processing[0]["status"] == "processing"

    everything = queue(api, state="all").json()
    numbers = [api.job(r["jobId"])["number"] for r in everything]
    assert numbers == sorted(numbers, reverse=True)  # newest first
    # `all` is the default (ids only: the running job's updatedAt moves as it reports progress)
    assert [r["jobId"] for r in queue(api).json()] == [r["jobId"] for r in everything]


def test_series_without_a_partial_volume_is_null(api: Api) -> None:
    register_series(api, "1.2.3.4", image_count=10)
    job = api.create_job("jobgraph.echo", {}, series=[{"seriesUid": "1.2.3.4"}])
    record = next(r for r in queue(api).json() if r["jobId"] == job["jobId"])
    assert record["series"] == [{"seriesUid": "1.2.3.4", "partialVolumeDescriptor": None}]


def test_pages_and_total(api: Api) -> None:
    made = [api.create_job("jobgraph.echo", {"n": i}, runAt=FAR_FUTURE)["jobId"] for i in range(5)]
    pages = []
    for page in (1, 2, 3, 4):
        response = queue(api, limit=2, page=page)
        assert response.status_code == 200
        assert response.headers["x-total-count"] == "5"
        pages.append([r["jobId"] for r in response.json()])
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [j for p in pages for j in p] == list(reversed(made))
    assert len(queue(api).json()) == 5  # default limit 20


def test_a_page_costs_a_fixed_number_of_statements(api: Api) -> None:
    _, user1 = seed_job(api)
    viewer = unit_call(api.rt, users.authenticate, api.token)
    with statements_on_this_thread(api) as one_job:
        page = unit_call(api.rt, circus.load_page, viewer, "all", 20, 1)
    assert len(page.records) == 1

    reviewer = api.user("reviewer@example.com", ["inputPersonalFeedback", "manageJobs"])
    for _ in range(5):
        job = api.create_job(
            SEED_EXAMPLE[0]["pluginId"],
            None,
            token=user1,
            series=[
                {"seriesUid": "111.222.333.444.555", "partialVolumeDescriptor": {"start": 1, "end": 9, "delta": 2}}
            ],
        )
        api.wait_for(job["jobId"])
        add_feedback(api, job["jobId"], {"ok": True}, token=user1)
        add_feedback(api, job["jobId"], {"ok": False}, token=reviewer)
    with statements_on_this_thread(api) as six_jobs:
        page = unit_call(api.rt, circus.load_page, viewer, "all", 20, 1)
    assert len(page.records) == 6
    assert sum(len(r["feedbacks"]) for r in page.records) == 11
    selects = [[q for q in run if q.lstrip().upper().startswith("SELECT")] for run in (one_job, six_jobs)]
    # the jobs, their count, their feedback, the users of both, their series: whatever the page size
    assert len(selects[0]) == len(selects[1]) == 5, selects[1]


# ---------------------------------------------------------------- authentication


def test_needs_a_valid_token(api: Api) -> None:
    missing = api.client.get(PATH)
    assert missing.status_code == 401
    assert missing.json()["error"]
    assert missing.headers["www-authenticate"] == "Bearer"
    bad = queue(api, token="not-a-token-at-all")
    assert bad.status_code == 401 and bad.json()["error"]
    assert api.client.get(PATH, headers={"Authorization": "Basic abc"}).status_code == 401


@pytest.mark.parametrize("privileges", [["manageJobs"], ["executePlugin", "manageFeedback"], []])
def test_needs_manage_server(api: Api, privileges: list[str]) -> None:
    token = api.user("someone@example.com", privileges)
    response = queue(api, token=token)
    assert response.status_code == 403
    assert "manageServer" in response.json()["error"]
    # the privilege check comes before the parameters are looked at
    assert queue(api, token=token, state="nonsense").status_code == 403


def test_a_server_manager_sees_every_users_jobs(api: Api) -> None:
    owner = api.user("owner@example.com", ["executePlugin"])
    job = api.create_job("jobgraph.echo", {}, token=owner, runAt=FAR_FUTURE)
    manager = api.user("manager@example.com", ["manageServer"])
    records = queue(api, token=manager).json()
    assert [(r["jobId"], r["userEmail"]) for r in records] == [(job["jobId"], "owner@example.com")]


# ---------------------------------------------------------------- cross-view


def test_a_job_made_through_graphql_looks_the_same_here(any_api: Api) -> None:
    api = any_api
    register_series(api, "1.2.840.1", image_count=50)
    job = api.create_job(
        "jobgraph.echo",
        {"a": [1, 2]},
        series=[{"seriesUid": "1.2.840.1", "partialVolumeDescriptor": {"start": 3, "end": 40, "delta": 2}}],
    )
    api.wait_for(job["jobId"])
    seen = gql_job(api, job["jobId"])
    assert seen is not None
    record = next(r for r in queue(api).json() if r["jobId"] == job["jobId"])
    assert record["pluginId"] == seen["plugin"]["pluginId"]
    assert record["userEmail"] == seen["user"]["email"]
    assert record["status"] == circus.STATUS[seen["status"]]
    assert record["results"] == seen["result"] == {"input": {"a": [1, 2]}, "series": record["series"]}
    assert record["series"] == seen["series"]
    assert record["errorMessage"] == seen["errorMessage"]


def test_jobs_made_through_other_rest_systems_show_here(api: Api) -> None:
    minion = api.client.post("/api/minion/echo/queue", params={"args": '["x"]'}, headers=api.headers())
    assert minion.status_code == 200
    alteryx = api.client.post("/webapi/v3/workflows/jobgraph.noop/jobs", json={}, headers=api.headers())
    assert alteryx.status_code == 200
    records = {r["jobId"]: r for r in queue(api).json()}
    assert alteryx.json()["id"] in records
    assert records[alteryx.json()["id"]]["pluginId"] == "jobgraph.noop"
    assert [r["pluginId"] for r in records.values()].count("jobgraph.echo") == 1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "params",
    [
        {"state": "waiting"},
        {"state": "WAIT"},
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "201"},
        {"limit": "1" + "0" * 40},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"page": "0"},
        {"page": "-3"},
        {"page": "x"},
        {"page": "9" * 30},
    ],
)
def test_bad_parameters_are_400_with_a_json_error(api: Api, params: dict[str, str]) -> None:
    before = job_count(api)
    response = queue(api, **params)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["error"], str)
    assert job_count(api) == before


def test_limits_at_the_edges_are_accepted(api: Api) -> None:
    assert queue(api, limit=200, page=1).status_code == 200
    assert queue(api, limit=1, page=circus.MAX_PAGE).json() == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_405_with_allow_and_json(api: Api, method: str) -> None:
    response = api.client.request(method, PATH, headers=api.headers())
    assert response.status_code == 405
    assert response.json()["error"]
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


def test_openapi_fragment_describes_the_route() -> None:
    check_openapi(circus, "Circus")
    operation = circus_openapi.OPENAPI["paths"][PATH]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "403"}
    assert operation["security"] == [{"bearer": []}]
    job_schema = circus_openapi.OPENAPI["components"]["schemas"]["CircusJob"]
    assert job_schema["required"] == list(SEED_EXAMPLE[0])


def test_the_total_is_exact_up_to_the_limit_then_postgresqls_estimate(any_api: Api) -> None:
    """X-Total-Count: exact up to the exact count limit; above it, on PostgreSQL, the planner's
    estimate (at least what the pages show); on the last page exact again."""
    api = any_api
    for i in range(5):
        api.create_job("jobgraph.echo", {"n": i}, runAt=FAR_FUTURE)
    api.rt.settings.exact_count_limit = 3
    first = queue(api, limit=2, page=1)
    if api.rt.db.is_sqlite:
        assert first.headers["x-total-count"] == "5"
    else:
        assert int(first.headers["x-total-count"]) >= 4
    assert queue(api, limit=2, page=3).headers["x-total-count"] == "5"  # the last page: 4 before it, 1 on it
    assert queue(api, limit=2, state="processing").headers["x-total-count"] == "0"
    assert len(queue(api, limit=2, state="wait").json()) == 2
