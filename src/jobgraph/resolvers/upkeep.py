"""Upkeep the workers do between jobs: scheduled jobs become ready when due, queued jobs past
their `expires` fail, and the list of queues there may be work in. Each is a range scan of a
partial index, so it costs the same with an empty queue and with a million queued jobs."""

from __future__ import annotations

from sqlalchemy import bindparam, select, text, update

from jobgraph.db.models import Job, Message, Plugin
from jobgraph.events import event_for
from jobgraph.resolvers import dependencies, lifecycle
from jobgraph.resolvers.attempts import ERROR
from jobgraph.resolvers.dbclock import current_time, db_now
from jobgraph.resolvers.dispatch import wake_for
from jobgraph.unit import Unit

BATCH = 1000
_jobs = Job.__table__  # type: ignore[attr-defined]

_DUE = (
    select(_jobs.c.number)
    .where(text("jobs.status = 'queued' AND jobs.hold = 'scheduled'"), _jobs.c.run_at <= db_now())
    .order_by(_jobs.c.run_at)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)
_PROMOTE = (
    update(_jobs)
    .where(_jobs.c.number.in_(_DUE.scalar_subquery()), _jobs.c.hold == "scheduled")
    .values(hold=None)
    .returning(_jobs.c.number, _jobs.c.queue, _jobs.c.hold, _jobs.c.run_at)
)


def promote_scheduled(u: Unit) -> int:
    """Scheduled jobs whose time has come become ready (up to BATCH at a time); their queues
    are woken. Returns how many."""
    s = u.session
    rows = list(s.execute(_PROMOTE))
    if rows:
        wake_for(u, rows)
    return len(rows)


_EXPIRED = (
    select(Job)
    .where(text("jobs.status = 'queued' AND jobs.expires IS NOT NULL"), Job.expires <= bindparam("now"))  # type: ignore[operator]
    .order_by(Job.expires)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)


def expire_jobs(u: Unit) -> list[Job]:
    s = u.session
    now = current_time(s)
    expired = list(s.scalars(_EXPIRED, {"now": now}))
    for job in expired:
        lifecycle.move(job, "failed", "expire")
        job.hold = None
        job.error_message = "expired before it started"
        job.failure_kind = "expired"
        job.finished_at = now
        job.updated_at = now
        s.add(job)
        s.add(Message(job_number=job.number, status=ERROR, text=job.error_message))
    s.flush()
    settled = dependencies.settle(s, expired)
    for job in expired:
        u.publish(event_for("updated", job))
    settled.publish(u)
    return expired


# The distinct queues of ready jobs, one index probe per queue (a loose index scan), so a
# million queued jobs in three queues cost three probes, not a million-row scan.
_READY_QUEUES = text(
    """
WITH RECURSIVE q(queue) AS (
    SELECT min(queue) FROM jobs WHERE status = 'queued' AND hold IS NULL
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs WHERE status = 'queued' AND hold IS NULL AND queue > q.queue)
    FROM q WHERE q.queue IS NOT NULL
)
SELECT queue FROM q WHERE queue IS NOT NULL"""
)


def known_queues(u: Unit) -> set[str]:
    """Queues there may be work in: every plugin's, and every queue with ready jobs."""
    s = u.session
    queues = set(s.scalars(select(Plugin.queue).distinct()))
    queues.update(s.scalars(_READY_QUEUES))
    return {q for q in queues if q}
