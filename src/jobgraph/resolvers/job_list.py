"""Listing jobs: filters, orderings, keyset cursors (GraphQL) and offset pages (REST)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from jobgraph.clock import as_utc
from jobgraph.db.models import Job, JobSeries, User
from jobgraph.errors import BadInput
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime

MAX_PAGE = 1000

# The columns a filter or an ordering may name (REST systems map their field names onto these).
COLUMNS: dict[str, Any] = {
    "number": Job.number,
    "status": Job.status,
    "priority": Job.priority,
    "queue": Job.queue,
    "plugin_id": Job.plugin_id,
    "user_id": Job.user_id,
    "worker_id": Job.worker_id,
    "run_level": Job.run_level,
    "failure_kind": Job.failure_kind,
    "created_at": Job.created_at,
    "updated_at": Job.updated_at,
    "started_at": Job.started_at,
    "finished_at": Job.finished_at,
    "input": Job.input,
    # Derived: the status, except that a failed job whose last attempt hit the plugin's time limit
    # is "timed_out". Views whose vocabulary tells a time-out from other failures (Ion Torrent's
    # "Timed Out") filter on it; a retried job keeps its failure_kind, hence the status test.
    "status_detail": case(
        (and_(Job.status == "failed", Job.failure_kind == "timeout"), "timed_out"),  # type: ignore[arg-type]
        else_=Job.status,
    ),
}
OPERATORS = ("eq", "in", "gt", "gte", "lt", "lte", "isnull")


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Any


@dataclass
class JobFilter:
    statuses: list[str] | None = None
    plugin_ids: list[str] | None = None
    user_emails: list[str] | None = None
    queues: list[str] | None = None
    series_uid: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    finished_after: datetime | None = None
    finished_before: datetime | None = None
    error_contains: str | None = None
    conditions: list[Condition] = field(default_factory=list)


# name -> ((column, descending), ...); `number` ends each, so every order is total.
ORDERINGS: dict[str, tuple[tuple[str, bool], ...]] = {
    "NEWEST": (("number", True),),
    "OLDEST": (("number", False),),
    "DISPATCH": (("priority", True), ("number", False)),
    "RECENTLY_UPDATED": (("updated_at", True), ("number", True)),
}


@dataclass
class JobPage:
    jobs: list[Job]
    total: int
    has_next: bool
    has_previous: bool
    cursors: list[str]


def _condition(cond: Condition) -> ColumnElement[bool]:
    column = COLUMNS.get(cond.column)
    if column is None or cond.column == "input":
        raise BadInput(f"cannot filter on {cond.column!r}")
    if cond.op not in OPERATORS:
        raise BadInput(f"unknown filter operator {cond.op!r}")
    if cond.op == "isnull":
        return column.is_(None) if cond.value else column.is_not(None)  # type: ignore[no-any-return]
    if cond.op == "in":
        return column.in_(list(cond.value))  # type: ignore[no-any-return]
    ops = {"eq": "__eq__", "gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    return getattr(column, ops[cond.op])(cond.value)  # type: ignore[no-any-return]


def _where(viewer: Viewer, f: JobFilter | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if not viewer.sees_all_jobs:
        clauses.append(Job.user_id == viewer.user_id)  # type: ignore[arg-type]
    if f is None:
        return clauses
    if f.statuses:
        clauses.append(Job.status.in_(f.statuses))  # type: ignore[attr-defined]
    if f.plugin_ids:
        clauses.append(Job.plugin_id.in_(f.plugin_ids))  # type: ignore[attr-defined]
    if f.queues:
        clauses.append(Job.queue.in_(f.queues))  # type: ignore[attr-defined]
    if f.user_emails:
        clauses.append(Job.user_id.in_(select(User.id).where(User.email.in_(f.user_emails))))  # type: ignore[attr-defined]
    if f.series_uid:
        clauses.append(Job.number.in_(select(JobSeries.job_number).where(JobSeries.series_uid == f.series_uid)))  # type: ignore[union-attr]
    for column, bound, op in (
        (Job.created_at, f.created_after, "__ge__"),
        (Job.created_at, f.created_before, "__lt__"),
        (Job.updated_at, f.updated_after, "__ge__"),
        (Job.finished_at, f.finished_after, "__ge__"),
        (Job.finished_at, f.finished_before, "__lt__"),
    ):
        if bound is not None:
            clauses.append(getattr(column, op)(bound))
    if f.error_contains:
        pattern = "%" + f.error_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(func.lower(Job.error_message).like(pattern.lower(), escape="\\"))
    clauses.extend(_condition(c) for c in f.conditions)
    return clauses


def _order_by(order: tuple[tuple[str, bool], ...]) -> list[Any]:
    return [COLUMNS[name].desc() if desc else COLUMNS[name].asc() for name, desc in order]


def _encode_cursor(order_name: str, job: Job, order: tuple[tuple[str, bool], ...]) -> str:
    values = []
    for name, _ in order:
        value = getattr(job, name)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    raw = json.dumps([order_name, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, order_name: str, order: tuple[tuple[str, bool], ...]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, values = json.loads(raw)
        if name != order_name or len(values) != len(order):
            raise ValueError
        decoded = []
        for (column, _), value in zip(order, values, strict=True):
            if column.endswith("_at"):
                decoded.append(as_utc(datetime.fromisoformat(value)))
            elif isinstance(value, int) and not isinstance(value, bool):
                decoded.append(value)
            else:
                raise ValueError
        return decoded
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadInput("`after` is not a cursor of this ordering") from None


def _after(order: tuple[tuple[str, bool], ...], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in `order`: (a > x) or (a = x and b > y) ..."""
    ors = []
    for i, (name, desc) in enumerate(order):
        column = COLUMNS[name]
        step = column < values[i] if desc else column > values[i]
        equal = [COLUMNS[n] == values[j] for j, (n, _) in enumerate(order[:i])]
        ors.append(and_(*equal, step))
    return or_(*ors)


