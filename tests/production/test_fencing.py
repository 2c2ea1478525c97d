"""Fencing: a worker that died, or was presumed dead, must not go on running beside the attempt
that replaced it, and a job completes once, whatever crashes and restarts happen around it.

All on a PostgreSQL and a Redis of the test's own (`own_cluster`): these tests kill, freeze,
flush and restart them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from jobgraph.db.models import Worker
from jobgraph.resolvers import plugins
from tests.production import fence_plugins
from tests.production.harness import Cluster, Proc, wait_until
from tests.production.own_services import OwnPostgres, RedisServer, pid_running
from tests.support import unit_call

pytestmark = [pytest.mark.slow]

# How long a thawed worker may take to see that it was presumed dead and stop its runs: a
# heartbeat or two (0.2 s each) and a step of the plugin (0.1 s), on a busy machine.
FENCE_TOLERANCE = 1.5


def _register(cluster: Cluster, plugin_id: str, kind: str, entrypoint: object, **fields: object) -> None:
    spec = plugins.PluginSpec(plugin_id=plugin_id, kind=kind, entrypoint=entrypoint, **fields)  # type: ignore[arg-type]
    unit_call(cluster.rt, plugins.register_plugin, None, spec)


def _worker_ids(cluster: Cluster) -> dict[int, Proc]:
    """The cluster's worker processes by their worker id."""
    by_pid = {p.pid: p for p in cluster.procs if p.name == "worker"}
    with cluster.rt.db.session() as s:
        rows = s.scalars(select(Worker).where(Worker.pid.in_(list(by_pid))))  # type: ignore[attr-defined]
        return {w.id: by_pid[w.pid] for w in rows if w.id is not None}


# ---------------------------------------------------------------- a. a killed worker's command plugin

