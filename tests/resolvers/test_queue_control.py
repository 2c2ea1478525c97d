"""Queue control's use cases on both databases: pausing queues, bulk actions by filter with their
preview, cap and audit entry, and running a job again."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jobgraph.db.models import AuditEntry, Job
from jobgraph.errors import BadInput, Forbidden, NotFound
from jobgraph.resolvers import audit, bulk, claiming, jobs, liveness, loaders, queues, rerun, users
from jobgraph.resolvers.job_list import JobFilter
from jobgraph.resolvers.jobs import JobSpec, SeriesRef
from jobgraph.resolvers.series import SeriesSpec, register_series
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from tests.resolvers.conftest import wakes
from tests.support import unit_call


def _user(rt: Runtime, email: str, privileges: list[str]) -> Viewer:
    unit_call(rt, users.create_user, None, email, privileges)
    return unit_call(rt, users.viewer_for_email, email)


def _status(rt: Runtime, number: int) -> str | None:
    with rt.db.session() as s:
        job = s.get(Job, number)
        return job.status if job else None


def _fail(rt: Runtime, numbers: list[int]) -> None:
    """Mark jobs failed, as a worker's last attempt would."""
    with rt.db.session(write=True) as s:
        for n in numbers:
            job = s.get(Job, n)
            assert job is not None
            job.status, job.error_message, job.hold = "failed", "boom", None
            s.add(job)


# ---------------------------------------------------------------- pausing queues


def test_a_paused_queue_is_not_claimed_and_a_resumed_one_is(rt: Runtime, admin: Viewer) -> None:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="gpu") for _ in range(3)])
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    worker = unit_call(rt, liveness.register_worker, None)
    state = unit_call(rt, queues.pause_queue, admin, "gpu")
    assert (state.name, state.paused, state.paused_by, state.queued) == ("gpu", True, admin.email, 3)
    assert state.paused_at is not None
    assert unit_call(rt, claiming.claim, worker, "gpu", 10) == []
    assert len(unit_call(rt, claiming.claim, worker, "default", 10)) == 1  # other queues go on

    before = len(wakes(rt))
    resumed = unit_call(rt, queues.resume_queue, admin, "gpu")
    assert (resumed.paused, resumed.paused_at, resumed.paused_by) == (False, None, None)
    assert ("gpu", None) in wakes(rt)[before:]  # the workers are told
    claimed = unit_call(rt, claiming.claim, worker, "gpu", 10)
    assert sorted(a.number for a in claimed) == sorted(j.number for j in made)


def test_pausing_leaves_running_jobs_alone_and_is_listed(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="q1") for _ in range(2)])
    worker = unit_call(rt, liveness.register_worker, None)
    (running,) = unit_call(rt, claiming.claim, worker, "q1", 1)
    unit_call(rt, queues.pause_queue, admin, "q1")
    unit_call(rt, queues.pause_queue, admin, "q1")  # again: still paused, one entry
    unit_call(rt, queues.pause_queue, admin, "empty")
    assert _status(rt, running.number) == "running"
    listed = {q.name: q for q in unit_call(rt, queues.list_queues, admin)}
    assert (listed["q1"].paused, listed["q1"].queued, listed["q1"].running) == (True, 1, 1)
    assert listed["empty"].paused and listed["empty"].queued == 0
    assert not listed["default"].paused  # the built-in plugins' queue
    actions = [e.entry.action for e in unit_call(rt, audit.list_entries, admin)]
    assert actions == ["PAUSE_QUEUE", "PAUSE_QUEUE"]


def test_only_manage_server_controls_queues(rt: Runtime, admin: Viewer) -> None:
    ann = _user(rt, "ann@example.com", ["executePlugin", "manageJobs"])
    for fn in (queues.pause_queue, queues.resume_queue):
        with pytest.raises(Forbidden):
            unit_call(rt, fn, ann, "default")
    with pytest.raises(Forbidden):
        unit_call(rt, queues.list_queues, ann)
    with pytest.raises(Forbidden):
        unit_call(rt, audit.list_entries, ann)
    with pytest.raises(BadInput):
        unit_call(rt, queues.pause_queue, admin, "no spaces allowed")


# ---------------------------------------------------------------- bulk actions


def test_a_preview_counts_what_the_filter_selects_and_what_the_action_applies_to(rt: Runtime, admin: Viewer) -> None:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="b") for _ in range(5)])
    _fail(rt, [j.number for j in made[:2]])
    everything = JobFilter(queues=["b"])
    cancel = unit_call(rt, bulk.preview, admin, "CANCEL", everything)
    assert (cancel.matching, cancel.applicable, cancel.cap) == (5, 3, 1000)
    retry = unit_call(rt, bulk.preview, admin, "RETRY", everything)
    assert (retry.matching, retry.applicable) == (5, 2)
    assert unit_call(rt, bulk.preview, admin, "DELETE", JobFilter(queues=["b"], statuses=["queued"])).applicable == 0
    assert [_status(rt, j.number) for j in made].count("queued") == 3  # nothing changed
    with pytest.raises(BadInput, match="unknown bulk action"):
        unit_call(rt, bulk.preview, admin, "EXPLODE", everything)


