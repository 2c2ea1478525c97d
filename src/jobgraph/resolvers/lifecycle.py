"""The job lifecycle: every allowed status change, in one table.

queued -> running -> finished | failed | cancelled; failed -> queued (automatic or manual
retry); queued -> cancelled (at once); running -> cancelled (when the worker stopped the
plugin); finished -> invalidated. queued -> failed is how an expired job or the child of a
failed parent ends, and running -> queued is an attempt handed back (a worker shut down).
"""

from __future__ import annotations

from jobgraph.db.models import Job
from jobgraph.errors import Conflict

TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled", "failed"}),
    "running": frozenset({"finished", "failed", "cancelled", "queued"}),
    "failed": frozenset({"queued"}),
    "finished": frozenset({"invalidated"}),
    "cancelled": frozenset(),
    "invalidated": frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def move(job: Job, target: str, action: str) -> None:
    if not can_move(job.status, target):
        raise Conflict(f"cannot {action} job {job.job_id}: it is {job.status}", status=job.status)
    job.status = target


def backoff_seconds(retries: int, base: float, factor: float) -> float:
    """Minion's and Dramatiq's shape: retries**4 + 15 seconds by default."""
    return factor * retries**4 + base
