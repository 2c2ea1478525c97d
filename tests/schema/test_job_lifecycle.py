"""The job lifecycle through GraphQL, with real workers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import Api

CREATE = "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId number status } }"


def register(api: Api, plugin_id: str, entrypoint: object, kind: str = "python", **fields: object) -> None:
    api.gql(
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
        {"i": {"pluginId": plugin_id, "kind": kind, "entrypoint": entrypoint, **fields}},
    )


def test_a_job_runs_and_keeps_its_result_messages_and_outputs(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.echo", {"hello": "world"})
    assert job["status"] == "queued"
    done = any_api.wait_for(job["jobId"])
    assert done["status"] == "finished"
    assert done["result"] == {"input": {"hello": "world"}, "series": []}
    assert done["messages"] == [{"status": 1, "text": f"echoing the input of job {job['jobId']}"}]
    assert [(o["fileName"], o["size"]) for o in done["outputs"]] == [("echo.json", 22)]
    assert done["startedAt"] and done["finishedAt"] and done["worker"] is not None


def test_failed_attempts_are_retried_then_the_job_fails_with_its_error(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.fail", {"fail": True, "message": "bad pixels"}, attempts=3)
    done = any_api.wait_for(job["jobId"])
    assert done["status"] == "failed"
    assert done["retries"] == 2
    assert done["errorMessage"] == "RuntimeError: bad pixels"
    texts = [m["text"] for m in done["messages"] if m["status"] == 3]
    assert texts[0].startswith("attempt 1 of 3 failed: RuntimeError: bad pixels; retrying in")
    assert texts[-1] == "RuntimeError: bad pixels"


def test_a_retry_that_succeeds_finishes_the_job(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.fail", {"failAttempts": 1}, attempts=2)
    done = any_api.wait_for(job["jobId"])
    assert (done["status"], done["retries"], done["result"]) == ("finished", 1, {"ok": True, "attempt": 2})


def test_manual_retry_of_a_failed_job(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.fail", {"failAttempts": 1})
    assert any_api.wait_for(job["jobId"])["status"] == "failed"
    retried = any_api.gql("mutation($id: ID!) { retryJob(jobId: $id) { status retries } }", {"id": job["jobId"]})
    assert retried["retryJob"] == {"status": "queued", "retries": 1}
    done = any_api.wait_for(job["jobId"])
    assert (done["status"], done["errorMessage"]) == ("finished", None)


def test_cancel_of_a_queued_job_is_immediate_and_it_never_runs(any_api: Api) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    job = any_api.create_job("jobgraph.echo", {}, runAt=later)
    data = any_api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status finishedAt } }", {"id": job["jobId"]})
    assert data["cancelJob"]["status"] == "cancelled" and data["cancelJob"]["finishedAt"]
    assert any_api.job(job["jobId"])["startedAt"] is None


@pytest.mark.parametrize(
    ("plugin", "entrypoint", "kind", "extra"),
    [
        ("t.python-process", "jobgraph.plugins.builtin:stubborn", "python", {}),
        ("t.python-thread", "tests.plugins_for_tests.behaviours:busy_loop", "python", {"isolation": "thread"}),
        ("t.command", ["sleep", "60"], "command", {}),
    ],
)
def test_cancel_stops_a_running_plugin_within_two_seconds_and_never_retries(
    any_api: Api, plugin: str, entrypoint: object, kind: str, extra: dict[str, object]
) -> None:
    register(any_api, plugin, entrypoint, kind, attempts=3, **extra)
    job = any_api.create_job(plugin, {"seconds": 60})
    any_api.wait_for(job["jobId"], {"running"})
    asked = time.monotonic()
    data = any_api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status cancelRequested } }", {"id": job["jobId"]})
    assert data["cancelJob"] == {"status": "running", "cancelRequested": True}
    done = any_api.wait_for(job["jobId"], timeout=10)
    took = time.monotonic() - asked
    assert done["status"] == "cancelled"
    # The promise is 2 s at the default settings (a 0.5 s poll, then a 1 s grace before the kill);
    # these tests poll every 0.1 s with a 0.5 s grace, which leaves a margin for a loaded machine.
    assert took < 2.0, f"the plugin took {took:.2f} s to stop"
    assert done["retries"] == 0


def test_the_plugin_time_limit_fails_the_attempt(any_api: Api) -> None:
    register(any_api, "t.too-slow", ["sleep", "30"], "command", timeout=1)
    job = any_api.create_job("t.too-slow")
    done = any_api.wait_for(job["jobId"], timeout=15)
    assert done["status"] == "failed"
    assert done["errorMessage"] == "timed out after 1 s (the plugin's time limit)"


def test_a_crashing_plugin_fails_its_attempt_and_the_worker_lives_on(any_api: Api) -> None:
    register(any_api, "t.crash", "tests.plugins_for_tests.behaviours:crash")
    job = any_api.create_job("t.crash")
    done = any_api.wait_for(job["jobId"])
    assert done["status"] == "failed"
    assert done["errorMessage"] == "the plugin process died (exit code 13)"
    after = any_api.create_job("jobgraph.echo", 1)
    assert any_api.wait_for(after["jobId"])["status"] == "finished"


def test_a_result_that_is_not_json_fails_the_attempt(api: Api) -> None:
    register(api, "t.not-json", "tests.plugins_for_tests.behaviours:not_json")
    done = api.wait_for(api.create_job("t.not-json")["jobId"])
    assert done["status"] == "failed"
    assert "not JSON serializable" in done["errorMessage"]


def test_progress_is_stored_and_outputs_are_listed(any_api: Api) -> None:
    register(any_api, "t.progress", "tests.plugins_for_tests.behaviours:progress_and_outputs")
    done = any_api.wait_for(any_api.create_job("t.progress")["jobId"])
    assert done["notes"]["progress"] == 1.0
    assert sorted(o["fileName"] for o in done["outputs"]) == ["report.txt", "sub/data.csv"]


def test_messages_and_progress_are_stored_while_the_job_runs(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.slow", {"seconds": 30, "steps": 30})
    from tests.support import wait_for_event

    wait_for_event(
        any_api.rt,
        lambda: len(any_api.job(job["jobId"])["messages"]) >= 2,
        lambda e: e.job_id == job["jobId"],
        15,
        "two messages",
    )
    running = any_api.job(job["jobId"])
    assert running["status"] == "running"
    assert running["messages"][:2] == [{"status": 1, "text": "step 1 of 30"}, {"status": 1, "text": "step 2 of 30"}]
    assert running["notes"]["progress"] > 0
    any_api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": job["jobId"]})
    assert any_api.wait_for(job["jobId"])["status"] == "cancelled"


def test_invalidate_only_finished_jobs(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.echo", 1)
    any_api.wait_for(job["jobId"])
    data = any_api.gql("mutation($id: ID!) { invalidateJob(jobId: $id) { status } }", {"id": job["jobId"]})
    assert data["invalidateJob"]["status"] == "invalidated"
    again = any_api.gql(
        "mutation($id: ID!) { invalidateJob(jobId: $id) { status } }", {"id": job["jobId"]}, expect_errors=True
    )
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "it is invalidated" in again["errors"][0]["message"]


def test_delete_only_ended_jobs(any_api: Api) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    queued = any_api.create_job("jobgraph.echo", 1, runAt=later)
    refused = any_api.gql("mutation($id: ID!) { deleteJob(jobId: $id) }", {"id": queued["jobId"]}, expect_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    done = any_api.create_job("jobgraph.echo", 1)
    any_api.wait_for(done["jobId"])
    assert any_api.gql("mutation($id: ID!) { deleteJob(jobId: $id) }", {"id": done["jobId"]}) == {"deleteJob": True}
    assert any_api.gql("query($id: ID!) { job(jobId: $id) { jobId } }", {"id": done["jobId"]}) == {"job": None}
    assert not (any_api.rt.settings.outputs_dir / done["jobId"]).exists()


def test_priority_and_notes_can_be_updated_while_queued(any_api: Api) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    job = any_api.create_job("jobgraph.echo", 1, runAt=later, notes={"a": 1, "b": 2})
    data = any_api.gql(
        'mutation($id: ID!) { updateJob(jobId: $id, priority: 5, notes: {b: null, c: "x"}) { priority notes } }',
        {"id": job["jobId"]},
    )
    assert data["updateJob"] == {"priority": 5, "notes": {"a": 1, "c": "x"}}


def test_dispatch_order_is_priority_then_age(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    """With the single worker thread held, queued jobs start highest priority first, then oldest."""
    from tests.support import make_settings

    settings = make_settings(tmp_path, database_url, worker_threads=1)
    with Api.start(settings) as api:
        blocker = api.create_job("jobgraph.slow", {"seconds": 30, "steps": 300})
        api.wait_for(blocker["jobId"], {"running"})
        jobs = [api.create_job("jobgraph.noop", None, priority=p) for p in (0, 5, 0, 10, 5)]
        api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": blocker["jobId"]})
        ended = [api.wait_for(j["jobId"]) for j in jobs]
        order = [j["number"] for j in sorted(ended, key=lambda j: j["startedAt"])]
        assert order == [jobs[3]["number"], jobs[1]["number"], jobs[4]["number"], jobs[0]["number"], jobs[2]["number"]]


def test_run_at_is_honoured(any_api: Api) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    job = any_api.create_job("jobgraph.noop", None, runAt=soon.isoformat())
    done = any_api.wait_for(job["jobId"])
    assert datetime.fromisoformat(done["startedAt"]) >= soon


def test_a_job_still_queued_when_it_expires_fails(any_api: Api) -> None:
    start = datetime.now(UTC) + timedelta(seconds=3)
    expires = datetime.now(UTC) + timedelta(seconds=1)
    job = any_api.create_job(
        "jobgraph.noop", None, runAt=start.isoformat(), expires=(start + timedelta(seconds=5)).isoformat()
    )
    blocked = any_api.create_job("jobgraph.noop", None, parents=[job["jobId"]], expires=expires.isoformat())
    done = any_api.wait_for(blocked["jobId"])
    assert (done["status"], done["errorMessage"]) == ("failed", "expired before it started")
    assert done["startedAt"] is None


def test_children_wait_for_parents_and_a_failed_parent_fails_strict_children(any_api: Api) -> None:
    parent = any_api.create_job("jobgraph.fail", {"fail": True})
    strict = any_api.create_job("jobgraph.echo", 1, parents=[parent["jobId"]])
    lax = any_api.create_job("jobgraph.echo", 2, parents=[parent["jobId"]], lax=True)
    strict_done = any_api.wait_for(strict["jobId"])
    lax_done = any_api.wait_for(lax["jobId"])
    parent_done = any_api.job(parent["jobId"])
    assert strict_done["status"] == "failed"
    assert strict_done["errorMessage"] == f"parent job {parent['jobId']} failed"
    assert lax_done["status"] == "finished"
    assert lax_done["startedAt"] >= parent_done["finishedAt"]


def test_a_child_runs_after_its_parent_finished(any_api: Api) -> None:
    parent = any_api.create_job("jobgraph.slow", {"seconds": 0.5, "steps": 1})
    child = any_api.create_job("jobgraph.echo", 1, parents=[parent["jobId"]])
    child_done = any_api.wait_for(child["jobId"])
    assert child_done["status"] == "finished"
    assert child_done["startedAt"] >= any_api.job(parent["jobId"])["finishedAt"]
    data = any_api.gql(
        "query($id: ID!) { job(jobId: $id) { parents { jobId } children { jobId } } }", {"id": parent["jobId"]}
    )
    assert data["job"] == {"parents": [], "children": [{"jobId": child["jobId"]}]}


def test_create_jobs_is_all_or_nothing(any_api: Api) -> None:
    before = any_api.gql("{ jobs { totalCount } }")["jobs"]["totalCount"]
    result = any_api.gql(
        "mutation($a: [CreateJobInput!]!) { createJobs(inputs: $a) { jobId } }",
        {"a": [{"pluginId": "jobgraph.echo"}, {"pluginId": "no.such.plugin"}]},
        expect_errors=True,
    )
    assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "inputs[1]" in result["errors"][0]["message"]
    assert any_api.gql("{ jobs { totalCount } }")["jobs"]["totalCount"] == before
    made = any_api.gql(
        "mutation($a: [CreateJobInput!]!) { createJobs(inputs: $a) { status } }",
        {"a": [{"pluginId": "jobgraph.noop"}] * 3},
    )
    assert made["createJobs"] == [{"status": "queued"}] * 3


def test_interrupted_jobs_are_retried_after_a_restart_and_queued_ones_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Stop the embedded service with a job running and one queued; start again: nothing lost."""
    from tests.support import make_settings

    db = f"sqlite:///{tmp_path / 'restart.db'}"
    # Two slots: the retried 30 s job may take one before the queued job, which needs the other.
    settings = make_settings(tmp_path, db, worker_threads=2, shutdown_grace_seconds=0)
    with Api.start(settings) as api:
        running = api.create_job("jobgraph.slow", {"seconds": 30, "steps": 300}, attempts=2)
        api.wait_for(running["jobId"], {"running"})
        queued = api.create_job("jobgraph.echo", "after restart")
        # Simulate a crash: the row says running while no process runs it any more.
        service = api.client.app.state.service  # type: ignore[attr-defined]
        service.workers.executor.shutting_down.set()
    from sqlalchemy import text

    from jobgraph.db.engine import Database

    raw = Database(db)
    with raw.engine.begin() as conn:  # the shutdown handed it back; make it look like a crash
        conn.execute(text("UPDATE jobs SET status='running', worker_id=1 WHERE job_id=:j"), {"j": running["jobId"]})
    raw.dispose()
    with Api.start(settings) as api:
        after_queued = api.wait_for(queued["jobId"])
        assert after_queued["status"] == "finished"
        interrupted = api.job(running["jobId"])
        assert interrupted["retries"] == 1
        texts = [m["text"] for m in interrupted["messages"]]
        assert any("the service restarted while the job ran (an interrupted attempt)" in t for t in texts)
        api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": running["jobId"]})
