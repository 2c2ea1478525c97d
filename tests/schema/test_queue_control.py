"""Queue control through GraphQL, on the running app (embedded workers), as a client uses it:
pausing queues, bulk actions with their preview, cap and audit log, and rerunning a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import ADMIN_EMAIL, Api, api_statements, make_settings

QUEUES = "{ queues { name paused pausedAt pausedBy queued running } }"
PAUSE = "mutation($q: String!) { pauseQueue(queue: $q) { name paused pausedAt pausedBy queued running } }"
RESUME = "mutation($q: String!) { resumeQueue(queue: $q) { name paused pausedAt pausedBy } }"
PREVIEW = (
    "query($a: BulkAction!, $f: JobFilter!) { bulkPreview(action: $a, filter: $f) { action matching applicable cap } }"
)
BULK = """mutation($a: BulkAction!, $f: JobFilter!, $p: Int, $l: Int) {
  bulkAction(action: $a, filter: $f, priority: $p, limit: $l) { action applied skipped auditId } }"""
AUDIT = "{ auditLog { id at userEmail action filter count } }"


def _code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


def test_a_paused_queue_runs_nothing_until_it_is_resumed(any_api: Api) -> None:
    api = any_api
    paused = api.gql(PAUSE, {"q": "slowlane"})["pauseQueue"]
    assert paused["paused"] and paused["pausedBy"] == ADMIN_EMAIL and paused["pausedAt"]
    held = api.create_job("jobgraph.echo", {"x": 1}, queue="slowlane")
    # Another queue's job runs to its end meanwhile: the workers are up, claiming, polling.
    other = api.create_job("jobgraph.echo", {"x": 2}, queue="fastlane")
    assert api.wait_for(other["jobId"])["status"] == "finished"
    assert api.job(held["jobId"])["status"] == "queued"
    listed = {q["name"]: q for q in api.gql(QUEUES)["queues"]}
    assert listed["slowlane"]["paused"] and listed["slowlane"]["queued"] == 1
    assert listed["default"] == {
        "name": "default",
        "paused": False,
        "pausedAt": None,
        "pausedBy": None,
        "queued": 0,
        "running": 0,
    }

    resumed = api.gql(RESUME, {"q": "slowlane"})["resumeQueue"]
    assert resumed == {"name": "slowlane", "paused": False, "pausedAt": None, "pausedBy": None}
    assert api.wait_for(held["jobId"])["status"] == "finished"
    assert [e["action"] for e in api.gql(AUDIT)["auditLog"]] == ["RESUME_QUEUE", "PAUSE_QUEUE"]


def test_queue_control_needs_manage_server(api: Api) -> None:
    token = api.user("ann@example.com", ["executePlugin", "manageJobs"])
    for query, variables in ((PAUSE, {"q": "default"}), (RESUME, {"q": "default"}), (QUEUES, None), (AUDIT, None)):
        assert _code(api.gql(query, variables, token=token, expect_errors=True)) == "FORBIDDEN"
    assert _code(api.gql(PAUSE, {"q": "bad name"}, expect_errors=True)) == "BAD_USER_INPUT"
    unauthenticated = api.client.post("/graphql", json={"query": QUEUES}).json()
    assert _code(unauthenticated) == "UNAUTHENTICATED"


def test_a_bulk_retry_with_its_preview_and_audit_entry(any_api: Api) -> None:
    api = any_api
    failing = [api.create_job("jobgraph.fail", {"fail": True}) for _ in range(3)]
    fine = api.create_job("jobgraph.echo", {"ok": 1})
    for job in [*failing, fine]:
        api.wait_for(job["jobId"])
    everything: dict[str, Any] = {"pluginId": ["jobgraph.fail", "jobgraph.echo"]}
    preview = api.gql(PREVIEW, {"a": "RETRY", "f": everything})["bulkPreview"]
    assert preview == {"action": "RETRY", "matching": 4, "applicable": 3, "cap": 1000}
    assert api.job(failing[0]["jobId"])["status"] == "failed"  # a preview changes nothing

    done = api.gql(BULK, {"a": "RETRY", "f": everything})["bulkAction"]
    assert (done["action"], done["applied"], done["skipped"]) == ("RETRY", 3, 1)
    for job in failing:
        again = api.wait_for(job["jobId"])
        assert again["status"] == "failed" and again["retries"] == 1  # it ran again, and failed again
    (entry,) = api.gql(AUDIT)["auditLog"]
    assert entry["id"] == done["auditId"] and entry["userEmail"] == ADMIN_EMAIL
    assert (entry["action"], entry["count"]) == ("RETRY", 3)
    assert entry["filter"] == {"plugin_ids": ["jobgraph.fail", "jobgraph.echo"]}


def test_a_bulk_action_above_the_cap_is_refused_with_the_count_and_the_cap(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}", bulk_limit=2)
    with Api.start(settings) as api:
        far = "2999-01-01T00:00:00+00:00"
        made = [api.create_job("jobgraph.echo", {"n": i}, runAt=far) for i in range(3)]
        queued: dict[str, Any] = {"status": ["queued"]}
        refused = api.gql(BULK, {"a": "SET_PRIORITY", "f": queued, "p": 9}, expect_errors=True)
        error = refused["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "count": 3, "cap": 2}
        assert "above the cap of 2" in error["message"]
        assert api.gql(AUDIT)["auditLog"] == []
        limited = api.gql(BULK, {"a": "SET_PRIORITY", "f": queued, "p": 9, "l": 2})["bulkAction"]
        assert (limited["applied"], limited["skipped"]) == (2, 1)
        priorities = [
            api.gql("query($id: ID!) { job(jobId: $id) { priority } }", {"id": j["jobId"]})["job"]["priority"]
            for j in made
        ]
        assert priorities == [9, 9, 0]  # the oldest first
        missing = api.gql(BULK, {"a": "SET_PRIORITY", "f": queued}, expect_errors=True)
        assert _code(missing) == "BAD_USER_INPUT"
        unknown = api.gql(BULK, {"a": "EXPLODE", "f": queued}, expect_errors=True)
        assert _code(unknown) == "BAD_USER_INPUT"


def test_a_user_s_bulk_action_reaches_only_their_own_jobs(api: Api) -> None:
    token = api.user("ann@example.com", ["executePlugin"])
    far = "2999-01-01T00:00:00+00:00"
    admins = api.create_job("jobgraph.echo", {}, runAt=far)
    anns = api.create_job("jobgraph.echo", {}, runAt=far, token=token)
    preview = api.gql(PREVIEW, {"a": "CANCEL", "f": {}}, token=token)["bulkPreview"]
    assert (preview["matching"], preview["applicable"]) == (1, 1)
    assert api.gql(BULK, {"a": "CANCEL", "f": {}}, token=token)["bulkAction"]["applied"] == 1
    assert api.job(anns["jobId"])["status"] == "cancelled" and api.job(admins["jobId"])["status"] == "queued"
    assert _code(api.gql(AUDIT, token=token, expect_errors=True)) == "FORBIDDEN"


RERUN = (
    "mutation($id: ID!) { rerunJob(jobId: $id) { jobId status input queue priority user { email } rerunOf { jobId } } }"
)
LINKS = "query($id: ID!) { job(jobId: $id) { rerunOf { jobId } reruns { jobId } } }"


def test_rerun_makes_a_linked_new_job_that_runs(any_api: Api) -> None:
    api = any_api
    old = api.create_job("jobgraph.echo", {"v": 1}, priority=3)
    api.wait_for(old["jobId"])
    token = api.user("ann@example.com", ["executePlugin", "manageJobs"])
    new = api.gql(RERUN, {"id": old["jobId"]}, token=token)["rerunJob"]
    assert new["jobId"] != old["jobId"] and new["rerunOf"] == {"jobId": old["jobId"]}
    assert (new["input"], new["priority"], new["queue"], new["user"]) == (
        {"v": 1},
        3,
        "default",
        {"email": "ann@example.com"},
    )
    assert api.wait_for(new["jobId"])["result"]["input"] == {"v": 1}
    assert api.gql(LINKS, {"id": old["jobId"]})["job"] == {"rerunOf": None, "reruns": [{"jobId": new["jobId"]}]}
    assert api.gql(LINKS, {"id": new["jobId"]})["job"]["rerunOf"] == {"jobId": old["jobId"]}

    nobody = api.user("bob@example.com", ["executePlugin"])
    assert _code(api.gql(RERUN, {"id": old["jobId"]}, token=nobody, expect_errors=True)) == "NOT_FOUND"
    reader = api.user("reader@example.com", ["manageJobs"])
    assert _code(api.gql(RERUN, {"id": old["jobId"]}, token=reader, expect_errors=True)) == "FORBIDDEN"


PAGE = "query($n: Int!) { jobs(first: $n) { edges { node { jobId rerunOf { jobId } reruns { jobId } } } } }"


def test_a_page_with_rerun_links_costs_a_fixed_number_of_statements(api: Api) -> None:
    far = "2999-01-01T00:00:00+00:00"
    olds = [api.create_job("jobgraph.echo", {"n": i}, runAt=far) for i in range(12)]
    for old in olds:
        api.gql(RERUN, {"id": old["jobId"]})
    with api_statements(api) as small:
        api.gql(PAGE, {"n": 4})
    with api_statements(api) as large:
        page = api.gql(PAGE, {"n": 24})["jobs"]["edges"]
    assert sum(1 for e in page if e["node"]["rerunOf"]) == 12
    assert sum(len(e["node"]["reruns"]) for e in page) == 12
    assert len(large) == len(small), large


def test_the_queue_control_operations_keep_their_names() -> None:
    """The dashboard (and any client) calls these by name."""
    from jobgraph.schema import build_schema

    sdl = str(build_schema())
    for operation in (
        "pauseQueue(queue: String!): QueueState!",
        "resumeQueue(queue: String!): QueueState!",
        "queues: [QueueState!]!",
        "bulkPreview(action: BulkAction!, filter: JobFilter!): BulkPreview!",
        "bulkAction(action: BulkAction!, filter: JobFilter!, priority: Int = null, limit: Int = null): BulkResult!",
        "auditLog(first: Int = 50): [AuditEntry!]!",
        "rerunJob(jobId: ID!): Job!",
        "rerunOf: Job",
        "reruns: [Job!]!",
    ):
        assert operation in sdl, operation
