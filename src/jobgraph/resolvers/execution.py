"""Job state changes that workers make: claim, report, finish, fail, recover.

The database is the source of truth. A Dramatiq message only says "there may be work in
queue Q"; the worker then claims the best due job with one atomic UPDATE, so priority order
and "never two runs of one attempt" come from here, whatever the broker delivers.

Every write a worker makes about a running attempt is guarded by (number, worker, attempt):
a worker that was presumed dead and replaced cannot overwrite its successor's attempt.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, not_, or_, select, true, update
from sqlalchemy.orm import aliased

from jobgraph.clock import utcnow
from jobgraph.db.models import (
    ENDED_STATUSES,
    Job,
    JobDependency,
    JobSeries,
    Message,
    Output,
    Plugin,
    Worker,
)
from jobgraph.errors import BadInput
from jobgraph.events import event_for
from jobgraph.resolvers import lifecycle
from jobgraph.resolvers.validation import check_json_value
from jobgraph.runtime import Runtime

log = logging.getLogger(__name__)

INFO, WARNING, ERROR = 1, 2, 3


@dataclass(frozen=True)
class Attempt:
    """What a worker holds while it runs one attempt of a job."""

    job: Job
    plugin: Plugin | None  # None when recovering an attempt whose worker is gone
    series: list[JobSeries]
    worker_id: int
    attempt: int  # the job's `retries` when claimed: the guard on every write

    @property
    def number(self) -> int:
        assert self.job.number is not None
        return self.job.number


# The guard on every write about a running attempt: (number, running, worker, attempt). Built
# once (building a statement costs more than running it); locks the row if it is still ours.
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


def _lock_attempt(s: Any, attempt: Attempt) -> Job | None:
    """The attempt's job row, locked, or None when the attempt is no longer this worker's."""
    params = {"number": attempt.number, "worker_id": attempt.worker_id, "attempt": attempt.attempt}
    job: Job | None = s.scalars(_LOCK_ATTEMPT, params).first()
    return job


def _due_and_unblocked(cand: Any, now: Any) -> Any:
    parent = aliased(Job)
    # A parent blocks while it may still run; a failed or cancelled one blocks a strict child
    # until `settle_children` fails it (a lax child goes ahead).
    blocking = exists().where(
        JobDependency.child_number == cand.number,
        JobDependency.parent_number == parent.number,
        or_(
            parent.status.in_(("queued", "running")),
            and_(cand.lax.is_(False), parent.status.in_(("failed", "cancelled"))),
        ),
    )
    return and_(
        cand.status == "queued",
        or_(cand.run_at.is_(None), cand.run_at <= now),
        or_(cand.expires.is_(None), cand.expires > now),
        not_(blocking),
    )


def _in_queues(cand: Any, queues: Iterable[str] | None) -> Any:
    return true() if queues is None else cand.queue.in_(list(queues))


_CLAIMS: dict[tuple[str, ...] | None, Any] = {}  # claim statements by queues (None: any), built once


def _claim_statement(queues: Iterable[str] | None) -> Any:
    """UPDATE ... WHERE number = (best due job, FOR UPDATE SKIP LOCKED) AND status = 'queued'
    RETURNING the job, with `now` and `worker_id` as parameters: built once per set of queues
    (building it costs more than running it)."""
    key = None if queues is None else tuple(sorted(set(queues)))
    stmt = _CLAIMS.get(key)
    if stmt is None:
        cand = aliased(Job)
        now = bindparam("now", type_=Job.__table__.c.started_at.type)  # type: ignore[attr-defined]
        best = (
            select(cand.number)
            .where(_in_queues(cand, key), _due_and_unblocked(cand, now))
            .order_by(cand.priority.desc(), cand.number.asc())
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        table = Job.__table__  # type: ignore[attr-defined]
        stmt = (
            update(table)
            .where(table.c.number == best, table.c.status == "queued")
            .values(
                status="running", worker_id=bindparam("worker_id"), started_at=now, updated_at=now, finished_at=None
            )
            .returning(*table.c)
        )
        _CLAIMS[key] = stmt
    return stmt


def claim(rt: Runtime, worker_id: int, queues: Iterable[str] | None) -> Attempt | None:
    """Take the best due job of these queues (None: any), or None. Atomic on SQLite and
    PostgreSQL: the UPDATE re-checks `status = 'queued'`, and PostgreSQL skips locked rows."""
    stmt = _claim_statement(queues)
    with rt.db.session(write=True) as s:
        conn = s.connection()  # begin (and on SQLite take the write lock) before reading the clock
        now = utcnow()
        row = conn.execute(stmt, {"now": now, "worker_id": worker_id}).mappings().first()
        if row is None:
            return None
        job = Job(**row)
        number = job.number
        plugin = s.get(Plugin, job.plugin_id)
        assert plugin is not None
        series = list(
            s.scalars(select(JobSeries).where(JobSeries.job_number == number).order_by(JobSeries.position))  # type: ignore[arg-type]
        )
    rt.events.publish(event_for("updated", job))
    return Attempt(job=job, plugin=plugin, series=series, worker_id=worker_id, attempt=job.retries)


def add_message(rt: Runtime, attempt: Attempt, text: str, status: int = INFO, tool_id: int = 0) -> None:
    status = status if status in (INFO, WARNING, ERROR) else INFO
    with rt.db.session(write=True) as s:
        s.add(Message(job_number=attempt.number, status=status, text=str(text)[:10_000], tool_id=tool_id))
    rt.events.publish(event_for("message", attempt.job))


def set_progress(rt: Runtime, attempt: Attempt, fraction: float, note: str | None = None) -> bool:
    """Store notes.progress; False when the attempt is no longer ours."""
    fraction = min(1.0, max(0.0, float(fraction)))
    with rt.db.session(write=True) as s:
        job = _lock_attempt(s, attempt)
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


def _collect_outputs(rt: Runtime, attempt: Attempt, output_dir: Path | None) -> list[Output]:
    if output_dir is None or not output_dir.is_dir():
        return []
    root = rt.settings.outputs_dir.resolve()
    outputs = []
    for path in sorted(p for p in output_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        relative_name = path.relative_to(output_dir).as_posix()
        if relative_name == "results.json":
            continue  # the result, not an output
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        suffix = path.suffix.lstrip(".").lower()
        outputs.append(
            Output(
                job_number=attempt.number,
                file_name=relative_name,
                size=path.stat().st_size,
                content_type=content_type,
                available_formats=[suffix] if suffix else ["raw"],
                path=path.resolve().relative_to(root).as_posix(),
            )
        )
    return outputs


def finish(rt: Runtime, attempt: Attempt, result: Any, output_dir: Path | None = None) -> Job | None:
    try:
        check_json_value(result, "the plugin's result")
    except BadInput as exc:  # NaN, NUL characters...: the attempt failed, the job is not broken
        return fail_attempt(rt, attempt, exc.message)
    outputs = _collect_outputs(rt, attempt, output_dir)
    with rt.db.session(write=True) as s:
        job = _lock_attempt(s, attempt)
        if job is None:
            log.warning(
                "job %s: attempt %s is no longer this worker's; result dropped", attempt.number, attempt.attempt
            )
            return None
        if job.cancel_requested:
            # The cancel won the race: cancelled, as the user asked, and the result is dropped.
            _end_cancelled(rt, s, job)
        else:
            _end_finished(s, job, result, outputs)
        waiting = _has_waiting_children(s, job)
    rt.events.publish(event_for("updated", job))
    if waiting:
        settle_children(rt, job)
    return job


_WAITING_CHILD = (
    select(JobDependency.child_number)
    .join(Job, Job.number == JobDependency.child_number)  # type: ignore[arg-type]
    .where(JobDependency.parent_number == bindparam("parent"), Job.status == "queued")
    .limit(1)
)


def _has_waiting_children(s: Any, job: Job) -> bool:
    """Asked inside the ending transaction, so most jobs (no children) skip settling entirely."""
    return s.execute(_WAITING_CHILD, {"parent": job.number}).first() is not None


def _end_finished(s: Any, job: Job, result: Any, outputs: list[Output]) -> None:
    lifecycle.move(job, "finished", "finish")
    now = utcnow()
    job.result = result
    job.error_message = None
    job.failure_kind = None
    job.finished_at = now
    job.updated_at = now
    notes = dict(job.notes or {})
    if "progress" in notes:
        notes["progress"] = 1.0
        job.notes = notes
    s.add(job)
    for output in outputs:
        s.add(output)


def _end_cancelled(rt: Runtime, s: Any, job: Job) -> Job:
    lifecycle.move(job, "cancelled", "cancel")
    now = utcnow()
    job.finished_at = now
    job.updated_at = now
    job.error_message = None
    s.add(job)
    s.add(Message(job_number=job.number, status=WARNING, text="cancelled while running"))
    return job


def mark_cancelled(rt: Runtime, attempt: Attempt) -> Job | None:
    with rt.db.session(write=True) as s:
        job = _lock_attempt(s, attempt)
        if job is None:
            return None
        _end_cancelled(rt, s, job)
        waiting = _has_waiting_children(s, job)
    rt.events.publish(event_for("updated", job))
    if waiting:
        settle_children(rt, job)
    return job


def fail_attempt(rt: Runtime, attempt: Attempt, error: str, kind: str = "exception") -> Job | None:
    """The attempt failed: retry with backoff if attempts are left, else the job fails."""
    with rt.db.session(write=True) as s:
        job = _lock_attempt(s, attempt)
        if job is None:
            return None
        if job.cancel_requested:
            _end_cancelled(rt, s, job)
        else:
            _fail_or_retry(rt, s, job, error, kind)
        waiting = job.status != "queued" and _has_waiting_children(s, job)
    rt.events.publish(event_for("updated", job))
    if job.status == "queued":
        from jobgraph.resolvers.jobs import wake_for

        wake_for(rt, job)
    elif waiting:
        settle_children(rt, job)
    return job


def _fail_or_retry(rt: Runtime, s: Any, job: Job, error: str, kind: str) -> None:
    now = utcnow()
    tried = job.retries + 1
    error = (error or "the plugin failed").strip()[:10_000]
    if tried < job.attempts:
        delay = lifecycle.backoff_seconds(job.retries, rt.settings.retry_backoff_base, rt.settings.retry_backoff_factor)
        lifecycle.move(job, "failed", "fail")
        lifecycle.move(job, "queued", "retry")
        job.retries = tried
        job.retried_at = now
        job.run_at = now + timedelta(seconds=delay)
        job.error_message = None
        job.started_at = None
        s.add(
            Message(
                job_number=job.number,
                status=ERROR,
                text=f"attempt {tried} of {job.attempts} failed: {error}; retrying in {delay:g}s",
            )
        )
    else:
        lifecycle.move(job, "failed", "fail")
        job.error_message = error
        job.finished_at = now
        s.add(Message(job_number=job.number, status=ERROR, text=error))
    job.failure_kind = kind
    job.updated_at = now
    s.add(job)


def hand_back(rt: Runtime, attempt: Attempt, reason: str) -> Job | None:
    """Give a running attempt back to the queue uncounted (a worker shutting down)."""
    with rt.db.session(write=True) as s:
        job = _lock_attempt(s, attempt)
        if job is None:
            return None
        lifecycle.move(job, "queued", "hand back")
        job.worker_id = None
        job.started_at = None
        job.updated_at = utcnow()
        s.add(job)
        s.add(Message(job_number=job.number, status=WARNING, text=reason))
    rt.events.publish(event_for("updated", job))
    from jobgraph.resolvers.jobs import wake_for

    wake_for(rt, job)
    return job


# ---------------------------------------------------------------- dependencies


_QUEUED_CHILDREN = (
    select(Job)
    .join(JobDependency, JobDependency.child_number == Job.number)  # type: ignore[arg-type]
    .where(JobDependency.parent_number == bindparam("parent"), Job.status == "queued")
    .with_for_update()
)


def settle_children(rt: Runtime, parent: Job) -> None:
    """After a job ends: fail strict children of a failed parent, wake the rest."""
    if parent.status not in ENDED_STATUSES:
        return
    pending = [parent]
    while pending:
        current = pending.pop()
        with rt.db.session(write=True) as s:
            children = list(s.scalars(_QUEUED_CHILDREN, {"parent": current.number}))
            failed_children = []
            if current.status in ("failed", "cancelled"):
                for child in children:
                    if child.lax:
                        continue
                    lifecycle.move(child, "failed", "fail")
                    now = utcnow()
                    child.error_message = f"parent job {current.job_id} {current.status}"
                    child.failure_kind = "parent"
                    child.finished_at = now
                    child.updated_at = now
                    s.add(child)
                    s.add(Message(job_number=child.number, status=ERROR, text=child.error_message))
                    failed_children.append(child)
        for child in failed_children:
            rt.events.publish(event_for("updated", child))
            pending.append(child)
        from jobgraph.resolvers.jobs import wake_for

        for child in children:
            if child not in failed_children:
                wake_for(rt, child)


# ---------------------------------------------------------------- workers and sweeping


def register_worker(rt: Runtime, queues: list[str] | None) -> int:
    """A worker row; `queues=None` (every queue) is stored as ["*"]."""
    worker = Worker(host=socket.gethostname(), pid=os.getpid(), queues=["*"] if queues is None else sorted(set(queues)))
    with rt.db.session(write=True) as s:
        s.add(worker)
        s.flush()
        assert worker.id is not None
        return worker.id


def heartbeat(rt: Runtime, worker_id: int) -> None:
    with rt.db.session(write=True) as s:
        s.execute(update(Worker).where(Worker.id == worker_id).values(last_seen_at=utcnow()))  # type: ignore[arg-type]


def stop_worker(rt: Runtime, worker_id: int) -> None:
    with rt.db.session(write=True) as s:
        s.execute(update(Worker).where(Worker.id == worker_id).values(stopped_at=utcnow(), last_seen_at=utcnow()))  # type: ignore[arg-type]


def _pid_gone(worker: Worker) -> bool:
    if worker.host != socket.gethostname() or worker.pid == os.getpid():
        return False
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_lost_jobs(rt: Runtime, *, all_running: bool = False, trust_heartbeats: bool = True) -> list[Job]:
    """Running jobs whose worker went away: the crash counts as an attempt.

    A worker went away when it stopped, its heartbeat is older than the configured limit, or
    (same host) its process no longer exists. `all_running` is for the embedded default's
    start, where every running job belongs to the process that was there before. Without
    `trust_heartbeats` (the caller itself just got the database back) old heartbeats are not
    taken as deaths.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=rt.settings.worker_dead_after_seconds)
    with rt.db.session() as s:
        running = list(s.scalars(select(Job).where(Job.status == "running")))
        worker_ids = {j.worker_id for j in running if j.worker_id is not None}
        workers = {w.id: w for w in s.scalars(select(Worker).where(Worker.id.in_(worker_ids)))} if worker_ids else {}  # type: ignore[union-attr]
    lost = []
    for job in running:
        if job.worker_id is None:
            continue
        worker = workers.get(job.worker_id) if job.worker_id is not None else None
        if all_running:
            why = "the service restarted while the job ran (an interrupted attempt)"
        elif worker is None:
            why = "the job's worker is unknown"
        elif worker.stopped_at is not None:
            why = f"worker {worker.id} on {worker.host} stopped while the job ran"
        elif (trust_heartbeats and worker.last_seen_at < cutoff) or _pid_gone(worker):
            why = f"worker {worker.id} on {worker.host} went away while the job ran"
        else:
            continue
        attempt = Attempt(job=job, plugin=None, series=[], worker_id=job.worker_id, attempt=job.retries)
        ended = fail_attempt(rt, attempt, why, kind="crash")
        if ended is not None:
            lost.append(ended)
    return lost


