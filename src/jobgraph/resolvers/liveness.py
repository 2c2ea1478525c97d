"""Worker liveness: registration, heartbeats, and recovering the jobs of workers that went away.

Heartbeats and the judgement of them use the database's clock. A worker that cannot beat
fences itself (stops its plugins) before others may presume it dead (`tasks.fencing`), so the
retry that recovery makes never overlaps the old run.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import bindparam, select, update

from jobgraph.db.models import Job, Worker
from jobgraph.resolvers.attempts import Attempt
from jobgraph.resolvers.completion import fail_attempt
from jobgraph.resolvers.dbclock import current_time, db_now
from jobgraph.unit import Unit

_workers = Worker.__table__  # type: ignore[attr-defined]
_HEARTBEAT = update(_workers).where(_workers.c.id == bindparam("worker")).values(last_seen_at=db_now())


def register_worker(u: Unit, queues: list[str] | None) -> int:
    """A worker row; `queues=None` (every queue) is stored as ["*"]."""
    worker = Worker(host=socket.gethostname(), pid=os.getpid(), queues=["*"] if queues is None else sorted(set(queues)))
    s = u.session
    worker.started_at = worker.last_seen_at = current_time(s)
    s.add(worker)
    s.flush()
    assert worker.id is not None
    return worker.id


def heartbeat(u: Unit, worker_id: int) -> None:
    s = u.session
    s.execute(_HEARTBEAT, {"worker": worker_id})


def stop_worker(u: Unit, worker_id: int) -> None:
    s = u.session
    s.execute(update(_workers).where(_workers.c.id == worker_id).values(stopped_at=db_now(), last_seen_at=db_now()))


def _is_this_process(worker: Worker) -> bool:
    """A process never presumes itself dead: a late heartbeat of its own is a slow machine."""
    return worker.host == socket.gethostname() and worker.pid == os.getpid()


def _pid_gone(worker: Worker) -> bool:
    if worker.host != socket.gethostname() or worker.pid == os.getpid():
        return False
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_lost_jobs(u: Unit, *, all_running: bool = False, trust_heartbeats: bool = True) -> list[Job]:
    """Running jobs whose worker went away: the crash counts as an attempt.

    A worker went away when it stopped, its heartbeat is older than the configured limit, or
    (same host) its process no longer exists. `all_running` is for the embedded default's
    start, where every running job belongs to the process that was there before. Without
    `trust_heartbeats` (the caller itself just got the database back) old heartbeats are not
    taken as deaths.
    """
    s = u.session
    cutoff = current_time(s) - timedelta(seconds=u.settings.worker_dead_after_seconds)
    running = list(s.scalars(select(Job).where(Job.status == "running")))
    worker_ids = {j.worker_id for j in running if j.worker_id is not None}
    workers = {w.id: w for w in s.scalars(select(Worker).where(Worker.id.in_(worker_ids)))} if worker_ids else {}  # type: ignore[union-attr]
    lost = []
    for job in running:
        if job.worker_id is None:
            continue
        worker = workers.get(job.worker_id)
        if all_running:
            why = "the service restarted while the job ran (an interrupted attempt)"
        elif worker is None:
            why = "the job's worker is unknown"
        elif worker.stopped_at is not None:
            why = f"worker {worker.id} on {worker.host} stopped while the job ran"
        elif (trust_heartbeats and worker.last_seen_at < cutoff and not _is_this_process(worker)) or _pid_gone(worker):
            why = f"worker {worker.id} on {worker.host} went away while the job ran"
        else:
            continue
        ended = fail_attempt(u, Attempt.of_running(job), why, kind="crash")
        if ended is not None:
            lost.append(ended)
    return lost


def orphaned_claims(u: Unit, worker_id: int, owned: set[int], older_than: float) -> list[Job]:
    """Jobs running under this worker in the database that this process is not running."""
    s = u.session
    cutoff = current_time(s) - timedelta(seconds=older_than)
    rows = s.scalars(
        select(Job).where(Job.worker_id == worker_id, Job.status == "running", Job.started_at <= cutoff)  # type: ignore[operator]
    )
    return [job for job in rows if job.number not in owned]