def test_a_bulk_action_applies_the_single_job_rules_and_writes_an_audit_entry(rt: Runtime, admin: Viewer) -> None:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="b") for _ in range(4)])
    numbers = [j.number for j in made]
    _fail(rt, numbers[:2])
    result = unit_call(rt, bulk.apply, admin, "RETRY", JobFilter(queues=["b"]))
    assert (result.applied, result.skipped) == (2, 2)
    assert [_status(rt, n) for n in numbers] == ["queued"] * 4
    with rt.db.session() as s:
        retried = s.get(Job, numbers[0])
        assert retried is not None and retried.retries == 1 and retried.error_message is None

    priority = unit_call(rt, bulk.apply, admin, "SET_PRIORITY", JobFilter(queues=["b"]), priority=7)
    assert priority.applied == 4
    cancelled = unit_call(rt, bulk.apply, admin, "CANCEL", JobFilter(queues=["b"]))
    assert cancelled.applied == 4 and {_status(rt, n) for n in numbers} == {"cancelled"}
    deleted = unit_call(rt, bulk.apply, admin, "DELETE", JobFilter(queues=["b"]))
    assert deleted.applied == 4 and {_status(rt, n) for n in numbers} == {None}

    entries = unit_call(rt, audit.list_entries, admin)
    assert [(e.entry.action, e.entry.count) for e in entries] == [
        ("DELETE", 4),
        ("CANCEL", 4),
        ("SET_PRIORITY", 4),
        ("RETRY", 2),
    ]
    first = entries[-1]
    assert first.user_email == admin.email and first.entry.filter == {"queues": ["b"]}
    assert first.entry.job_numbers == numbers[:2] and first.entry.details == {"skipped": 2}
    assert entries[2].entry.details["priority"] == 7
    assert entries[0].entry.id == deleted.audit_id


def test_above_the_cap_an_action_is_refused_unless_a_limit_is_given(rt: Runtime, admin: Viewer) -> None:
    rt.settings.bulk_limit = 3
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="c") for _ in range(5)])
    with pytest.raises(BadInput, match="5 jobs, above the cap of 3") as refused:
        unit_call(rt, bulk.apply, admin, "CANCEL", JobFilter(queues=["c"]))
    assert refused.value.details == {"count": 5, "cap": 3}
    assert {_status(rt, j.number) for j in made} == {"queued"}
    with rt.db.session() as s:
        assert list(s.scalars(select(AuditEntry))) == []  # a refused action leaves no entry
    with pytest.raises(BadInput, match="limit must be 1 to the cap of 3"):
        unit_call(rt, bulk.apply, admin, "CANCEL", JobFilter(queues=["c"]), limit=4)
    limited = unit_call(rt, bulk.apply, admin, "CANCEL", JobFilter(queues=["c"]), limit=2)
    assert (limited.applied, limited.skipped) == (2, 3)
    assert [_status(rt, j.number) for j in made] == ["cancelled"] * 2 + ["queued"] * 3  # oldest first


def test_bulk_actions_reach_only_the_jobs_the_viewer_may_change(rt: Runtime, admin: Viewer) -> None:
    ann = _user(rt, "ann@example.com", ["executePlugin"])
    (theirs,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="d")])
    (own,) = unit_call(rt, jobs.create_jobs, ann, [JobSpec("jobgraph.noop", queue="d")])
    anyone = JobFilter(queues=["d"], user_emails=[admin.email, ann.email])
    assert unit_call(rt, bulk.preview, ann, "CANCEL", anyone).matching == 1
    assert unit_call(rt, bulk.apply, ann, "CANCEL", anyone).applied == 1
    assert (_status(rt, own.number), _status(rt, theirs.number)) == ("cancelled", "queued")
    with pytest.raises(BadInput, match="SET_PRIORITY needs a priority"):
        unit_call(rt, bulk.apply, admin, "SET_PRIORITY", anyone)
    with pytest.raises(BadInput, match="priority is for SET_PRIORITY"):
        unit_call(rt, bulk.apply, admin, "CANCEL", anyone, priority=3)


# ---------------------------------------------------------------- running a job again


def test_a_rerun_is_a_new_job_with_the_same_input_linked_both_ways(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, register_series, admin, SeriesSpec(series_uid="1.2.3", image_count=10))
    spec = JobSpec(
        "jobgraph.echo", input={"a": 1}, series=[SeriesRef("1.2.3", 2, 5, 1)], priority=4, queue="e", run_level="x"
    )
    (old,) = unit_call(rt, jobs.create_jobs, admin, [spec])
    _fail(rt, [old.number])
    ann = _user(rt, "ann@example.com", ["executePlugin", "manageJobs"])
    new = unit_call(rt, rerun.rerun_job, ann, old.job_id)
    assert new.number != old.number and new.status == "queued" and new.user_id == ann.user_id
    assert (new.plugin_id, new.input, new.priority, new.queue, new.run_level, new.rerun_of) == (
        "jobgraph.echo",
        {"a": 1},
        4,
        "e",
        "x",
        old.number,
    )
    assert _status(rt, old.number) == "failed"  # the old one keeps its record
    series = unit_call(rt, loaders.job_series, [new.number])[0]
    assert [(r.series_uid, r.start, r.end, r.delta) for r in series] == [("1.2.3", 2, 5, 1)]
    assert [j.number for j in unit_call(rt, loaders.reruns, [old.number])[0]] == [new.number]
    assert unit_call(rt, loaders.jobs_by_number, [new.number])[0].rerun_of == old.number

    # Deleting the old job keeps the new one, unlinked.
    unit_call(rt, jobs.delete_job, admin, old.job_id)
    assert unit_call(rt, loaders.jobs_by_number, [new.number])[0].rerun_of is None


def test_who_may_rerun_a_job(rt: Runtime, admin: Viewer) -> None:
    (mine,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    ann = _user(rt, "ann@example.com", ["executePlugin"])
    with pytest.raises(NotFound):  # ann may not see it: answered as a missing job
        unit_call(rt, rerun.rerun_job, ann, mine.job_id)
    reader = _user(rt, "reader@example.com", ["manageJobs"])
    with pytest.raises(Forbidden, match="executePlugin"):
        unit_call(rt, rerun.rerun_job, reader, mine.job_id)
    with pytest.raises(NotFound):
        unit_call(rt, rerun.rerun_job, admin, "not-a-job")
