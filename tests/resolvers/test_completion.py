"""Ending attempts: a batch of finished attempts in one transaction, guarded per attempt; the
cancel that wins the race; retries with backoff; children released or failed with a parent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, Message, Output
from jobgraph.resolvers import claiming, completion, dependencies, jobs, liveness, upkeep
from jobgraph.resolvers.completion import Finished
from jobgraph.resolvers.jobs import JobSpec
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from tests.resolvers.conftest import wakes
from tests.support import unit_call


def _job(rt: Runtime, number: int) -> Job:
    with rt.db.session() as s:
        job = s.get(Job, number)
        assert job is not None
        return job


def test_a_batch_records_many_results_in_one_statement(rt: Runtime, admin: Viewer) -> None:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", notes={"progress": 0.5}) for _ in range(5)])
    worker = unit_call(rt, liveness.register_worker, None)
    attempts = unit_call(rt, claiming.claim, worker, "default", 5)
    results = [{"n": 1}, "text", None, [1, 2], 3.5]
    outputs = [Output(job_number=attempts[0].number, file_name="a.txt", size=1, path="x/a.txt")]
    batch = [Finished(a, r, outputs if i == 0 else []) for i, (a, r) in enumerate(zip(attempts, results, strict=True))]
    assert unit_call(rt, completion.finish_many, batch) == []
    for job, result in zip(made, results, strict=True):
        stored = _job(rt, job.number or 0)
        assert (stored.status, stored.result) == ("finished", result)
        assert stored.finished_at is not None and stored.finished_at >= (stored.started_at or stored.finished_at)
        assert stored.notes == {"progress": 1.0}
    with rt.db.session() as s:
        assert [o.file_name for o in s.scalars(select(Output))] == ["a.txt"]


def test_a_batch_leaves_what_is_no_longer_this_workers_and_what_was_cancelled(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop") for _ in range(3)])
    worker = unit_call(rt, liveness.register_worker, None)
    mine, cancelled, lost = unit_call(rt, claiming.claim, worker, "default", 3)
    unit_call(rt, jobs.cancel_job, admin, cancelled.job.job_id)  # asked while running
    unit_call(rt, completion.fail_attempt, lost, "the worker went away", kind="crash")  # recovered by someone else
    left = unit_call(rt, completion.finish_many, [Finished(a, "done", []) for a in (mine, cancelled, lost)])
    assert {f.attempt.number for f in left} == {cancelled.number, lost.number}
    for f in left:
        unit_call(rt, completion.finish, f.attempt, f.result, f.outputs)
    assert _job(rt, mine.number).status == "finished"
    assert _job(rt, cancelled.number).status == "cancelled"
    assert _job(rt, lost.number).status == "failed"  # its late result was dropped
    assert _job(rt, lost.number).result is None


def test_a_result_that_cannot_be_stored_fails_the_attempt(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    (attempt,) = unit_call(rt, claiming.claim, unit_call(rt, liveness.register_worker, None), "default", 1)
    left = unit_call(rt, completion.finish_many, [Finished(attempt, float("nan"), [])])
    unit_call(rt, completion.finish, left[0].attempt, left[0].result, [])
    assert _job(rt, attempt.number).status == "failed"


def test_a_failed_attempt_with_attempts_left_is_scheduled_again(rt: Runtime, admin: Viewer) -> None:
    rt.settings.retry_backoff_base = 3600
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", attempts=2)])
    worker = unit_call(rt, liveness.register_worker, None)
    (attempt,) = unit_call(rt, claiming.claim, worker, "default", 1)
    job = unit_call(rt, completion.fail_attempt, attempt, "boom")
    assert job is not None and (job.status, job.hold, job.retries) == ("queued", "scheduled", 1)
    assert unit_call(rt, claiming.claim, worker, "default", 1) == []  # not before its time
    assert wakes(rt)[-1][1] is not None  # a delayed wake-up for it


def test_due_scheduled_jobs_are_promoted_and_their_queue_woken(rt: Runtime, admin: Viewer) -> None:
    rt.settings.retry_backoff_base = 3600
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", attempts=2, queue="q2")])
    worker = unit_call(rt, liveness.register_worker, None)
    (attempt,) = unit_call(rt, claiming.claim, worker, "q2", 1)
    unit_call(rt, completion.fail_attempt, attempt, "boom")
    assert unit_call(rt, upkeep.promote_scheduled) == 0  # not yet
    with rt.db.session(write=True) as s:  # an hour later
        job = s.get(Job, attempt.number)
        assert job is not None
        job.run_at = utcnow() - timedelta(seconds=1)
    assert unit_call(rt, upkeep.promote_scheduled) == 1
    assert wakes(rt)[-1] == ("q2", None)
    (again,) = unit_call(rt, claiming.claim, worker, "q2", 1)
    assert again.attempt == 1


def test_a_finished_parent_releases_its_children_and_wakes_their_queue(rt: Runtime, admin: Viewer) -> None:
    (parent,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    (child,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", parents=[parent.job_id], queue="kids")])
    worker = unit_call(rt, liveness.register_worker, None)
    (attempt,) = unit_call(rt, claiming.claim, worker, "default", 1)
    assert unit_call(rt, completion.finish_many, [Finished(attempt, None, [])]) == []
    assert _job(rt, child.number or 0).hold is None
    assert wakes(rt)[-1] == ("kids", None)
    assert [a.number for a in unit_call(rt, claiming.claim, worker, "kids", 1)] == [child.number]


def test_a_failed_parent_fails_strict_children_down_the_tree_and_releases_lax_ones(rt: Runtime, admin: Viewer) -> None:
    (parent,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    strict, lax = unit_call(
        rt,
        jobs.create_jobs,
        admin,
        [
            JobSpec("jobgraph.noop", parents=[parent.job_id]),
            JobSpec("jobgraph.noop", parents=[parent.job_id], lax=True),
        ],
    )
    (grandchild,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", parents=[strict.job_id])])
    (attempt,) = unit_call(rt, claiming.claim, unit_call(rt, liveness.register_worker, None), "default", 1)
    unit_call(rt, completion.fail_attempt, attempt, "boom")
    assert _job(rt, strict.number or 0).error_message == f"parent job {parent.job_id} failed"
    assert _job(rt, grandchild.number or 0).error_message == f"parent job {strict.job_id} failed"
    assert _job(rt, lax.number or 0).hold is None


def test_a_child_of_a_parent_that_already_failed_fails_at_once(rt: Runtime, admin: Viewer) -> None:
    (parent,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    (attempt,) = unit_call(rt, claiming.claim, unit_call(rt, liveness.register_worker, None), "default", 1)
    unit_call(rt, completion.fail_attempt, attempt, "boom")
    (child,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", parents=[parent.job_id])])
    assert _job(rt, child.number or 0).status == "failed"


def test_the_sweep_settles_children_whose_settling_was_lost(rt: Runtime, admin: Viewer) -> None:
    (parent,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    (child,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", parents=[parent.job_id])])
    with rt.db.session(write=True) as s:  # the parent ended, and the process died before settling
        job = s.get(Job, parent.number)
        assert job is not None
        job.status = "finished"
    assert [p.number for p in unit_call(rt, dependencies.stuck_parents)] == [parent.number]
    unit_call(rt, dependencies.settle_children, unit_call(rt, dependencies.stuck_parents))
    assert _job(rt, child.number or 0).hold is None
    assert unit_call(rt, dependencies.stuck_parents) == []


def test_expired_jobs_fail_with_a_message(rt: Runtime, admin: Viewer) -> None:
    now = utcnow()
    (made,) = unit_call(
        rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", run_at=now - timedelta(hours=2), expires=now - timedelta(hours=1))]
    )
    assert [j.number for j in unit_call(rt, upkeep.expire_jobs)] == [made.number]
    assert _job(rt, made.number or 0).error_message == "expired before it started"
    with rt.db.session() as s:
        assert "expired before it started" in [m.text for m in s.scalars(select(Message))]


def test_known_queues_lists_plugins_and_ready_jobs_queues(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue=q) for q in ("b", "a", "b", "c")])
    assert {"a", "b", "c", "default"} <= unit_call(rt, upkeep.known_queues)
