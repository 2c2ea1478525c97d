"""Ending attempts: finished, failed (retried with backoff while attempts are left),
cancelled, or handed back uncounted.

Finished attempts, by far the most, are recorded in batches (River's completer): one guarded
UPDATE for many attempts, their output rows, and the release of their waiting children, in one
transaction. An attempt the batch did not take (a cancel won the race, or the attempt is no
longer this worker's) goes through `finish`, one at a time, which tells the two apart.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, column, text

from jobgraph.db.models import Job, Message, Output
from jobgraph.errors import BadInput
from jobgraph.events import event_for
from jobgraph.resolvers import dependencies, lifecycle
from jobgraph.resolvers.attempts import ERROR, WARNING, Attempt, job_snapshot, lock_attempt
from jobgraph.resolvers.dbclock import current_time
from jobgraph.resolvers.dispatch import wake_for
from jobgraph.resolvers.limits import storable_text
from jobgraph.resolvers.validation import check_json_value
from jobgraph.settings import Settings
from jobgraph.unit import Unit

log = logging.getLogger(__name__)

MAX_ERROR = 10_000
_jobs = Job.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Finished:
    """A finished attempt waiting to be recorded."""

    attempt: Attempt
    result: Any
    outputs: list[Output]


def collect_outputs(settings: Settings, attempt: Attempt, output_dir: Path | None) -> list[Output]:
    """Every file under output/ but results.json (the result), as Output rows."""
    if output_dir is None or not output_dir.is_dir():
        return []
    root = settings.outputs_dir.resolve()
    outputs = []
    for path in sorted(p for p in output_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        relative_name = path.relative_to(output_dir).as_posix()
        if relative_name == "results.json":
            continue
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


def checked_result(result: Any) -> str | None:
    """None when the result may be stored, else why not (NaN, NUL characters...)."""
    try:
        check_json_value(result, "the plugin's result")
    except BadInput as exc:
        return exc.message
    return None


# One guarded statement for a batch: the attempts come as one JSON parameter, so the statement
# text is the same for every batch size and is prepared once per connection.
_FINISH_MANY = {
    "postgresql": """
UPDATE jobs SET status = 'finished', result = v.result, error_message = NULL, failure_kind = NULL,
    finished_at = now(), updated_at = now(),
    notes = CASE WHEN jsonb_typeof(jobs.notes) = 'object' AND jsonb_exists(jobs.notes, 'progress')
                 THEN jsonb_set(jobs.notes, '{progress}', '1.0'::jsonb) ELSE jobs.notes END
FROM jsonb_to_recordset(CAST(:batch AS jsonb)) AS v(number bigint, worker_id integer, attempt integer, result jsonb)
WHERE jobs.number = v.number AND jobs.worker_id = v.worker_id AND jobs.retries = v.attempt
  AND jobs.status = 'running' AND NOT jobs.cancel_requested
RETURNING jobs.*, EXISTS (SELECT 1 FROM job_dependencies d WHERE d.parent_number = jobs.number) AS has_children""",
    "sqlite": """
UPDATE jobs SET status = 'finished', result = v.result, error_message = NULL, failure_kind = NULL,
    finished_at = v.now, updated_at = v.now,
    notes = CASE WHEN json_type(jobs.notes, '$.progress') IS NOT NULL
                 THEN json_set(jobs.notes, '$.progress', 1.0) ELSE jobs.notes END
FROM (SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') || '000' AS now,
             value ->> '$.number' AS number, value ->> '$.worker_id' AS worker_id,
             value ->> '$.attempt' AS attempt,
             CASE WHEN coalesce(json_type(value, '$.result'), 'null') = 'null' THEN NULL
                  ELSE value -> '$.result' END AS result
      FROM json_each(:batch)) AS v
WHERE jobs.number = v.number AND jobs.worker_id = v.worker_id AND jobs.retries = v.attempt
  AND jobs.status = 'running' AND NOT jobs.cancel_requested