def expire_jobs(rt: Runtime) -> list[Job]:
    now = utcnow()
    with rt.db.session(write=True) as s:
        expired = list(
            s.scalars(
                select(Job)
                .where(Job.status == "queued", Job.expires.is_not(None), Job.expires <= now)
                .with_for_update()
            )  # type: ignore[union-attr,operator]
        )
        for job in expired:
            lifecycle.move(job, "failed", "expire")
            job.error_message = "expired before it started"
            job.failure_kind = "expired"
            job.finished_at = now
            job.updated_at = now
            s.add(job)
            s.add(Message(job_number=job.number, status=ERROR, text=job.error_message))
    for job in expired:
        rt.events.publish(event_for("updated", job))
        settle_children(rt, job)
    return expired


def stale_queues(rt: Runtime, queues: Iterable[str] | None) -> dict[str, int]:
    """Queues with due jobs that have waited longer than a wake-up should take: {queue: count}."""
    now = utcnow()
    waited = now - timedelta(seconds=rt.settings.stale_wake_seconds)
    cand = aliased(Job)
    stmt = (
        select(cand.queue, func.count())
        .where(
            _in_queues(cand, queues),
            _due_and_unblocked(cand, now),
            or_(and_(cand.run_at.is_(None), cand.updated_at <= waited), cand.run_at <= waited),
        )
        .group_by(cand.queue)
    )
    with rt.db.session() as s:
        return {q: int(n) for q, n in s.execute(stmt)}
