"""Bulk actions by filter: retry, cancel, delete or change the priority of the jobs a JobFilter
selects, among those the viewer may change (policy.bulk_owner: their own, or all with
manageJobs).

A preview says how many jobs the filter selects and to how many the action applies, before
anything changes. An action applies to at most `JOBGRAPH_BULK_LIMIT` jobs (1000): above it, it is
refused (BAD_USER_INPUT, with the count and the cap) unless the caller asks for the first N
(`limit`, oldest first). Each job goes through the single-job use case (`jobs.retry_job`,
`cancel_job`, `delete_job`, `update_job`), so every rule, event and wake-up is the one of a
single job, all in the caller's one unit of work, which also writes the audit entry: an action
is done, and recorded, whole or not at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.sql import ColumnElement

from jobgraph.db.models import ENDED_STATUSES, Job
from jobgraph.errors import BadInput, Conflict, NotFound
from jobgraph.resolvers import audit, counting, job_list, jobs, policy
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit


class BulkAction(StrEnum):
    RETRY = "RETRY"
    CANCEL = "CANCEL"
    DELETE = "DELETE"
    SET_PRIORITY = "SET_PRIORITY"


def _applies(action: BulkAction) -> ColumnElement[bool]:
    """The jobs an action changes, as the single-job use case decides (lifecycle.py)."""
    if action is BulkAction.RETRY:
        return Job.status == "failed"  # type: ignore[return-value]
    if action is BulkAction.CANCEL:  # a running job already asked to stop is left as it is
        return or_(Job.status == "queued", and_(Job.status == "running", Job.cancel_requested.is_(False)))  # type: ignore[arg-type,attr-defined]
    if action is BulkAction.DELETE:
        return Job.status.in_(sorted(ENDED_STATUSES))  # type: ignore[attr-defined,no-any-return]
    return Job.status == "queued"  # type: ignore[return-value]  # SET_PRIORITY


@dataclasses.dataclass(frozen=True)
class Preview:
    action: BulkAction
    matching: int  # jobs the filter selects (that the viewer may change)
    applicable: int  # of those, the ones the action would change
    cap: int
    is_estimate: bool = False  # PostgreSQL's estimate (above the exact count limit): counting.py


@dataclasses.dataclass(frozen=True)
class Result:
    action: BulkAction
    applied: int
    skipped: int  # selected but left unchanged (not in a state the action applies to, past `limit`)
    audit_id: int


def _action(action: BulkAction | str) -> BulkAction:
    try:
        return BulkAction(action)
    except ValueError:
        raise BadInput(f"unknown bulk action {action!r}; known: {[a.value for a in BulkAction]}") from None


def _where(viewer: Viewer, f: job_list.JobFilter) -> list[ColumnElement[bool]]:
    job_list.check_filter(f)
    clauses = job_list._where(viewer, f)
    owner = policy.bulk_owner(viewer)
    if owner is not None:
        clauses.append(Job.user_id == owner)  # type: ignore[arg-type]
    return clauses


def _counts(u: Unit, where: list[ColumnElement[bool]], action: BulkAction) -> dict[str, counting.Total]:
    limit = max(u.settings.exact_count_limit, u.settings.bulk_limit)
    parts = {"matching": true(), "applicable": _applies(action)}
    return counting.count_each(u.session, where, parts, limit=limit)


def preview(u: Unit, viewer: Viewer, action: BulkAction | str, f: job_list.JobFilter) -> Preview:
    """How many jobs `f` selects and to how many `action` applies; nothing changes."""
    action = _action(action)
    counts = _counts(u, _where(viewer, f), action)
    return Preview(
        action=action,
        matching=counts["matching"].count,
        applicable=counts["applicable"].count,
        cap=u.settings.bulk_limit,
        is_estimate=any(t.estimated for t in counts.values()),
    )


def filter_json(f: job_list.JobFilter) -> dict[str, Any]:
    """The filter as the audit log keeps it: the fields that are set, dates in ISO 8601."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return plain(dataclasses.asdict(value))
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {
        field.name: plain(getattr(f, field.name))
        for field in dataclasses.fields(f)
        if getattr(f, field.name) not in (None, [])
    }


def apply(
    u: Unit,
    viewer: Viewer,
    action: BulkAction | str,
    f: job_list.JobFilter,
    *,
    priority: int | None = None,
    limit: int | None = None,
) -> Result:
    """Do `action` to the jobs `f` selects that it applies to (at most the cap, or the first
    `limit`, oldest first); write the audit entry."""
    action = _action(action)
    cap = u.settings.bulk_limit
    if action is BulkAction.SET_PRIORITY:
        if priority is None:
            raise BadInput("SET_PRIORITY needs a priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > jobs.MAX_PRIORITY:
            raise BadInput(f"priority must be an integer from -{jobs.MAX_PRIORITY} to {jobs.MAX_PRIORITY}")
    elif priority is not None:
        raise BadInput(f"priority is for SET_PRIORITY, not {action.value}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= cap):
        raise BadInput(f"limit must be 1 to the cap of {cap}", cap=cap)
    where = _where(viewer, f)
    s = u.session
    take = limit if limit is not None else cap
    numbers = list(
        s.scalars(select(Job.number).where(*where, _applies(action)).order_by(Job.number).limit(take + 1))  # type: ignore[arg-type]
    )
    if len(numbers) > take:
        if limit is None:
            total = _counts(u, where, action)["applicable"]
            about = "about " if total.estimated else ""
            raise BadInput(
                f"{action.value} would apply to {about}{total.count} jobs, above the cap of {cap} per action: "
                f"narrow the filter, or pass limit to act on the first {cap} (oldest first)",
                count=total.count,
                cap=cap,
            )
        numbers = numbers[:take]
    do: Callable[[int], object] = {
        BulkAction.RETRY: lambda n: jobs.retry_job(u, viewer, n),
        BulkAction.CANCEL: lambda n: jobs.cancel_job(u, viewer, n),
        BulkAction.DELETE: lambda n: jobs.delete_job(u, viewer, n),
        BulkAction.SET_PRIORITY: lambda n: jobs.update_job(u, viewer, n, priority=priority),
    }[action]
    # Counted before anything changes: a retried or deleted job no longer matches the filter.
    matching = counting.count_jobs(s, where, limit=max(u.settings.exact_count_limit, cap))
    applied: list[int] = []
    for number in numbers:
        try:
            do(number)
        except (Conflict, NotFound):  # changed (ended, deleted) since it was selected
            continue
        applied.append(number)
    details: dict[str, Any] = {"skipped": max(matching.count - len(applied), 0)}
    if priority is not None:
        details["priority"] = priority
    if limit is not None:
        details["limit"] = limit
    entry = audit.record(u, viewer, action.value, filter_json(f), applied, details)
    assert entry.id is not None
    return Result(action=action, applied=len(applied), skipped=details["skipped"], audit_id=entry.id)