RETURNING *, EXISTS (SELECT 1 FROM job_dependencies d WHERE d.parent_number = jobs.number) AS has_children""",
}
_FINISH_STATEMENTS = {
    name: text(sql).columns(*_jobs.c, column("has_children", Boolean)) for name, sql in _FINISH_MANY.items()
}


def finish_many(u: Unit, batch: list[Finished]) -> list[Finished]:
    """Record many finished attempts in one transaction. Returns those it did not record (a
    cancel won the race, the attempt is not ours any more, or the result cannot be stored):
    the caller passes each to `finish`, which decides."""
    storable: list[Finished] = []
    left: list[Finished] = []
    for f in batch:
        (storable if checked_result(f.result) is None else left).append(f)
    if not storable:
        return left
    payload = json.dumps(
        [
            {"number": a.number, "worker_id": a.worker_id, "attempt": a.attempt, "result": f.result}
            for f in storable
            for a in (f.attempt,)
        ]
    )
    s = u.session
    statement = _FINISH_STATEMENTS["postgresql" if s.get_bind().dialect.name == "postgresql" else "sqlite"]
    rows = s.execute(statement, {"batch": payload}).mappings().all()
    ended = [job_snapshot(row) for row in rows]
    done = {job.number for job in ended}
    outputs = [o for f in storable if f.attempt.number in done for o in f.outputs]
    if outputs:
        s.add_all(outputs)
    parents = [job for job, row in zip(ended, rows, strict=True) if row["has_children"]]
    settled = dependencies.settle(s, parents) if parents else dependencies.Settled()
    for job in ended:
        u.publish(event_for("updated", job))
    settled.publish(u)
    return left + [f for f in storable if f.attempt.number not in done]


def finish(u: Unit, attempt: Attempt, result: Any, outputs: list[Output]) -> Job | None:
    """One finished attempt (what the batch did not take)."""
    problem = checked_result(result)
    if problem is not None:  # the attempt failed; the job is not broken
        return fail_attempt(u, attempt, problem)
    s = u.session
    job = lock_attempt(s, attempt)
    if job is None:
        log.warning("job %s: attempt %s is no longer ours; result dropped", attempt.number, attempt.attempt)
        return None
    now = current_time(s)
    if job.cancel_requested:  # the cancel won the race: cancelled, as the user asked
        _end_cancelled(s, job, now)
    else:
        lifecycle.move(job, "finished", "finish")
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
        s.add_all(outputs)
    settled = dependencies.settle(s, [job])
    u.publish(event_for("updated", job))
    settled.publish(u)
    return job


def _end_cancelled(s: Any, job: Job, now: Any) -> None:
    lifecycle.move(job, "cancelled", "cancel")
    job.finished_at = now
    job.updated_at = now
    job.error_message = None
    s.add(job)
    s.add(Message(job_number=job.number, status=WARNING, text="cancelled while running"))


def mark_cancelled(u: Unit, attempt: Attempt) -> Job | None:
    s = u.session
    job = lock_attempt(s, attempt)
    if job is None:
        return None
    _end_cancelled(s, job, current_time(s))
    settled = dependencies.settle(s, [job])
    u.publish(event_for("updated", job))
    settled.publish(u)
    return job


def fail_attempt(u: Unit, attempt: Attempt, error: str, kind: str = "exception") -> Job | None:
    """The attempt failed: retry with backoff if attempts are left, else the job fails."""
    s = u.session
    job = lock_attempt(s, attempt)
    if job is None:
        return None
    now = current_time(s)
    if job.cancel_requested:
        _end_cancelled(s, job, now)
    else:
        _fail_or_retry(u, s, job, error, kind, now)
    settled = dependencies.settle(s, [job]) if job.status != "queued" else dependencies.Settled()
    u.publish(event_for("updated", job))
    if job.status == "queued":
        wake_for(u, [job])
    settled.publish(u)
    return job


def _fail_or_retry(u: Unit, s: Any, job: Job, error: str, kind: str, now: Any) -> None:
    tried = job.retries + 1
    error = storable_text((error or "the plugin failed").strip()[:MAX_ERROR])
    if tried < job.attempts:
        delay = lifecycle.backoff_seconds(job.retries, u.settings.retry_backoff_base, u.settings.retry_backoff_factor)
        lifecycle.move(job, "failed", "fail")
        lifecycle.move(job, "queued", "retry")
        job.retries = tried
        job.retried_at = now
        job.run_at = now + timedelta(seconds=delay)
        job.hold = dependencies.hold_for(job.run_at, now, waits_for_parents=False)
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


def hand_back(u: Unit, attempt: Attempt, reason: str) -> Job | None:
    """Give a running attempt back to the queue uncounted (a worker shutting down)."""
    s = u.session
    job = lock_attempt(s, attempt)
    if job is None:
        return None
    lifecycle.move(job, "queued", "hand back")
    job.worker_id = None
    job.started_at = None
    job.hold = None
    job.updated_at = current_time(s)
    s.add(job)
    s.add(Message(job_number=job.number, status=WARNING, text=reason))
    u.publish(event_for("updated", job))
    wake_for(u, [job])
    return job