# Records its own pid and its child's, in the folder given as $1, then waits on the child.
SLEEPER = 'echo $$ >> "$1/$JOBGRAPH_JOB_ID.pids"; sleep 300 & echo $! >> "$1/$JOBGRAPH_JOB_ID.pids"; wait'


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "script",
    [pytest.param(SLEEPER, id="plain"), pytest.param("trap '' TERM; " + SLEEPER, id="ignores-sigterm")],
)
def test_killed_worker_leaves_no_command_plugin_process(own_cluster: Cluster, script: str) -> None:
    """SIGKILL of the worker alone (as the OOM killer would): the command it ran, and what that
    started, must not run on beside the retry. Within 5 s no process of the plugin is left."""
    cluster = own_cluster
    pid_dir = cluster.tmp / "pids"
    pid_dir.mkdir()
    _register(cluster, "test.sleeper", "command", ["sh", "-c", script, "sh", str(pid_dir)], attempts=1)
    victim = cluster.start_worker("--threads", "2")
    [job] = cluster.create_jobs("test.sleeper", [{}])
    pid_file = pid_dir / f"{job}.pids"
    pids: list[int] = []
    try:
        try:
            wait_until(lambda: len(_pids(pid_file)) >= 2, 30, "the command and its child to start", cluster.rt)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: the job is {cluster.jobs([job])[job]}\n{cluster.logs()}") from None
        pids = _pids(pid_file)
        assert all(pid_running(p) for p in pids), pids
        survivor = cluster.start_worker("--threads", "2")  # to recover the job

        victim.signal(signal.SIGKILL)
        victim.wait(10)
        wait_until(
            lambda: not any(pid_running(p) for p in pids),
            5,
            f"the killed worker's plugin processes {pids} to end "
            f"(still running: {[p for p in pids if pid_running(p)]})",
            poll=0.05,
        )
        jobs = cluster.wait_all_ended([job], timeout=30)
        assert jobs[job].status == "failed" and jobs[job].failure_kind == "crash", jobs[job]
        assert survivor.alive()
    finally:
        for pid in pids + _pids(pid_file):  # never leave a `sleep 300` behind, whatever failed
            if pid_running(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- b. a frozen worker, thawed


@pytest.mark.timeout(120)
def test_frozen_worker_never_finishes_beside_its_retry(own_cluster: Cluster) -> None:
    """SIGSTOP past the heartbeat timeout (2 s here): another worker retries the job. On
    SIGCONT the frozen worker's run must stop, not finish: it may not write its end after the
    retry started, and its result is dropped. The job finishes once, with the retry's result."""
    cluster = own_cluster
    log = cluster.tmp / "steps.log"
    release = cluster.tmp / "release"
    _register(cluster, "test.steps", "python", fence_plugins.STEPS, isolation="thread", attempts=2)
    frozen = cluster.start_worker("--threads", "2")
    # Attempt 1 steps until `release` exists, then 3 s more: thawed and unfenced, it would end
    # while the retry (4 s of steps) still runs.
    options = {"log": str(log), "release": str(release), "after": 30, "steps": 40, "step": 0.1}
    [job] = cluster.create_jobs("test.steps", [options])

    def lines(attempt: int) -> list[fence_plugins.Line]:
        return [x for x in fence_plugins.read(log) if x.job_id == job and x.attempt == attempt]

    wait_until(lambda: bool(lines(1)), 30, "attempt 1 to start", cluster.rt)
    assert lines(1)[0].pid == frozen.pid, "attempt 1 ran in the worker that is to be frozen"
    cluster.start_worker("--threads", "2")  # the survivor: it may claim the job only once it is retried

    os.killpg(frozen.pid, signal.SIGSTOP)
    frozen_at = time.time()
    try:
        release.touch()  # seen by the frozen run only once it is thawed
        wait_until(lambda: bool(lines(2)), 30, "another worker to retry the frozen worker's job", cluster.rt)
    finally:
        thawed_at = time.time()
        os.killpg(frozen.pid, signal.SIGCONT)
    retry_started = lines(2)[0].at
    assert retry_started - frozen_at >= 1.5, "retried before the heartbeat timeout (2 s)"

    ended = cluster.wait_all_ended([job], timeout=30)[job]
    assert ended.status == "finished" and ended.retries == 1 and ended.result == {"attempt": 2}, ended

    # Wait until the thawed run is over (stopped, ended, or its worker gone), then judge it.
    def thawed_run_over() -> bool:
        return any(x.phase in ("end", "stopped") for x in lines(1)) or not frozen.alive()

    wait_until(thawed_run_over, 20, f"the thawed run to be over\n{cluster.logs()}", poll=0.1)
    old, new = lines(1), lines(2)
    new_phases = Counter(x.phase for x in new)
    assert new_phases["start"] == 1 and new_phases["end"] == 1, new_phases
    assert all(x.pid != frozen.pid for x in new), "the retry ran in the frozen worker"
    retry_ended = max(x.at for x in new)

    old_ends = [x for x in old if x.phase == "end"]
    assert not old_ends, (
        f"the frozen worker's run ended {old_ends[0].at - thawed_at:.2f} s after it was thawed, "
        f"{old_ends[0].at - retry_started:.2f} s after its retry started: it finished beside the retry"
    )
    # Running periods: attempt 1 runs from its start to its last line, attempt 2 likewise. They
    # may overlap by the freeze itself (attempt 1 "ran" frozen while attempt 2 started) and by
    # the moment a thawed worker needs to notice it was replaced; not more.
    old_last = max(x.at for x in old)
    overlap = min(old_last, retry_ended) - max(old[0].at, retry_started)
    allowed = max(0.0, thawed_at - retry_started) + FENCE_TOLERANCE
    assert overlap <= allowed, (
        f"the frozen worker's run went on {old_last - thawed_at:.2f} s after it was thawed, beside its "
        f"retry (overlap {overlap:.2f} s, allowed {allowed:.2f} s)"
    )
    # Its late outcome, if it reported one, was dropped: the job is as the retry left it.
    after = cluster.jobs([job])[job]
    assert (after.status, after.retries, after.result) == ("finished", 1, {"attempt": 2}), after
    assert after.finished_at == ended.finished_at


# ---------------------------------------------------------------- c. exactly once through faults


@pytest.mark.timeout(150)
def test_each_job_completes_once_through_crashes_flushes_and_restarts(
    own_cluster: Cluster, own_postgres: OwnPostgres, own_redis: RedisServer
) -> None:
    """A few hundred short jobs on 2 workers (3 processes in all) while a worker is SIGKILLed
    and replaced, Redis is emptied (FLUSHALL) and PostgreSQL restarts. At the end every job is
    finished, and each completed once: its plugin wrote `done` once in the attempt whose result
    was recorded, and in no earlier attempt, unless the killed worker ran that attempt (killed
    between the plugin's return and the commit of its result: the result was never recorded).
    A run that was fenced, or a second run of one attempt, would show up as a second `done`;
    and only the killed worker's attempts were given up (no live worker was presumed dead
    while PostgreSQL restarted)."""
    cluster = own_cluster
    deadline = time.monotonic() + 100  # the whole test, faults and all
    log = cluster.tmp / "count.log"
    _register(cluster, "test.count", "python", fence_plugins.COUNT, isolation="thread", attempts=3)
    workers = [cluster.start_worker("--threads", "3", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_worker_registered(worker)

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    def batch(n: int, hold: float = 0.03) -> list[str]:
        return cluster.create_jobs("test.count", [{"log": str(log), "hold": hold}] * n)

    def finished(ids: list[str]) -> int:
        return sum(j.status == "finished" for j in cluster.jobs(ids).values())

    # Long jobs first (claimed first): the worker to kill is one that runs one of them.
    long_jobs = cluster.create_jobs("test.count", [{"log": str(log), "hold": 2}] * 6)
    first = batch(150)
    job_ids = long_jobs + first
    running_long: list[tuple[str, int]] = []

    def a_long_job_runs() -> bool:
        running_long[:] = [
            (j.job_id, j.worker_id)
            for j in cluster.jobs(long_jobs).values()
            if j.status == "running" and j.worker_id is not None
        ]
        return bool(running_long)

    wait_until(a_long_job_runs, left(), "a long job to run", cluster.rt)
    killed_job, victim_id = running_long[0]
    victim = _worker_ids(cluster)[victim_id]

    # 1. A worker dies with jobs in hand; a new one starts.
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    replacement = cluster.start_worker("--threads", "3", wait=False)
    second = batch(100)
    job_ids += second
    cluster.wait_worker_registered(replacement, timeout=left())

    # 2. Redis forgets every wake-up (and Dramatiq's own bookkeeping) with work queued.
    wait_until(lambda: finished(second) >= 10, left(), "work under way after the kill", cluster.rt)
    own_redis.flushall()
    third = batch(100)
    job_ids += third

    # 3. PostgreSQL restarts with work running and queued.
    wait_until(lambda: finished(third) >= 10, left(), "work under way after the flush", cluster.rt)
    own_postgres.restart()
    cluster.rt.db.dispose()  # the test's own pool: its connections died with the server
    job_ids += batch(50)

    jobs = cluster.wait_all_ended(job_ids, timeout=left())
    not_finished = {
        j.job_id: (j.status, j.failure_kind, j.error_message) for j in jobs.values() if j.status != "finished"
    }
    assert not not_finished, not_finished

    lines = fence_plugins.read(log)
    starts = Counter((x.job_id, x.attempt) for x in lines if x.phase == "start")
    dones: dict[str, list[fence_plugins.Line]] = {}
    for x in lines:
        if x.phase == "done":
            dones.setdefault(x.job_id, []).append(x)
    problems = []
    lost_results = 0
    for job_id in job_ids:
        job = jobs[job_id]
        final = job.retries + 1
        if job.result != {"attempt": final}:
            problems.append(f"{job_id}: result {job.result} is not attempt {final}'s")
        for attempt in range(1, final + 2):
            if starts[(job_id, attempt)] > 1:
                problems.append(f"{job_id}: attempt {attempt} started {starts[(job_id, attempt)]} times")
        if starts[(job_id, final)] != 1:
            problems.append(f"{job_id}: its final attempt {final} started {starts[(job_id, final)]} times")
        if starts[(job_id, final + 1)]:
            problems.append(f"{job_id}: an attempt beyond the final one ({final}) ran")
        for attempt in range(1, final):
            if starts[(job_id, attempt)] and not any(
                x.pid == victim.pid for x in lines if x.job_id == job_id and x.attempt == attempt
            ):
                problems.append(f"{job_id}: attempt {attempt} ran on a live worker and was given up")
        in_final = [x for x in dones.get(job_id, []) if x.attempt == final]
        earlier = [x for x in dones.get(job_id, []) if x.attempt != final]
        if len(in_final) != 1:
            problems.append(f"{job_id}: completed {len(in_final)} times in its final attempt {final}")
        for x in earlier:
            if x.pid == victim.pid and x.attempt < final:
                lost_results += 1  # killed before its result was recorded: it never completed for the queue
            else:
                problems.append(
                    f"{job_id}: attempt {x.attempt} (pid {x.pid}) completed, but attempt {final} is recorded"
                )
    retried = sum(j.retries > 0 for j in jobs.values())
    print(f"{len(job_ids)} jobs, {retried} retried, {lost_results} results lost with the killed worker")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    assert lost_results <= 3, lost_results  # at most one per thread of the killed worker
    # The job the killed worker ran was retried, and its first run never completed.
    assert jobs[killed_job].retries >= 1, jobs[killed_job]
    assert not any(x.attempt == 1 for x in dones.get(killed_job, [])), dones.get(killed_job)
    assert all(p.alive() for p in cluster.procs if p is not victim), cluster.logs()
