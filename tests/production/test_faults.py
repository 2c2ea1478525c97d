"""Faults with real processes: a killed or frozen worker, Redis emptied or restarted, messages
delivered twice and workers racing, PostgreSQL restarted under load. No job may be lost, left
running, or run twice in one attempt."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import dramatiq
import pytest
import redis

from tests.production import recorder
from tests.production.harness import Cluster, wait_until
from tests.production.own_services import OwnPostgres, RedisServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def pid_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone between the open and the read
        return False


def assert_ran_once_per_attempt(cluster: Cluster, job_ids: list[str], attempts: dict[str, int] | None = None) -> None:
    """Each job's plugin started once in each of its attempts, and in no other."""
    runs = recorder.runs(cluster.runs_log)
    jobs = cluster.jobs(job_ids)
    for job_id in job_ids:
        tried = jobs[job_id].retries + 1
        if attempts is not None:
            assert tried == attempts[job_id], (job_id, tried)
        for attempt in range(1, tried + 1):
            assert runs[(job_id, attempt, "start")] == 1, (job_id, attempt, runs[(job_id, attempt, "start")])
        assert runs[(job_id, tried + 1, "start")] == 0, (job_id, "ran an attempt too many")


def test_worker_killed_mid_job_is_retried_or_failed(cluster: Cluster) -> None:
    log = str(cluster.runs_log)
    cluster.register_recorder("test.retry", isolation="process", attempts=2)
    cluster.register_recorder("test.once", isolation="process", attempts=1)
    victim = cluster.start_worker("--threads", "2")
    [retried] = cluster.create_jobs("test.retry", [{"log": log, "hold": 60, "holdAttempts": 1}])
    [failed] = cluster.create_jobs("test.once", [{"log": log, "hold": 60}])
    runs = cluster.runs_log

    def both_running() -> bool:
        return all(recorder.pids(runs, j, 1) for j in (retried, failed))

    wait_until(both_running, 30, "both plugins to start", cluster.rt)
    plugin_pids = [recorder.pids(runs, j, 1)[0] for j in (retried, failed)]
    survivor = cluster.start_worker("--threads", "2")

    victim.signal(signal.SIGKILL)  # the worker process alone, as the OOM killer would
    victim.wait(10)
    killed = time.monotonic()

    # Its plugins die with it (they would otherwise run on beside the retry).
    wait_until(lambda: not any(pid_running(p) for p in plugin_pids), 10, "the orphaned plugins to die")
    jobs = cluster.wait_all_ended([retried, failed], timeout=30)
    recovered_in = time.monotonic() - killed
    assert recovered_in < 15, recovered_in

    assert jobs[retried].status == "finished", jobs[retried]
    assert jobs[retried].retries == 1
    assert jobs[retried].worker_id != jobs[failed].worker_id or jobs[retried].result == {"attempt": 2}
    assert jobs[failed].status == "failed"
    assert jobs[failed].failure_kind == "crash"
    assert "went away while the job ran" in (jobs[failed].error_message or "")
    counts = recorder.runs(runs)
    assert counts[(retried, 1, "end")] == 0 and counts[(failed, 1, "end")] == 0  # the killed runs never ended
    assert counts[(retried, 2, "end")] == 1
    assert_ran_once_per_attempt(cluster, [retried, failed])
    assert survivor.alive()