def list_jobs(
    rt: Runtime,
    viewer: Viewer,
    job_filter: JobFilter | None = None,
    *,
    order: str = "NEWEST",
    first: int = 20,
    after: str | None = None,
    offset: int = 0,
    custom_order: list[tuple[str, bool]] | None = None,
    with_total: bool = True,
) -> JobPage:
    """One page of the jobs the viewer may see. Keyset (`after`) or offset paging."""
    if not 0 <= first <= MAX_PAGE:
        raise BadInput(f"page size must be 0 to {MAX_PAGE}")
    if offset < 0:
        raise BadInput("offset must be 0 or more")
    if custom_order is not None:
        for name, _ in custom_order:
            if name not in COLUMNS or name == "input":
                raise BadInput(f"cannot order by {name!r}")
        ordering = (*tuple(custom_order), ("number", custom_order[-1][1] if custom_order else True))
    else:
        if order not in ORDERINGS:
            raise BadInput(f"unknown ordering {order!r}; known: {sorted(ORDERINGS)}")
        ordering = ORDERINGS[order]
    clauses = _where(viewer, job_filter)
    page_clauses = list(clauses)
    if after:
        page_clauses.append(_after(ordering, _decode_cursor(after, order, ordering)))
    stmt = select(Job).where(*page_clauses).order_by(*_order_by(ordering)).offset(offset).limit(first + 1)
    with rt.db.session() as s:
        rows = list(s.scalars(stmt))
        total = s.scalar(select(func.count()).select_from(Job).where(*clauses)) if with_total else -1
    has_next = len(rows) > first
    rows = rows[:first]
    return JobPage(
        jobs=rows,
        total=int(total or 0),
        has_next=has_next,
        has_previous=bool(after) or offset > 0,
        cursors=[_encode_cursor(order, job, ordering) for job in rows],
    )
