"""The queue at a glance: counts by status and by queue, and the workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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


def list_workers(rt: Runtime, viewer: Viewer) -> list[WorkerState]:
    now = utcnow()
    dead_after = timedelta(seconds=rt.settings.worker_dead_after_seconds)
    with rt.db.session() as s:
        rows = list(
            s.scalars(
                select(Worker).where(Worker.last_seen_at >= now - RECENT_WORKERS).order_by(Worker.id)  # type: ignore[arg-type,union-attr]
            )
        )
        running = dict(
            s.execute(select(Job.worker_id, func.count()).where(Job.status == "running").group_by(Job.worker_id)).all()
        )
    return [
        WorkerState(
            worker=w,
            alive=w.stopped_at is None and now - w.last_seen_at < dead_after,
            jobs_running=int(running.get(w.id, 0)),
        )
        for w in rows
    ]


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
