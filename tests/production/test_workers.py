"""`jobgraph worker` as its own process, and `jobgraph serve` with PostgreSQL and Redis:
configuration, registration and heartbeat, graceful SIGTERM, queue discovery, schema checks."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from jobgraph.app import create_app
from jobgraph.db.models import Worker
from jobgraph.redis_bus import RedisBus
from jobgraph.resolvers import plugins
from tests.production import recorder
from tests.production.harness import Cluster, wait_until
from tests.support import Api, make_settings, unit_call


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_with_both_urls_the_api_runs_no_workers_in_process(
    tmp_path: Path, pg_schema_url: str, redis_db_url: str
) -> None:
    settings = make_settings(tmp_path, pg_schema_url, redis_url=redis_db_url)
    assert not settings.run_embedded_workers
    with Api.start(settings) as api:
        assert api.client.app.state.service.workers is None  # type: ignore[attr-defined]
        assert isinstance(api.rt.events, RedisBus)
        assert api.gql("{ workers { id } }")["workers"] == []
        job = api.create_job("jobgraph.noop")
        assert api.job(job["jobId"])["status"] == "queued"  # nobody here runs it
        health = api.client.get("/healthz").json()
        assert health == {"status": "ok", "database": "ok", "broker": "ok"}
    # Same for `create_app` with no override: the settings decide.
    assert create_app(settings) is not None


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_worker_registers_with_a_heartbeat_and_stops_gracefully_on_sigterm(cluster: Cluster) -> None:
    log = str(cluster.runs_log)
    cluster.register_recorder("test.process", isolation="process")
    cluster.start_api()
    worker = cluster.start_worker("--threads", "2", "--queue", "default", JOBGRAPH_SHUTDOWN_GRACE_SECONDS="2")
    [short] = cluster.gql_create_jobs("test.process", [{"log": log, "hold": 0.5}])
    [long] = cluster.gql_create_jobs("test.process", [{"log": log, "hold": 60, "holdFirstRun": True}])
    wait_until(
        lambda: all(recorder.pids(cluster.runs_log, j, 1) for j in (short, long)), 30, "both to start", cluster.rt
    )

    listed = cluster.gql("{ workers { host pid queues startedAt lastSeenAt stoppedAt alive jobsRunning } }")["workers"]
    assert len(listed) == 1
    me = listed[0]
    assert (me["host"], me["pid"], me["queues"]) == (socket.gethostname(), worker.pid, ["default"])
    assert me["alive"] and me["stoppedAt"] is None and me["jobsRunning"] == 2
    first_seen = me["lastSeenAt"]
    wait_until(
        lambda: cluster.gql("{ workers { lastSeenAt } }")["workers"][0]["lastSeenAt"] != first_seen,
        5,
        "a heartbeat",
    )

    worker.signal(signal.SIGTERM)
    asked = time.monotonic()
    assert worker.wait(20) == 0, worker.output()
    assert time.monotonic() - asked < 2 + 10  # the grace, then the hand-back and the stop
    jobs = cluster.jobs([short, long])
    assert jobs[short].status == "finished"  # it ended within the grace period
    assert jobs[long].status == "queued" and jobs[long].retries == 0  # handed back, not counted
    with cluster.rt.db.session() as s:
        row = s.get(Worker, me_id(cluster, worker.pid))
        assert row is not None and row.stopped_at is not None
    messages = cluster.gql("query($id: ID!) { job(jobId: $id) { messages { text } } }", {"id": long})
    assert any("handed back" in m["text"] for m in messages["job"]["messages"])

    cluster.start_worker("--threads", "2")
    jobs = cluster.wait_all_ended([long], timeout=30)
    assert jobs[long].status == "finished" and jobs[long].retries == 0


def me_id(cluster: Cluster, pid: int) -> int:
    from sqlalchemy import select

    with cluster.rt.db.session() as s:
        found = s.scalars(select(Worker.id).where(Worker.pid == pid)).first()
    assert found is not None
    return found


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_of_every_queue_consumes_new_queues_promptly(cluster: Cluster) -> None:
    """Redis delivers a queue's messages only to workers that declared it: a worker with no
    --queue declares the queues of plugins and of queued jobs as they appear (each sweep)."""
    log = str(cluster.runs_log)
    # No stale re-sends within this test: only the original wake-up can start the jobs.
    cluster.start_worker("--threads", "2", JOBGRAPH_STALE_WAKE_SECONDS="600", JOBGRAPH_SWEEP_SECONDS="0.2")
    unit_call(
        cluster.rt,
        plugins.register_plugin,
        None,
        plugins.PluginSpec(
            plugin_id="test.gpu", kind="python", entrypoint=recorder.ENTRYPOINT, isolation="thread", queue="gpu"
        ),
    )
    cluster.register_recorder()
    started = time.monotonic()
    [on_plugin_queue] = cluster.create_jobs("test.gpu", [{"log": log}])
    [on_own_queue] = cluster.create_jobs("test.record", [{"log": log}], queue="reports-nightly")
    jobs = cluster.wait_all_ended([on_plugin_queue, on_own_queue], timeout=20)
    assert time.monotonic() - started < 10
    assert {j.status for j in jobs.values()} == {"finished"}
    assert {j.queue for j in jobs.values()} == {"gpu", "reports-nightly"}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_api_and_worker_refuse_a_database_that_is_behind(tmp_path: Path, pg_schema_url: str, redis_db_url: str) -> None:
    cluster = Cluster(tmp=tmp_path, database_url=pg_schema_url, redis_url=redis_db_url)  # not migrated
    for args in (["serve", "--port", "1"], ["worker"]):
        done = cluster.cli(*args, timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "run `jobgraph migrate` first" in done.stderr
        assert "Traceback" not in done.stderr
    migrated = cluster.cli("migrate")
    assert migrated.returncode == 0 and "database at revision" in migrated.stdout
    again = cluster.cli("migrate")
    assert again.returncode == 0


def test_the_sweep_fails_strict_children_whose_settling_was_lost(api: Api) -> None:
    """A parent failed, and the write that fails its strict children was lost (a database
    restart between the two): the sweep finds the queued strict child and fails it."""
    from jobgraph.db.models import Job

    parent = api.create_job("jobgraph.noop", runAt="2099-01-01T00:00:00Z")
    strict = api.create_job("jobgraph.noop", parents=[parent["jobId"]])
    with api.rt.db.session(write=True) as s:  # failed, without settling its children
        row = s.get(Job, parent["number"])
        assert row is not None
        row.status, row.error_message = "failed", "lost"
        s.add(row)
    ended = api.wait_for(strict["jobId"], timeout=10)
    assert ended["status"] == "failed"
    assert ended["errorMessage"] == f"parent job {parent['jobId']} failed"


def test_a_claim_the_worker_lost_track_of_goes_back_to_the_queue(api: Api) -> None:
    """The claim committed but its reply was lost (the connection dropped): the job is running
    under a live worker that is not running it. The worker's sweep hands it back."""
    from datetime import timedelta

    from jobgraph.clock import utcnow
    from jobgraph.db.models import Job

    service = api.client.app.state.service  # type: ignore[attr-defined]
    job = api.create_job("jobgraph.noop", runAt="2099-01-01T00:00:00Z")
    with api.rt.db.session(write=True) as s:
        row = s.get(Job, job["number"])
        assert row is not None
        row.status, row.worker_id = "running", service.workers.worker_id
        row.started_at, row.run_at = utcnow() - timedelta(seconds=60), None
        s.add(row)
    ended = api.wait_for(job["jobId"], timeout=15)
    assert ended["status"] == "finished" and ended["retries"] == 0
    assert any("lost track of this claim" in m["text"] for m in ended["messages"])


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_processes_are_supervised_restarted_and_stopped_together(cluster: Cluster) -> None:
    import os

    from sqlalchemy import select

    def rows() -> list[Worker]:
        with cluster.rt.db.session() as s:
            return list(s.scalars(select(Worker)))

    supervisor = cluster.start("workers", "worker", "--processes", "2", "--threads", "1", "--log-level", "warning")
    wait_until(lambda: len([w for w in rows() if w.stopped_at is None]) == 2, 30, "two worker processes")
    first, second = (w.pid for w in rows())
    assert supervisor.pid not in (first, second)
    os.kill(first, signal.SIGKILL)  # a crash: the supervisor starts another
    wait_until(lambda: len(rows()) == 3, 30, "a replacement worker process")
    replacement = next(w.pid for w in rows() if w.pid not in (first, second))
    supervisor.signal(signal.SIGTERM)  # passed on to every worker: each stops gracefully
    assert supervisor.wait(30) == 0, supervisor.output()
    stopped = {w.pid: w.stopped_at for w in rows()}
    assert stopped[second] is not None and stopped[replacement] is not None
