"""Retention, like Minion's `remove_after` and Oban's pruner: ended jobs older than an age go,
with everything that hangs off them (messages, output rows, series links, feedback and
dependency edges go by ON DELETE CASCADE; output files after the commit), in small batches, so
the queue never waits behind one long delete. Expired derived tokens go too."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select

from jobgraph.db.models import ENDED_STATUSES, ApiToken, Job
from jobgraph.events import event_for
from jobgraph.resolvers.dbclock import current_time
from jobgraph.runtime import Runtime
from jobgraph.unit import Unit, unit_of_work

BATCH = 500
_jobs = Job.__table__  # type: ignore[attr-defined]
_tokens = ApiToken.__table__  # type: ignore[attr-defined]


def prune_jobs(u: Unit, older_than: timedelta, *, batch: int = BATCH) -> int:
    """Remove up to `batch` jobs that ended more than `older_than` ago (oldest first). Returns
    how many; call again until it returns less than `batch`."""
    s = u.session
    cutoff = current_time(s) - older_than
    # A job ends after it is created: the created_at bound lets (status, created_at) narrow
    # the scan to old jobs; finished_at decides.
    old = (
        select(_jobs.c.number, _jobs.c.job_id, _jobs.c.status, _jobs.c.queue, _jobs.c.plugin_id, _jobs.c.user_id)
        .where(
            _jobs.c.status.in_(sorted(ENDED_STATUSES)),
            _jobs.c.created_at < cutoff,
            _jobs.c.finished_at < cutoff,
        )
        .order_by(_jobs.c.created_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    rows = list(s.execute(old))
    if rows:
        s.execute(delete(_jobs).where(_jobs.c.number.in_([row.number for row in rows])))
    if rows:
        outputs = [u.settings.outputs_dir / row.job_id for row in rows]
        u.after_commit(lambda: _remove(outputs))
        for row in rows:
            u.publish(event_for("deleted", row))
    return len(rows)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def prune_expired_tokens(u: Unit, *, batch: int = BATCH) -> int:
    """Remove derived tokens (OAuth2 access tokens) that have expired: nothing can use them, and
    one is made per exchange."""
    s = u.session
    now = current_time(s)
    expired = (
        select(_tokens.c.id)
        .where(_tokens.c.parent_id.is_not(None), _tokens.c.expires_at < now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    ids = list(s.scalars(expired))
    if ids:
        s.execute(delete(_tokens).where(_tokens.c.id.in_(ids)))
    return len(ids)


def prune(rt: Runtime, *, budget_seconds: float = 1.0) -> int:
    """The workers' sweep: batches while there is more and the budget lasts (several workers
    share the work: each batch skips rows another is deleting). Jobs only when a retention age
    is set (`JOBGRAPH_RETAIN_JOBS_DAYS`); expired derived tokens always. A step of its own
    batches: each batch is a unit (a long delete would hold the rows the queue needs)."""
    with unit_of_work(rt, write=True) as u:
        removed = prune_expired_tokens(u)
    days = rt.settings.retain_jobs_days
    if days is None:
        return removed
    deadline = time.monotonic() + budget_seconds
    while True:
        with unit_of_work(rt, write=True) as u:
            count = prune_jobs(u, timedelta(days=days))
        removed += count
        if count < BATCH or time.monotonic() >= deadline:
            return removed
