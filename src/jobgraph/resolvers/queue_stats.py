"""The queue at a glance: counts by status and by queue, and the workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from jobgraph.clock import utcnow
from jobgraph.db.models import JOB_STATUSES, Job, Worker
from jobgraph.resolvers import counting
from jobgraph.resolvers.job_list import _where
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

RECENT_WORKERS = timedelta(days=1)  # stopped workers stay listed this long


@dataclass
class WorkerState:
    worker: Worker
    alive: bool
    jobs_running: int


@dataclass
class QueueStats:
    by_status: dict[str, int]
    by_queue: dict[str, dict[str, int]]
    workers: list[WorkerState]
    # The statuses, and the queues, whose counts are PostgreSQL's estimates (counting.py).
    estimated_statuses: frozenset[str] = frozenset()
    estimated_queues: frozenset[str] = frozenset()


def _states(u: Unit, where: Any) -> list[WorkerState]:
    """Workers with what is derived from them: alive (not stopped, heard from lately) and the
    number of jobs they run now. The `workers` query and a job's `runBy` both read them here."""
    now = utcnow()
    dead_after = timedelta(seconds=u.settings.worker_dead_after_seconds)
    s = u.session
    running = (
        select(func.count())
        .where(Job.status == "running", Job.worker_id == Worker.id)  # type: ignore[arg-type]
        .correlate(Worker)
        .scalar_subquery()
    )
    rows = s.execute(select(Worker, running).where(where).order_by(Worker.id)).all()  # type: ignore[arg-type]
    return [
        WorkerState(
            worker=w,
            alive=w.stopped_at is None and now - w.last_seen_at < dead_after,
            jobs_running=int(count or 0),
        )
        for w, count in rows
    ]


def list_workers(u: Unit, viewer: Viewer) -> list[WorkerState]:
    """Workers seen in the last day."""
    return _states(u, Worker.last_seen_at >= utcnow() - RECENT_WORKERS)


def worker_states(u: Unit, ids: Sequence[int]) -> list[WorkerState | None]:
    """By id, in the order asked (a DataLoader's batch)."""
    found = {state.worker.id: state for state in _states(u, Worker.id.in_(set(ids)))}
    return [found.get(i) for i in ids]


def counts_by_queue(u: Unit, viewer: Viewer) -> tuple[dict[str, dict[str, int]], frozenset[str]]:
    """The queued and running jobs (that the viewer may see) of each queue that has any, and the
    queues whose counts are PostgreSQL's estimates (counting.py)."""
    visible = _where(viewer, None)
    limit = u.settings.exact_count_limit
    by_queue: dict[str, dict[str, int]] = {}
    estimated_queues: set[str] = set()
    s = u.session
    for status in ("queued", "running"):  # per queue: ix_jobs_status_queue serves both the scan and the counts
        each = counting.count_by(s, [*visible, col(Job.status) == status], Job.queue, limit=limit)
        for queue, total in each.items():
            if total.count:
                by_queue.setdefault(str(queue), {"queued": 0, "running": 0})[status] = total.count
            if total.estimated:
                estimated_queues.add(str(queue))
    return by_queue, frozenset(estimated_queues)


def queue_stats(u: Unit, viewer: Viewer) -> QueueStats:
    """Counts by status (counting.py: exact up to the exact count limit, else PostgreSQL's
    estimate), and the queued and running jobs of each queue (the same, per queue)."""
    visible = _where(viewer, None)
    limit = u.settings.exact_count_limit
    s = u.session
    statuses = {st: col(Job.status) == st for st in JOB_STATUSES}
    totals = counting.count_each(s, visible, statuses, limit=limit)
    by_queue, estimated_queues = counts_by_queue(u, viewer)
    return QueueStats(
        by_status={status: total.count for status, total in totals.items() if total.count},
        by_queue=by_queue,
        workers=list_workers(u, viewer),
        estimated_statuses=frozenset(status for status, total in totals.items() if total.estimated),
        estimated_queues=estimated_queues,
    )
