"""Job use cases that people call: create, read, cancel, retry, invalidate, update, delete.

Every view (GraphQL, the four REST systems, the CLI) calls these, so each rule is here once.
State changes that workers make are in `claiming`, `completion` and `reporting`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select, text
from sqlmodel import Session

from jobgraph.clock import utcnow
from jobgraph.db.models import ENDED_STATUSES, Job, JobDependency, JobSeries, Plugin, Series
from jobgraph.errors import BadInput, Conflict, NotFound
from jobgraph.events import event_for
from jobgraph.ids import is_public_id, new_id
from jobgraph.resolvers import dependencies, lifecycle, limits, policy
from jobgraph.resolvers.dbclock import current_time
from jobgraph.resolvers.dispatch import wake_for
from jobgraph.resolvers.plugins import PLUGIN_ID, check_queue
from jobgraph.resolvers.series import check_series_uid
from jobgraph.resolvers.validation import check_json_value, validate_against
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

MAX_PRIORITY = 2**31 - 1
MAX_BATCH = 1000
MAX_SERIES = 100
MAX_PARENTS = 100


@dataclass
class SeriesRef:
    series_uid: str
    start: int | None = None
    end: int | None = None
    delta: int | None = None

    @property
    def has_volume(self) -> bool:
        return self.start is not None or self.end is not None or self.delta is not None


@dataclass
class JobSpec:
    plugin_id: str
    input: Any = None
    series: list[SeriesRef] = field(default_factory=list)
    priority: int = 0
    queue: str | None = None
    attempts: int | None = None
    run_at: datetime | None = None
    expires: datetime | None = None
    parents: list[str | int] = field(default_factory=list)  # jobId or number
    lax: bool = False
    notes: dict[str, Any] | None = None
    run_level: str = "default"
    # CIRCUS's duplicate guard: refuse the job when the same plugin already has a queued, running
    # or finished job on the same series (same order, same partial volumes). Off unless asked for
    # (CIRCUS's POST /api/plugin-jobs asks unless `force`; GraphQL's `unique: true`); a job
    # without series is never a duplicate.
    unique: bool = False


# The statuses of a job that makes another one on the same series a duplicate (CIRCUS's rule:
# a failed, cancelled or invalidated job may be run again).
DUPLICATE_STATUSES = ("queued", "running", "finished")
SeriesKey = tuple[tuple[str, int | None, int | None, int | None], ...]


# ---------------------------------------------------------------- reading


def get_job(u: Unit, viewer: Viewer, job_id: str) -> Job | None:
    if not isinstance(job_id, str) or not is_public_id(job_id):
        return None
    s = u.session
    job = s.scalars(select(Job).where(Job.job_id == job_id)).first()
    return policy.visible(viewer, job)


def get_job_by_number(u: Unit, viewer: Viewer, number: int) -> Job | None:
    if not limits.in_int_range(number, 1):  # no job has a number the column cannot hold
        return None
    s = u.session
    job = s.get(Job, number)
    return policy.visible(viewer, job)


def require_job(u: Unit, viewer: Viewer, job_ref: str | int) -> Job:
    job = get_job_by_number(u, viewer, job_ref) if isinstance(job_ref, int) else get_job(u, viewer, job_ref)
    if job is None:
        raise NotFound(f"no job {job_ref}")
    return job


def _load_for_change(s: Session, viewer: Viewer, job_ref: str | int) -> Job:
    """The job, locked for update, if the viewer may see it; NotFound otherwise."""
    stmt = select(Job).with_for_update()
    if isinstance(job_ref, int):
        if not limits.in_int_range(job_ref, 1):
            raise NotFound(f"no job {job_ref}")
        stmt = stmt.where(Job.number == job_ref)
    elif is_public_id(job_ref):
        stmt = stmt.where(Job.job_id == job_ref)
    else:
        raise NotFound(f"no job {job_ref}")
    return policy.require_visible(viewer, s.scalars(stmt).first(), job_ref)


def _check_note_keys(notes: Any) -> None:
    """Notes are a JSON object (checked as JSON elsewhere); its keys are names, not documents."""
    if isinstance(notes, dict):
        for key in notes:
            if isinstance(key, str) and len(key) > limits.MAX_NOTE_KEY:
                raise BadInput(f"notes: a key is at most {limits.MAX_NOTE_KEY} characters ({key[:20]!r}... is longer)")


# ---------------------------------------------------------------- creating


def _check_spec(
    s: Session, viewer: Viewer, spec: JobSpec, index: int | None, plugins: dict[str, Plugin], now: datetime
) -> tuple[dict[str, Any], list[JobSeries], list[int]]:
    where = "" if index is None else f"inputs[{index}]: "

    def bad(message: str) -> BadInput:
        return BadInput(where + message)

    plugin = plugins.get(spec.plugin_id) if isinstance(spec.plugin_id, str) else None
    if plugin is None:
        raise NotFound(f"{where}no plugin {spec.plugin_id!r}")
    if not plugin.enabled:
        raise Conflict(f"{where}plugin {plugin.plugin_id!r} is disabled")
    try:
        check_json_value(spec.input, "input")
        check_json_value(spec.notes, "notes")
        validate_against(plugin.input_schema, spec.input, "input")
    except BadInput as exc:
        raise bad(exc.message) from None
    if isinstance(spec.priority, bool) or not isinstance(spec.priority, int) or abs(spec.priority) > MAX_PRIORITY:
        raise bad(f"priority must be an integer from -{MAX_PRIORITY} to {MAX_PRIORITY}")
    queue = spec.queue if spec.queue is not None else plugin.queue
    try:
        check_queue(queue)
    except BadInput as exc:
        raise bad(exc.message) from None
    attempts = spec.attempts if spec.attempts is not None else plugin.attempts
    if not 1 <= attempts <= 100:
        raise bad("attempts must be 1 to 100")
    if spec.notes is not None and not isinstance(spec.notes, dict):
        raise bad("notes must be a JSON object")
    if not isinstance(spec.run_level, str) or not 1 <= len(spec.run_level) <= 64:
        raise bad("runLevel must be 1 to 64 characters")
    try:
        limits.check_text(spec.run_level, "runLevel")
        _check_note_keys(spec.notes)
        for when, what in ((spec.run_at, "runAt"), (spec.expires, "expires")):
            if when is not None:
                limits.check_datetime(when, what)
    except BadInput as exc:
        raise bad(exc.message) from None
    if spec.run_at and spec.expires and spec.expires <= spec.run_at:
        raise bad("expires must be later than runAt")
    if len(spec.series) > MAX_SERIES:
        raise bad(f"at most {MAX_SERIES} series per job")
    if len(spec.parents) > MAX_PARENTS:
        raise bad(f"at most {MAX_PARENTS} parents per job")

    rows: list[JobSeries] = []
    uids = [ref.series_uid for ref in spec.series]
    for uid in uids:
        try:
            check_series_uid(uid)
        except BadInput as exc:
            raise bad(exc.message) from None
    known = {x.series_uid: x for x in s.scalars(select(Series).where(Series.series_uid.in_(uids)))} if uids else {}  # type: ignore[attr-defined]
    for position, ref in enumerate(spec.series):
        series = known.get(ref.series_uid)
        if series is None:
            raise bad(f"series {ref.series_uid!r} is not registered")
        if ref.has_volume:
            start, end, delta = ref.start, ref.end, ref.delta
            if start is None or end is None or delta is None:
                raise bad("a partialVolumeDescriptor needs start, end and delta")
            if not (1 <= start <= end <= series.image_count) or delta < 1:
                raise bad(
                    f"partial volume {start}..{end} (delta {delta}) of series {ref.series_uid} must lie "
                    f"within 1..{series.image_count} with delta >= 1"
                )
        rows.append(
            JobSeries(
                job_number=0,
                position=position,
                series_uid=ref.series_uid,
                start=ref.start,
                end=ref.end,
                delta=ref.delta,
            )
        )

    parent_numbers: list[int] = []
    for parent_ref in spec.parents:
        parent = None
        if limits.in_int_range(parent_ref, 1):
            parent = s.get(Job, parent_ref)
        elif isinstance(parent_ref, str) and is_public_id(parent_ref):
            parent = s.scalars(select(Job).where(Job.job_id == parent_ref)).first()
        if not policy.can_see_job(viewer, parent):
            raise NotFound(f"{where}no parent job {parent_ref}")
        assert parent.number is not None
        parent_numbers.append(parent.number)

    parents = sorted(set(parent_numbers))
    # A row, not an ORM object: the batch is inserted with Core, several times cheaper.
    job = dict(
        job_id=new_id(),
        plugin_id=plugin.plugin_id,
        user_id=viewer.user_id,
        status="queued",
        priority=spec.priority,
        queue=queue,
        input=spec.input,
        attempts=attempts,
        retries=0,
        retried_at=None,
        run_at=spec.run_at,
        expires=spec.expires,
        lax=bool(spec.lax),
        notes=dict(spec.notes or {}),
        result=None,
        error_message=None,
        failure_kind=None,
        cancel_requested=False,
        hold=dependencies.hold_for(spec.run_at, now, dependencies.parents_block(s, parents, bool(spec.lax))),
        worker_id=None,
        run_level=spec.run_level,
        created_at=now,
        updated_at=now,
        started_at=None,
        finished_at=None,
    )
    return job, rows, parents


_jobs = Job.__table__  # type: ignore[attr-defined]
_NEXT_NUMBERS = text("SELECT nextval(pg_get_serial_sequence('jobs', 'number')) FROM generate_series(1, :n)")


def _insert_jobs(s: Session, rows: list[dict[str, Any]]) -> list[Job]:
    """Insert the batch; the jobs as read-only snapshots with their numbers. On PostgreSQL the
    numbers come from the sequence first, so the rows go as one pipelined executemany of a small
    statement (an INSERT ... VALUES of 500 rows cost psycopg more to parse than PostgreSQL to run)."""
    if s.get_bind().dialect.name == "postgresql":
        numbers = list(s.scalars(_NEXT_NUMBERS, {"n": len(rows)}))
        s.execute(insert(_jobs), [{**row, "number": n} for row, n in zip(rows, numbers, strict=True)])
    else:
        numbers = list(s.scalars(insert(_jobs).returning(_jobs.c.number, sort_by_parameter_order=True), rows))
    return [Job.model_construct(number=n, **row) for row, n in zip(rows, numbers, strict=True)]


def create_jobs(u: Unit, viewer: Viewer, specs: list[JobSpec]) -> list[Job]:
    """Create jobs all or nothing: one transaction, then one wake-up per job."""
    policy.require_run_plugins(viewer)
    if not specs:
        return []
    if len(specs) > MAX_BATCH:
        raise BadInput(f"at most {MAX_BATCH} jobs in one batch")
    s = u.session
    # Every plugin of the batch in one query (and held here: the session's identity map is
    # weak, so a get per job went back to the database per job).
    # (Only ids a plugin can have: any other text names none, and never reaches the query.)
    # FOR KEY SHARE (PostgreSQL; in sorted order): the lock the jobs' foreign key takes anyway,
    # taken before the plugin is checked, so a plugin being removed is either waited for and
    # then gone (a clear "no plugin"), or kept until these jobs are in (remove_plugin sees them).
    wanted = sorted(_plugin_ids(specs))
    plugins = {
        p.plugin_id: p
        for p in s.scalars(
            select(Plugin).where(Plugin.plugin_id.in_(wanted)).with_for_update(key_share=True)  # type: ignore[attr-defined]
        )
    }
    now = current_time(s)
    checked = [
        _check_spec(s, viewer, spec, index if len(specs) > 1 else None, plugins, now)
        for index, spec in enumerate(specs)
    ]
    _refuse_duplicates(s, viewer, specs, [(row["plugin_id"], rows) for row, rows, _ in checked])
    created = _insert_jobs(s, [row for row, _, _ in checked])
    for job, (_, series_rows, parents) in zip(created, checked, strict=True):
        assert job.number is not None
        for row in series_rows:
            row.job_number = job.number
        s.add_all(series_rows)
        s.add_all(JobDependency(child_number=job.number, parent_number=parent) for parent in parents)
    s.flush()
    # A strict child of a parent that already failed fails now, naming it.
    waiting = {
        n for job, (_, _, parents) in zip(created, checked, strict=True) if job.hold == "parents" for n in parents
    }
    settled = dependencies.settle(s, _ended(s, waiting)) if waiting else dependencies.Settled()
    for job in created:
        u.publish(event_for("created", job))
    settled.publish(u)
    wake_for(u, created)
    return created


def _series_key(rows: list[JobSeries]) -> SeriesKey:
    return tuple((r.series_uid, r.start, r.end, r.delta) for r in rows)


def find_duplicate(s: Session, plugin_id: str, key: SeriesKey) -> Job | None:
    """A queued, running or finished job of this plugin on exactly these series, if any."""
    if not key:
        return None
    candidates = list(
        s.scalars(
            select(Job)
            .join(JobSeries, JobSeries.job_number == Job.number)  # type: ignore[arg-type]
            .where(
                Job.plugin_id == plugin_id,
                Job.status.in_(DUPLICATE_STATUSES),  # type: ignore[attr-defined]
                JobSeries.position == 0,
                JobSeries.series_uid == key[0][0],
            )
            .order_by(Job.number)  # type: ignore[arg-type]
        )
    )
    if not candidates:
        return None
    numbers = [j.number for j in candidates]
    by_job: dict[int, list[JobSeries]] = {}
    rows = s.scalars(
        select(JobSeries)
        .where(JobSeries.job_number.in_(numbers))  # type: ignore[attr-defined]
        .order_by(JobSeries.job_number, JobSeries.position)  # type: ignore[arg-type]
    )
    for row in rows:
        by_job.setdefault(row.job_number, []).append(row)
    return next((j for j in candidates if _series_key(by_job.get(j.number or 0, [])) == key), None)


def _refuse_duplicates(
    s: Session, viewer: Viewer, specs: list[JobSpec], checked: list[tuple[str, list[JobSeries]]]
) -> None:
    """CIRCUS's duplicate guard for the specs that ask for it (`unique`), against the jobs stored
    and the batch itself. On PostgreSQL the series rows are locked first, so two requests for the
    same job on the same series are served one after the other and the second is refused."""
    guarded = [
        (i, plugin_id, _series_key(rows))
        for i, (spec, (plugin_id, rows)) in enumerate(zip(specs, checked, strict=True))
        if spec.unique and rows
    ]
    if not guarded:
        return
    uids = sorted({uid for _, _, key in guarded for uid, *_ in key})
    s.execute(select(Series.series_uid).where(Series.series_uid.in_(uids)).with_for_update())  # type: ignore[attr-defined]
    seen: set[tuple[str, SeriesKey]] = set()
    for index, plugin_id, key in guarded:
        where = "" if len(specs) == 1 else f"inputs[{index}]: "
        existing = find_duplicate(s, plugin_id, key)
        if existing is not None or (plugin_id, key) in seen:
            named = f" (job {existing.job_id}, {existing.status})" if policy.can_see_job(viewer, existing) else ""
            raise Conflict(
                f"{where}there is a duplicate job that is already registered{named}: the same plugin on "
                "the same series, queued, running or finished"
            )
        seen.add((plugin_id, key))


def _plugin_ids(specs: list[JobSpec]) -> set[str]:
    return {spec.plugin_id for spec in specs if isinstance(spec.plugin_id, str) and PLUGIN_ID.match(spec.plugin_id)}


def _ended(s: Session, numbers: set[int]) -> list[Job]:
    """Those of these jobs that have ended."""
    return [p for p in s.scalars(select(Job).where(Job.number.in_(numbers))) if p.status in ENDED_STATUSES]  # type: ignore[attr-defined]


def create_job(u: Unit, viewer: Viewer, spec: JobSpec) -> Job:
    return create_jobs(u, viewer, [spec])[0]


# ---------------------------------------------------------------- changing


def cancel_job(u: Unit, viewer: Viewer, job_ref: str | int) -> Job:
    """Queued: cancelled at once. Running: the worker stops the plugin, then marks it."""
    s = u.session
    job = _load_for_change(s, viewer, job_ref)
    policy.require_change_job(viewer, job, "cancel")
    now = utcnow()
    if job.status == "queued":
        lifecycle.move(job, "cancelled", "cancel")
        job.finished_at = now
        job.cancel_requested = True
        job.hold = None
    elif job.status == "running":
        job.cancel_requested = True
    else:
        raise Conflict(f"cannot cancel job {job.job_id}: it is {job.status}", status=job.status)
    job.updated_at = now
    s.add(job)
    s.flush()
    settled = dependencies.settle(s, [job]) if job.status == "cancelled" else dependencies.Settled()
    u.publish(event_for("updated", job))
    settled.publish(u)
    return job


def retry_job(u: Unit, viewer: Viewer, job_ref: str | int) -> Job:
    s = u.session
    job = _load_for_change(s, viewer, job_ref)
    policy.require_change_job(viewer, job, "retry")
    lifecycle.move(job, "queued", "retry")
    now = utcnow()
    job.retries += 1
    job.retried_at = now
    job.attempts = max(job.attempts, job.retries + 1)
    job.run_at = None
    job.result = None
    job.error_message = None
    job.failure_kind = None
    job.started_at = None
    job.finished_at = None
    job.cancel_requested = False
    parents = dependencies.parents_of(s, job.number or 0)
    job.hold = dependencies.hold_for(None, now, dependencies.parents_block(s, parents, job.lax))
    job.updated_at = now
    s.add(job)
    u.publish(event_for("updated", job))
    wake_for(u, [job])
    return job


def invalidate_job(u: Unit, viewer: Viewer, job_ref: str | int) -> Job:
    s = u.session
    job = _load_for_change(s, viewer, job_ref)
    policy.require_invalidate_job(viewer)
    lifecycle.move(job, "invalidated", "invalidate")
    job.updated_at = utcnow()
    s.add(job)
    u.publish(event_for("updated", job))
    return job


_UNSET: Any = object()


def update_job(
    u: Unit,
    viewer: Viewer,
    job_ref: str | int,
    *,
    priority: int | None = None,
    notes: dict[str, Any] | None = None,
    input: Any = _UNSET,
    run_level: str | None = None,
) -> Job:
    """Change what may change: priority, input and run level while queued; notes at any time
    (merged: a null value removes the key)."""
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY
    ):
        raise BadInput(f"priority must be an integer from -{MAX_PRIORITY} to {MAX_PRIORITY}")
    if notes is not None and not isinstance(notes, dict):
        raise BadInput("notes must be a JSON object")
    check_json_value(notes, "notes")
    if input is not _UNSET:
        check_json_value(input, "input")
    if run_level is not None and (not isinstance(run_level, str) or not 1 <= len(run_level) <= 64):
        raise BadInput("runLevel must be 1 to 64 characters")
    if run_level is not None:
        limits.check_text(run_level, "runLevel")
    _check_note_keys(notes)
    s = u.session
    job = _load_for_change(s, viewer, job_ref)
    policy.require_change_job(viewer, job, "update")
    queued_only = {
        "priority": priority is not None and priority != job.priority,
        "input": input is not _UNSET and input != job.input,
        "run level": run_level is not None and run_level != job.run_level,
    }
    changing = [name for name, changed in queued_only.items() if changed]
    if changing and job.status != "queued":
        raise Conflict(
            f"the {', '.join(changing)} of job {job.job_id} can change only while it is queued", status=job.status
        )
    if queued_only["priority"]:
        job.priority = priority  # type: ignore[assignment]
    if queued_only["input"]:
        plugin = s.get(Plugin, job.plugin_id)
        validate_against(plugin.input_schema if plugin else None, input, "input")
        job.input = input
    if queued_only["run level"]:
        job.run_level = run_level  # type: ignore[assignment]
    if notes:
        merged = dict(job.notes or {})
        for key, value in notes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        job.notes = merged
    job.updated_at = utcnow()
    s.add(job)
    u.publish(event_for("updated", job))
    return job


@dataclass(frozen=True)
class PublicStatus:
    status: str
    plugin_name: str
    error_message: str | None
    notes: dict[str, Any]
    user_id: int  # whose job: for views that show more to those who may see it


def public_status(u: Unit, number: int) -> PublicStatus | None:
    """A job's state without a token: Minion's documented status route. Says nothing of
    input, result or owner."""
    if not limits.in_int_range(number, 1):
        return None
    s = u.session
    row = s.execute(
        select(Job.status, Plugin.name, Job.error_message, Job.notes, Job.user_id)
        .join(Plugin, Plugin.plugin_id == Job.plugin_id)  # type: ignore[arg-type]
        .where(Job.number == number)
    ).first()
    if row is None:
        return None
    return PublicStatus(
        status=row[0], plugin_name=row[1], error_message=row[2], notes=dict(row[3] or {}), user_id=row[4]
    )


def delete_job(u: Unit, viewer: Viewer, job_ref: str | int) -> bool:
    """Remove an ended job, its rows and its output files."""
    s = u.session
    job = _load_for_change(s, viewer, job_ref)
    policy.require_change_job(viewer, job, "delete")
    if job.status not in ENDED_STATUSES:
        raise Conflict(f"cannot delete job {job.job_id}: it is {job.status}; cancel it first", status=job.status)
    s.execute(
        sql_delete(JobDependency).where(
            (JobDependency.child_number == job.number) | (JobDependency.parent_number == job.number)  # type: ignore[arg-type]
        )
    )
    s.delete(job)
    outputs = u.settings.outputs_dir / job.job_id
    u.after_commit(lambda: shutil.rmtree(outputs, ignore_errors=True))
    u.publish(event_for("deleted", job))
    return True
