"""Claiming: a worker takes up to as many ready jobs of one queue as it has free slots.

One statement, River's and Oban's shape: UPDATE ... WHERE number IN (the best ready jobs, FOR
UPDATE SKIP LOCKED) AND status = 'queued' RETURNING. The subquery is a range scan of the
partial index `ix_jobs_claim` (ready jobs of a queue in dispatch order), so its cost does not
grow with the backlog: scheduled jobs and jobs waiting for parents carry a `hold` and are not
in that index at all (the upkeep and `dependencies` lift holds). Times are the database's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select, update

from jobgraph.db.models import Job, JobSeries, Plugin
from jobgraph.events import event_for
from jobgraph.resolvers.attempts import Attempt
from jobgraph.resolvers.dbclock import db_now
from jobgraph.runtime import Runtime

_jobs = Job.__table__  # type: ignore[attr-defined]


def _build_claim() -> Any:
    now = db_now()
    best = (
        select(_jobs.c.number)
        .where(
            _jobs.c.queue == bindparam("claim_queue"),
            _jobs.c.status == "queued",
            _jobs.c.hold.is_(None),
            or_(_jobs.c.expires.is_(None), _jobs.c.expires > now),
        )
        .order_by(_jobs.c.priority.desc(), _jobs.c.number.asc())
        .limit(bindparam("claim_limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(_jobs)
        .where(_jobs.c.number.in_(best.scalar_subquery()), _jobs.c.status == "queued")
        .values(status="running", worker_id=bindparam("claim_worker"), started_at=now, updated_at=now, finished_at=None)
        .returning(*_jobs.c)
    )


_CLAIM = _build_claim()
_PLUGINS = select(Plugin).where(Plugin.plugin_id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]
_SERIES = (
    select(JobSeries)
    .where(JobSeries.job_number.in_(bindparam("numbers", expanding=True)))  # type: ignore[attr-defined]
    .order_by(JobSeries.job_number, JobSeries.position)
)


def claim(rt: Runtime, worker_id: int, queue: str, limit: int) -> list[Attempt]:
    """Up to `limit` ready jobs of `queue`, in dispatch order, now running under `worker_id`.
    Atomic on both databases: PostgreSQL skips rows another claim holds, SQLite serialises
    writers (BEGIN IMMEDIATE), and the UPDATE re-checks `status = 'queued'`."""
    if limit < 1:
        return []
    with rt.db.session(write=True) as s:
        rows = s.execute(_CLAIM, {"claim_queue": queue, "claim_limit": limit, "claim_worker": worker_id}).mappings().all()
        if not rows:
            return []
        jobs = sorted((Job(**row) for row in rows), key=lambda j: (-j.priority, j.number))
        plugins = {p.plugin_id: p for p in s.scalars(_PLUGINS, {"ids": sorted({j.plugin_id for j in jobs})})}
        series: dict[int, list[JobSeries]] = {}
        for row in s.scalars(_SERIES, {"numbers": [j.number for j in jobs]}):
            series.setdefault(row.job_number, []).append(row)
    for job in jobs:
        rt.events.publish(event_for("updated", job))
    return [
        Attempt(
            job=job,
            plugin=plugins.get(job.plugin_id),
            series=series.get(job.number, []),  # type: ignore[arg-type]
            worker_id=worker_id,
            attempt=job.retries,
        )
        for job in jobs
    ]
