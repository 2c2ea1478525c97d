"""The queue at a glance: counts by status and by queue, and the workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, Worker
from jobgraph.resolvers.job_list import _where
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime

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


def _states(rt: Runtime, where: Any) -> list[WorkerState]:
    """Workers with what is derived from them: alive (not stopped, heard from lately) and the
    number of jobs they run now. The `workers` query and a job's `runBy` both read them here."""
    now = utcnow()
    dead_after = timedelta(seconds=rt.settings.worker_dead_after_seconds)
    with rt.db.session() as s:
        rows = list(s.scalars(select(Worker).where(where).order_by(Worker.id)))  # type: ignore[arg-type]
        ids = [w.id for w in rows]
        running = (
            dict(
                s.execute(
                    select(Job.worker_id, func.count())
                    .where(Job.status == "running", Job.worker_id.in_(ids))
                    .group_by(Job.worker_id)
                ).all()
            )
            if ids
            else {}
        )
    return [
        WorkerState(
            worker=w,
            alive=w.stopped_at is None and now - w.last_seen_at < dead_after,
            jobs_running=int(running.get(w.id, 0)),
        )
        for w in rows
    ]


def list_workers(rt: Runtime, viewer: Viewer) -> list[WorkerState]:
    """Workers seen in the last day."""
    return _states(rt, Worker.last_seen_at >= utcnow() - RECENT_WORKERS)


def worker_states(rt: Runtime, ids: Sequence[int]) -> list[WorkerState | None]:
    """By id, in the order asked (a DataLoader's batch)."""
    found = {state.worker.id: state for state in _states(rt, Worker.id.in_(set(ids)))}
    return [found.get(i) for i in ids]


def queue_stats(rt: Runtime, viewer: Viewer) -> QueueStats:
    visible = _where(viewer, None)
    with rt.db.session() as s:
        by_status = {
            str(k): int(v)
            for k, v in s.execute(select(Job.status, func.count()).where(*visible).group_by(Job.status)).all()
        }
        by_queue: dict[str, dict[str, int]] = {}
        for queue, status, count in s.execute(
            select(Job.queue, Job.status, func.count())
            .where(*visible, Job.status.in_(("queued", "running")))  # type: ignore[attr-defined]
            .group_by(Job.queue, Job.status)
        ).all():
            by_queue.setdefault(str(queue), {"queued": 0, "running": 0})[str(status)] = int(count)
    return QueueStats(by_status=by_status, by_queue=by_queue, workers=list_workers(rt, viewer))
