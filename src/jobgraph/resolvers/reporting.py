"""What a running attempt reports: messages and progress, and whether a cancel was asked for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, Message
from jobgraph.events import event_for
from jobgraph.resolvers.attempts import ERROR, INFO, WARNING, Attempt, lock_attempt
from jobgraph.runtime import Runtime

MAX_MESSAGE = 10_000


@dataclass(frozen=True)
class Line:
    """A log line a running attempt wrote, waiting to be stored."""

    attempt: Attempt
    text: str
    status: int = INFO
    tool_id: int = 0


def add_messages(rt: Runtime, lines: list[Line]) -> None:
    """Store log lines of running attempts in one transaction; one event per job."""
    if not lines:
        return
    rows = [
        {
            "job_number": line.attempt.number,
            "status": line.status if line.status in (INFO, WARNING, ERROR) else INFO,
            "text": str(line.text)[:MAX_MESSAGE],
            "tool_id": line.tool_id,
            "created_at": utcnow(),
        }
        for line in lines
    ]
    with rt.db.session(write=True) as s:
        s.execute(insert(Message.__table__), rows)  # type: ignore[attr-defined]
    jobs = {line.attempt.number: line.attempt.job for line in lines}
    for job in jobs.values():
        rt.events.publish(event_for("message", job))



def set_progress(rt: Runtime, attempt: Attempt, fraction: float, note: str | None = None) -> bool:
    """Store notes.progress; False when the attempt is no longer ours."""
    fraction = min(1.0, max(0.0, float(fraction)))
    with rt.db.session(write=True) as s:
        job = lock_attempt(s, attempt)
        if job is None:
            return False
        notes = dict(job.notes or {})
        notes["progress"] = fraction
        if note is not None:
            notes["progressText"] = note
        job.notes = notes
        job.updated_at = utcnow()
        s.add(job)
    rt.events.publish(event_for("progress", job))
    return True


def cancel_requested(rt: Runtime, worker_id: int) -> list[int]:
    """Numbers of this worker's running jobs that someone asked to cancel."""
    with rt.db.session() as s:
        rows = s.scalars(
            select(Job.number).where(
                Job.worker_id == worker_id, Job.status == "running", Job.cancel_requested.is_(True)
            )  # type: ignore[attr-defined]
        )
        return [n for n in rows if n is not None]
