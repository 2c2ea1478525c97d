"""Claims: up to N ready jobs of one queue in dispatch order, never one job twice, never a job
that waits for its time or its parents."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from jobgraph.clock import utcnow
from jobgraph.resolvers import claiming, jobs, liveness
from jobgraph.resolvers.jobs import JobSpec
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from tests.resolvers.conftest import wakes
from tests.support import unit_call


def _numbers(attempts: list[claiming.Attempt]) -> list[int]:
    return [a.number for a in attempts]


def test_a_claim_takes_up_to_its_limit_in_priority_then_age_order(rt: Runtime, admin: Viewer) -> None:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", priority=p) for p in (0, 5, 0, 5, -1)])
    worker = unit_call(rt, liveness.register_worker, None)
    first = unit_call(rt, claiming.claim, worker, "default", 3)
    assert _numbers(first) == [made[1].number, made[3].number, made[0].number]
    assert all(a.job.status == "running" and a.job.worker_id == worker for a in first)
    assert all(a.plugin is not None and a.plugin.plugin_id == "jobgraph.noop" for a in first)
    assert _numbers(unit_call(rt, claiming.claim, worker, "default", 3)) == [made[2].number, made[4].number]
    assert unit_call(rt, claiming.claim, worker, "default", 3) == []


def test_a_claim_serves_only_its_queue(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", queue="gpu")])
    worker = unit_call(rt, liveness.register_worker, None)
    assert unit_call(rt, claiming.claim, worker, "default", 4) == []
    assert len(unit_call(rt, claiming.claim, worker, "gpu", 4)) == 1


def test_a_batch_of_jobs_sends_one_wake_up_per_queue(rt: Runtime, admin: Viewer) -> None:
    specs = [JobSpec("jobgraph.noop") for _ in range(50)] + [JobSpec("jobgraph.noop", queue="other")] * 3
    unit_call(rt, jobs.create_jobs, admin, specs)
    assert sorted(wakes(rt)) == [("default", None), ("other", None)]


def test_scheduled_and_expired_jobs_are_not_claimed(rt: Runtime, admin: Viewer) -> None:
    now = utcnow()
    (later,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", run_at=now + timedelta(hours=1))])
    assert later.hold == "scheduled"
    queue, delay = wakes(rt)[-1]
    assert queue == "default" and delay is not None and 3_500_000 < delay <= 3_600_001
    unit_call(
        rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", run_at=now - timedelta(hours=2), expires=now - timedelta(hours=1))]
    )
    worker = unit_call(rt, liveness.register_worker, None)
    assert unit_call(rt, claiming.claim, worker, "default", 4) == []


def test_children_are_not_claimed_before_their_parents_end(rt: Runtime, admin: Viewer) -> None:
    (parent,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    (child,) = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop", parents=[parent.job_id])])
    assert child.hold == "parents"
    worker = unit_call(rt, liveness.register_worker, None)
    assert _numbers(unit_call(rt, claiming.claim, worker, "default", 4)) == [parent.number]


def test_concurrent_claims_never_take_one_job_twice(rt: Runtime, admin: Viewer) -> None:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop") for _ in range(200)])
    workers = [unit_call(rt, liveness.register_worker, None) for _ in range(4)]
    taken: list[int] = []
    lock = threading.Lock()

    def drain(worker: int) -> None:
        while True:
            got = unit_call(rt, claiming.claim, worker, "default", 7)
            with lock:
                taken.extend(_numbers(got))
            if not got:
                return

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == sorted(j.number for j in made)


def test_the_claim_is_a_range_scan_of_the_ready_index(rt: Runtime, admin: Viewer) -> None:
    """The plan reads the partial index of ready jobs, not the table: its cost does not grow with
    the number of finished, scheduled or blocked jobs stored beside them."""
    unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    engine = rt.db.engine
    with engine.connect() as conn:
        compiled = claiming._CLAIM.compile(dialect=engine.dialect)
        params = {"claim_queue": "default", "claim_limit": 4, "claim_worker": 1}
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # a tiny table: ask what it would use at scale
            plan = "\n".join(
                r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.construct_params(params))
            )
        else:
            values = compiled.construct_params(params)
            sql = str(compiled)
            plan = "\n".join(
                str(r[-1])
                for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + sql, tuple(values[k] for k in compiled.positiontup or [])
                )
            )
        conn.rollback()
    assert "ix_jobs_claim" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_a_plugins_variables_are_checked_at_registration(rt: Runtime) -> None:
    import pytest

    from jobgraph.errors import BadInput
    from jobgraph.resolvers import plugins

    spec = plugins.PluginSpec(plugin_id="p.env", kind="command", entrypoint=["true"], env={"API_KEY": "k"})
    assert unit_call(rt, plugins.register_plugin, None, spec).env == {"API_KEY": "k"}
    for env, why in (
        ({"JOBGRAPH_ADMIN_TOKEN": "x"}, "reserved"),
        ({"1BAD": "x"}, "not a variable name"),
        ({"OK": 3}, "must be a string"),
        ({"OK": "a\x00b"}, "no NUL"),
        (["A=1"], "an object"),
    ):
        spec.env = env  # type: ignore[assignment]
        with pytest.raises(BadInput, match=why):
            unit_call(rt, plugins.register_plugin, None, spec)
