"""One unit of work per answer: one transaction per REST request and GraphQL query operation,
checks before writes, and events and wake-ups only once the unit commits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from jobgraph.db.models import Job
from jobgraph.errors import Forbidden
from jobgraph.events import JobEvent
from jobgraph.resolvers import jobs, users
from jobgraph.resolvers.jobs import JobSpec
from jobgraph.unit import unit_of_work
from jobgraph.web.views import run_unit
from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, Api, Seen, in_the_api, unit_call


def _count_jobs(api: Api) -> int:
    with api.rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


# ---------------------------------------------------------------- the unit itself


def test_events_and_wakeups_wait_for_the_commit_and_a_failed_unit_sends_none(api: Api) -> None:
    rt = api.rt
    sent: list[JobEvent] = []
    woken: list[tuple[str, int | None]] = []
    unlisten = rt.events.add_listener(sent.append)
    original = rt.dispatcher
    rt.dispatcher = type("D", (), {"wake": lambda self, q, d=None: woken.append((q, d))})()
    admin = unit_call(rt, users.viewer_for_email, ADMIN_EMAIL)
    try:
        with pytest.raises(Forbidden), unit_of_work(rt, write=True) as u:
            made = jobs.create_jobs(u, admin, [JobSpec("jobgraph.noop", queue="unit-q")])
            assert u.rt is rt and made
            raise Forbidden("a later check fails")
        assert [e for e in sent if e.queue == "unit-q"] == [] and woken == []
        assert _count_jobs(api) == 0  # rolled back with the unit

        with unit_of_work(rt, write=True) as u:
            made = jobs.create_jobs(u, admin, [JobSpec("jobgraph.noop", queue="unit-q")])
            assert woken == [] and [e for e in sent if e.job_id == made[0].job_id] == []  # not before the commit
        assert ("unit-q", None) in woken
        assert any(e.job_id == made[0].job_id and e.kind == "created" for e in sent)
    finally:
        rt.dispatcher = original
        unlisten()


def test_a_view_whose_later_check_fails_writes_nothing(api: Api) -> None:
    """The REST views' helper: one unit for the whole answer; a check failing after a write
    leaves no row."""

    def create_then_refuse(u: Any) -> None:
        admin = users.authenticate(u, ADMIN_TOKEN)
        jobs.create_jobs(u, admin, [JobSpec("jobgraph.noop", queue="never")])
        raise Forbidden("refused after the write")

    with pytest.raises(Forbidden):
        run_unit(api.rt, True, create_then_refuse)
    assert _count_jobs(api) == 0


def test_a_refused_rest_create_leaves_no_row(api: Api) -> None:
    viewer_only = api.user("viewer@example.com", ["inputPersonalFeedback"])
    tastypie = {"Authorization": f"ApiKey viewer@example.com:{viewer_only}"}
    body = {"plugin": "echo", "config": {"k": 1}}
    assert api.client.post("/rundb/api/v1/PluginResultJob/", json=body, headers=tastypie).status_code == 403
    response = api.client.post("/webapi/v3/workflows/jobgraph.echo/jobs", json={}, headers=api.headers(viewer_only))
    assert response.status_code == 403
    assert _count_jobs(api) == 0


# ---------------------------------------------------------------- GraphQL: one transaction per operation

ONE = """query($id: ID!) { job(jobId: $id) { jobId status plugin { name } user { email }
  series { seriesUid } feedbacks { data user { email } } messages { text } outputs { fileName } } }"""
PAGE = """query($n: Int!) { jobs(first: $n) { totalCount edges { node { jobId plugin { name } user { email }
  series { seriesUid } feedbacks { data } messages { text } outputs { fileName } } } } }"""


def test_the_one_job_query_and_a_page_of_100_are_one_transaction_each(api: Api) -> None:
    made = api.gql(
        "mutation($a: [CreateJobInput!]!) { createJobs(inputs: $a) { jobId } }",
        {"a": [{"pluginId": "jobgraph.noop", "runAt": "2999-01-01T00:00:00+00:00"}] * 100},
    )["createJobs"]
    with in_the_api(api) as one:
        got = api.gql(ONE, {"id": made[0]["jobId"]})
    assert got["job"]["user"]["email"] == ADMIN_EMAIL
    print(f"\none nested job: {one.transactions} transaction(s), {len(one.statements)} statements")
    assert one.transactions == 1, one.statements
    with in_the_api(api) as ten:
        api.gql(PAGE, {"n": 10})
    with in_the_api(api) as hundred:
        page = api.gql(PAGE, {"n": 100})
    assert len(page["jobs"]["edges"]) == 100
    print(f"a page of 100: {hundred.transactions} transaction(s), {len(hundred.statements)} statements")
    assert ten.transactions == hundred.transactions == 1
    assert len(ten.statements) == len(hundred.statements), hundred.statements


def test_each_mutation_is_a_unit_of_its_own(api: Api) -> None:
    """A failed mutation does not undo an earlier one of the same operation."""
    result = api.client.post(
        "/graphql",
        json={
            "query": 'mutation { a: createJob(input: {pluginId: "jobgraph.noop", runAt: "2999-01-01T00:00:00Z"}) '
            '{ jobId } b: createJob(input: {pluginId: "no.such.plugin"}) { jobId } }'
        },
        headers=api.headers(),
    ).json()
    assert result["data"] is None or result["data"].get("a") is not None
    assert result["errors"]
    assert _count_jobs(api) == 1


# ---------------------------------------------------------------- REST lists: one transaction, fixed statements


def _lists(api: Api) -> dict[str, Any]:
    tastypie = {"Authorization": f"ApiKey {ADMIN_EMAIL}:{ADMIN_TOKEN}"}
    return {
        "circus": lambda: api.client.get("/api/admin/plugin-job-queue", headers=api.headers()),
        "tastypie": lambda: api.client.get("/rundb/api/v1/PluginResultJob/", headers=tastypie),
        "alteryx": lambda: api.client.get("/webapi/v3/workflows/jobgraph.noop/jobs", headers=api.headers()),
    }


def test_each_rest_list_is_one_transaction_with_a_fixed_number_of_statements(api: Api) -> None:
    def make(n: int) -> None:
        api.gql(
            "mutation($a: [CreateJobInput!]!) { createJobs(inputs: $a) { jobId } }",
            {"a": [{"pluginId": "jobgraph.noop", "runAt": "2999-01-01T00:00:00+00:00"}] * n},
        )

    make(1)
    few: dict[str, Seen] = {}
    for name, get in _lists(api).items():
        with in_the_api(api) as seen:
            assert get().status_code == 200, name
        few[name] = seen
    make(19)
    for name, get in _lists(api).items():
        with in_the_api(api) as seen:
            assert get().status_code == 200, name
        print(f"\n{name}: {seen.transactions} transaction(s), {len(seen.statements)} statements")
        assert seen.transactions == 1, (name, seen.statements)
        assert len(seen.statements) == len(few[name].statements), (name, seen.statements)