def test_frozen_worker_is_presumed_dead_after_the_heartbeat_timeout(cluster: Cluster) -> None:
    """SIGSTOP (a paused VM, a stalled host): the pid still exists, so only the heartbeat tells.
    After worker_dead_after_seconds the attempt counts as crashed and is retried elsewhere;
    when the frozen worker wakes up, its late result, if any, is dropped."""
    log = str(cluster.runs_log)
    cluster.register_recorder("test.retry", isolation="process", attempts=2)
    frozen = cluster.start_worker("--threads", "2", "--queue", "frozen")
    [job] = cluster.create_jobs("test.retry", [{"log": log, "hold": 10, "holdAttempts": 1}], queue="frozen")
    wait_until(lambda: bool(recorder.pids(cluster.runs_log, job, 1)), 30, "the plugin to start", cluster.rt)
    # Only now the survivor (it serves every queue: started earlier, it could take the job first).
    cluster.start_worker("--threads", "2")
    os.killpg(frozen.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        # The survivor serves every queue; it takes the job over once the heartbeat is old.
        wait_until(
            lambda: cluster.jobs([job])[job].retries == 1, 15, "the frozen worker's job to be recovered", cluster.rt
        )
        assert time.monotonic() - stopped >= 1.5  # not before the heartbeat is worker_dead_after_seconds (2) old
    finally:
        os.killpg(frozen.pid, signal.SIGCONT)
    jobs = cluster.wait_all_ended([job], timeout=30)
    assert jobs[job].status == "finished" and jobs[job].result == {"attempt": 2}
    # Thawed, the frozen run is stopped (fencing), or, if it got there first, ends; either
    # way its result is not recorded. (tests/production/test_fencing.py holds it to stopping.)
    [frozen_run] = recorder.pids(cluster.runs_log, job, 1)

    def thawed_run_over() -> bool:  # it ended, or its process was killed (a pool's child lives on otherwise)
        return recorder.runs(cluster.runs_log)[(job, 1, "end")] == 1 or not pid_running(frozen_run)

    wait_until(thawed_run_over, 15, "the thawed run to be over")
    assert recorder.runs(cluster.runs_log)[(job, 1, "end")] <= 1
    assert cluster.jobs([job])[job].result == {"attempt": 2}
    assert_ran_once_per_attempt(cluster, [job])


def _kill_clients(url: str) -> int:
    """What a Redis restart does to the clients of one database: every connection drops."""
    client = redis.Redis.from_url(url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    me = client.client_id()
    killed = 0
    for info in client.client_list():
        if int(info.get("db", -1)) == db and int(info["id"]) != me:
            with contextlib.suppress(redis.ResponseError):
                killed += client.client_kill_filter(_id=info["id"])
    client.close()
    return killed


def test_redis_emptied_while_jobs_are_queued(cluster: Cluster) -> None:
    log = str(cluster.runs_log)
    cluster.register_recorder()
    # Queued with no worker running: their wake-ups wait in Redis, and then Redis loses them.
    first = cluster.create_jobs("test.record", [{"log": log}] * 60)
    flush = redis.Redis.from_url(cluster.redis_url)
    assert flush.dbsize() > 0
    flush.flushdb()
    workers = [cluster.start_worker("--threads", "3", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_worker_registered(worker)
    cluster.wait_all_ended(first, timeout=30)

    # Again with the workers busy: empty Redis and drop every connection, mid-stream.
    second = cluster.create_jobs("test.record", [{"log": log, "hold": 0.05}] * 120)
    wait_until(
        lambda: sum(j.status == "finished" for j in cluster.jobs(second).values()) >= 10, 30, "work to be under way"
    )
    flush.flushdb()
    assert _kill_clients(cluster.redis_url) > 0
    flush.close()
    jobs = cluster.wait_all_ended(first + second, timeout=60)
    assert {j.status for j in jobs.values()} == {"finished"}
    assert_ran_once_per_attempt(cluster, first + second)


def test_redis_restarted_while_jobs_are_queued(own_cluster: Cluster, own_redis: RedisServer) -> None:
    """The test's own Redis, really stopped and started again (no persistence)."""
    cluster = own_cluster
    log = str(cluster.runs_log)
    cluster.register_recorder()
    workers = [cluster.start_worker("--threads", "3", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_worker_registered(worker)
    before = cluster.create_jobs("test.record", [{"log": log, "hold": 0.05}] * 120)
    wait_until(lambda: sum(j.status == "finished" for j in cluster.jobs(before).values()) >= 10, 30, "work under way")
    own_redis.stop()
    while_down = cluster.create_jobs("test.record", [{"log": log}] * 20)  # committed; no wake-ups sent
    own_redis.start()
    # The test's own event bus subscribes again, and the workers' events reach it.
    wait_until(cluster.rt.events.connected.is_set, 10, "the event bus to reconnect", poll=0.05)  # type: ignore[attr-defined]
    seen = threading.Event()
    remove = cluster.rt.events.add_listener(lambda e: seen.set() if e.status == "finished" else None)
    after = cluster.create_jobs("test.record", [{"log": log}] * 20)
    jobs = cluster.wait_all_ended(before + while_down + after, timeout=60)
    remove()
    assert seen.is_set(), "no event from the workers arrived after the restart"
    assert {j.status for j in jobs.values()} == {"finished"}
    assert_ran_once_per_attempt(cluster, before + while_down + after)


def test_duplicate_messages_and_racing_workers_run_each_attempt_once(cluster: Cluster) -> None:
    log = str(cluster.runs_log)
    cluster.register_recorder("test.record", attempts=2)
    workers = [cluster.start_worker("--threads", "4", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_worker_registered(worker)
    inputs = [{"log": log, "failAttempts": 1 if i % 5 == 0 else 0} for i in range(300)]
    job_ids = cluster.create_jobs("test.record", inputs)
    # The same message delivered again and again (as Redis redelivers an unacked one), and many more.
    broker = cluster.rt.dispatcher.broker  # type: ignore[attr-defined]
    message = dramatiq.Message(
        queue_name="default", actor_name="jobgraph.wake", args=("default",), kwargs={}, options={}
    )
    for _ in range(300):
        broker.enqueue(message)
    jobs = cluster.wait_all_ended(job_ids, timeout=60)
    assert {j.status for j in jobs.values()} == {"finished"}
    expected = {job_id: 2 if i % 5 == 0 else 1 for i, job_id in enumerate(job_ids)}
    assert_ran_once_per_attempt(cluster, job_ids, expected)
    assert len({j.worker_id for j in jobs.values()}) == 2, "both workers should have raced for the jobs"


def test_postgres_restarted_under_load(own_cluster: Cluster, own_postgres: OwnPostgres) -> None:
    """The test's own PostgreSQL, restarted (a fast shutdown: every connection drops) while the
    API takes jobs and the workers run them."""
    cluster = own_cluster
    log = str(cluster.runs_log)
    cluster.register_recorder("test.record", attempts=1)  # a spurious "crash" would fail a job
    cluster.start_api()
    workers = [cluster.start_worker("--threads", "4", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_worker_registered(worker)

    accepted: list[str] = []
    refused = [0]
    stop = threading.Event()
    batches_before = threading.Event()

    def produce() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                accepted.extend(cluster.gql_create_jobs("test.record", [{"log": log, "hold": 0.02}] * 20))
            except Exception:  # the API answered with an error, or not at all: the client tries again
                refused[0] += 1
                stop.wait(0.1)
                continue
            if len(accepted) >= 100:
                batches_before.set()
            stop.wait(0.05)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        assert batches_before.wait(30), "the API accepted no jobs"
        own_postgres.restart()
        restarted_with = len(accepted)
        wait_until(lambda: len(accepted) >= restarted_with + 100, 40, "the API to accept jobs again")
    finally:
        stop.set()
        producer.join(timeout=30)
        if not own_postgres.running():
            own_postgres.start()
    jobs = cluster.wait_all_ended(accepted, timeout=90)
    failed = {j.job_id: (j.status, j.failure_kind, j.error_message) for j in jobs.values() if j.status != "finished"}
    assert not failed, f"{failed}\n{cluster.logs()}"
    assert_ran_once_per_attempt(cluster, accepted, dict.fromkeys(accepted, 1))
    # Jobs the API committed but could not confirm (the connection dropped) ran too, once.
    everything = cluster.jobs()
    assert {j.status for j in everything.values()} == {"finished"}
    assert_ran_once_per_attempt(cluster, list(everything))
    assert all(w.alive() for w in cluster.procs), cluster.logs()
