"""What a running attempt reports: messages and progress, and whether a cancel was asked for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, Message
from jobgraph.events import event_for
from jobgraph.resolvers.attempts import ERROR, INFO, WARNING, Attempt, lock_attempt
from jobgraph.resolvers.limits import storable_text
from jobgraph.unit import Unit

MAX_MESSAGE = 10_000


@dataclass(frozen=True)
class Line:
    """A log line a running attempt wrote, waiting to be stored."""

    attempt: Attempt
    text: str
    status: int = INFO
    tool_id: int = 0


def add_messages(u: Unit, lines: list[Line]) -> None:
    """Store log lines of running attempts in one transaction; one event per job."""
    if not lines:
        return
    rows = [
        {
            "job_number": line.attempt.number,
            "status": line.status if line.status in (INFO, WARNING, ERROR) else INFO,
            "text": storable_text(str(line.text)[:MAX_MESSAGE]),
            "tool_id": line.tool_id,
            "created_at": utcnow(),
        }
        for line in lines
    ]
    s = u.session
    s.execute(insert(Message.__table__), rows)  # type: ignore[attr-defined]
    jobs = {line.attempt.number: line.attempt.job for line in lines}
    for job in jobs.values():
        u.publish(event_for("message", job))



def set_progress(u: Unit, attempt: Attempt, fraction: float, note: str | None = None) -> bool:
    """Store notes.progress; False when the attempt is no longer ours."""
    fraction = min(1.0, max(0.0, float(fraction)))
    s = u.session
    job = lock_attempt(s, attempt)
    if job is None:
        return False
    notes = dict(job.notes or {})
    notes["progress"] = fraction
    if note is not None:
        notes["progressText"] = storable_text(str(note)[:MAX_MESSAGE])
    job.notes = notes
    job.updated_at = utcnow()
    s.add(job)
    u.publish(event_for("progress", job))
    return True


def cancel_requested(u: Unit, worker_id: int) -> list[int]:
    """Numbers of this worker's running jobs that someone asked to cancel."""
    s = u.session
    rows = s.scalars(
        select(Job.number).where(
            Job.worker_id == worker_id, Job.status == "running", Job.cancel_requested.is_(True)
        )  # type: ignore[attr-defined]
    )
    return [n for n in rows if n is not None]
