"""What a worker holds while it runs one attempt, and the guard on every write about it.

Every write a worker makes about a running attempt is guarded by (number, worker, attempt): a
worker that was presumed dead and replaced cannot overwrite its successor's attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from jobgraph.db.models import Job, JobSeries, Plugin

INFO, WARNING, ERROR = 1, 2, 3
_COLUMNS = tuple(c.name for c in Job.__table__.c)  # type: ignore[attr-defined]


def job_snapshot(row: Any) -> Job:
    """A read-only Job from a row of all its columns, without SQLModel's validation (ten times
    cheaper, on the claim and completion paths). Not for adding to a session."""
    return Job.model_construct(**{name: row[name] for name in _COLUMNS})


@dataclass(frozen=True)
class Attempt:
    job: Job
    plugin: Plugin | None  # None when recovering an attempt whose worker is gone
    series: list[JobSeries]
    worker_id: int
    attempt: int  # the job's `retries` when claimed: the guard on every write

    @property
    def number(self) -> int:
        assert self.job.number is not None
        return self.job.number

    @classmethod
    def of_running(cls, job: Job) -> Attempt:
        """The attempt a running job is on, as its worker holds it (for ending it from outside)."""
        assert job.worker_id is not None
        return cls(job=job, plugin=None, series=[], worker_id=job.worker_id, attempt=job.retries)


# Built once (building a statement costs more than running it); locks the row if still ours.
_LOCK_ATTEMPT = (
    select(Job)
    .where(
        Job.number == bindparam("number"),
        Job.status == "running",
        Job.worker_id == bindparam("worker_id"),
        Job.retries == bindparam("attempt"),
    )
    .with_for_update()
)


def lock_attempt(s: Any, attempt: Attempt) -> Job | None:
    """The attempt's job row, locked, or None when the attempt is no longer this worker's."""
    params = {"number": attempt.number, "worker_id": attempt.worker_id, "attempt": attempt.attempt}
    job: Job | None = s.scalars(_LOCK_ATTEMPT, params).first()
    return job
