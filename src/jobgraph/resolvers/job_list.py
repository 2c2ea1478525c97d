"""Listing jobs: filters, orderings, keyset cursors (GraphQL) and offset pages (REST)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from jobgraph.clock import as_utc
from jobgraph.db.models import Job, JobSeries, User
from jobgraph.errors import BadInput
from jobgraph.resolvers import counting, limits, policy
from jobgraph.resolvers.containment import contains, sql_contains
from jobgraph.resolvers.counting import Total
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

MAX_PAGE = 1000

# The columns a filter or an ordering may name (REST systems map their field names onto these).
COLUMNS: dict[str, Any] = {
    "number": Job.number,
    "job_id": Job.job_id,
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
    # JSON the job's input (notes) must contain, as PostgreSQL's `@>` says (resolvers/containment.py)
    input_contains: Any = None
    notes_contains: Any = None
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
    total: int  # -1 when not asked for (with_total=False)
    has_next: bool
    has_previous: bool
    cursors: list[str]
    total_is_estimate: bool = False  # PostgreSQL's planner estimate, above the exact limit (counting.py)


def _comparable(value: Any, what: str) -> None:
    """A value a filter compares with a column: an integer the INTEGER columns hold, text without
    NUL, a date-time in range (PostgreSQL would refuse the rest with an error, not an answer)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        limits.check_int(value, what)
    elif isinstance(value, str):
        limits.check_text(value, what, limits.MAX_FILTER_TEXT)
    elif isinstance(value, datetime):
        limits.check_datetime(value, what)


def check_filter(f: JobFilter | None) -> None:
    """Every value of a filter, before any of it reaches a query."""
    if f is None:
        return
    for name, values in (
        ("status", f.statuses),
        ("pluginId", f.plugin_ids),
        ("userEmail", f.user_emails),
        ("queue", f.queues),
    ):
        for value in values or []:
            _comparable(value, f"the {name} filter")
    singles: tuple[tuple[str, Any], ...] = (
        ("seriesUid", f.series_uid),
        ("createdAfter", f.created_after),
        ("createdBefore", f.created_before),
        ("updatedAfter", f.updated_after),
        ("finishedAfter", f.finished_after),
        ("finishedBefore", f.finished_before),
        ("errorContains", f.error_contains),
    )
    for name, value in singles:
        _comparable(value, f"the {name} filter")
    for cond in f.conditions:
        for value in cond.value if cond.op == "in" else [cond.value]:
            _comparable(value, f"the {cond.column} filter")


def _status_detail_in(values: Collection[str]) -> ColumnElement[bool]:
    """`status_detail IN values` as plain conditions on status and failure_kind, which an index
    on status serves (the CASE of `status_detail` is opaque to every index): "failed" is a
    failure other than a time-out, "timed_out" a time-out, any other value its status."""
    wanted = set(values)
    failed, timed_out = "failed" in wanted, "timed_out" in wanted
    plain = sorted(wanted - {"failed", "timed_out"})
    ors: list[ColumnElement[bool]] = []
    if failed and timed_out:
        plain.append("failed")
    elif failed:
        not_timeout = or_(Job.failure_kind.is_(None), Job.failure_kind != "timeout")  # type: ignore[union-attr]
        ors.append(and_(Job.status == "failed", not_timeout))  # type: ignore[arg-type]
    elif timed_out:
        ors.append(and_(Job.status == "failed", Job.failure_kind == "timeout"))  # type: ignore[arg-type]
    if plain:
        ors.insert(0, Job.status.in_(sorted(plain)))  # type: ignore[attr-defined]
    if not ors:
        return Job.status.in_([])  # type: ignore[attr-defined,no-any-return]
    return ors[0] if len(ors) == 1 else or_(*ors)


def _condition(cond: Condition) -> ColumnElement[bool]:
    column = COLUMNS.get(cond.column)
    if column is None or cond.column == "input":
        raise BadInput(f"cannot filter on {cond.column!r}")
    if cond.op not in OPERATORS:
        raise BadInput(f"unknown filter operator {cond.op!r}")
    if cond.column == "status_detail" and cond.op in ("eq", "in"):
        return _status_detail_in(list(cond.value) if cond.op == "in" else [cond.value])
    if cond.op == "isnull":
        return column.is_(None) if cond.value else column.is_not(None)  # type: ignore[no-any-return]
    if cond.op == "in":
        return column.in_(list(cond.value))  # type: ignore[no-any-return]
    ops = {"eq": "__eq__", "gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    return getattr(column, ops[cond.op])(cond.value)  # type: ignore[no-any-return]


def _where(viewer: Viewer, f: JobFilter | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if not policy.sees_all_jobs(viewer):
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
    if f.input_contains is not None:
        clauses.append(sql_contains(Job.input, f.input_contains))
    if f.notes_contains is not None:
        clauses.append(sql_contains(Job.notes, f.notes_contains))
    if f.error_contains:
        pattern = "%" + f.error_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(func.lower(Job.error_message).like(pattern.lower(), escape="\\"))
    clauses.extend(_condition(c) for c in f.conditions)
    return clauses


def filter_needs_owner_email(f: JobFilter | None) -> bool:
    return f is not None and bool(f.user_emails)


def filter_needs_series(f: JobFilter | None) -> bool:
    return f is not None and bool(f.series_uid)


def matches(job: Job, f: JobFilter, *, owner_email: str | None = None, series_uids: Collection[str] = ()) -> bool:
    """In memory, what `_where` asks of the database (without the viewer's part), for one job
    already read: `owner_email` when the filter names users, `series_uids` (the job's) when it
    names a series. Keep the two in step. Conditions (REST views) are not evaluated here."""
    if f.statuses and job.status not in f.statuses:
        return False
    if f.plugin_ids and job.plugin_id not in f.plugin_ids:
        return False
    if f.queues and job.queue not in f.queues:
        return False
    if f.user_emails and owner_email not in f.user_emails:
        return False
    if f.series_uid and f.series_uid not in series_uids:
        return False
    for value, bound, after in (
        (job.created_at, f.created_after, True),
        (job.created_at, f.created_before, False),
        (job.updated_at, f.updated_after, True),
        (job.finished_at, f.finished_after, True),
        (job.finished_at, f.finished_before, False),
    ):
        if bound is None:
            continue
        at, limit = as_utc(value), as_utc(bound)
        if at is None or limit is None or (at < limit if after else at >= limit):
            return False  # NULL compares false in SQL too
    if f.input_contains is not None and (job.input is None or not contains(job.input, f.input_contains)):
        return False
    if f.notes_contains is not None and (job.notes is None or not contains(job.notes, f.notes_contains)):
        return False
    return not (f.error_contains and f.error_contains.lower() not in (job.error_message or "").lower())


def _order_by(order: tuple[tuple[str, bool], ...]) -> list[Any]:
    return [COLUMNS[name].desc() if desc else COLUMNS[name].asc() for name, desc in order]


def _encode_cursor(order_name: str, job: Job, order: tuple[tuple[str, bool], ...]) -> str:
    values = []
    for name, _ in order:
        value = getattr(job, name)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    raw = json.dumps([order_name, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR = 512
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")


def _decode_cursor(cursor: str, order_name: str, order: tuple[tuple[str, bool], ...]) -> list[Any]:
    """The keyset values of a cursor this ordering made, decoded strictly: unpadded URL-safe
    base64 of `[order name, [value per column]]`, each value of its column's type and range (an
    integer an INTEGER column holds, a date-time of years 1..9999). Anything else, a forged or
    garbled cursor included, is a BadInput: never a value the database chokes on."""
    bad = BadInput("`after` is not a cursor of this ordering")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not _CURSOR.fullmatch(cursor):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = limits.loads(raw, max_depth=2)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad from None
    if not (isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[1], list)):
        raise bad
    name, values = parsed
    if name != order_name or len(values) != len(order):
        raise bad
    decoded: list[Any] = []
    for (column, _), value in zip(order, values, strict=True):
        if column.endswith("_at"):
            if not isinstance(value, str) or len(value) > limits.MAX_DATETIME_CHARS:
                raise bad
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                raise bad from None
            try:
                decoded.append(limits.check_datetime(when, "`after`"))
            except BadInput:
                raise bad from None
        elif limits.in_int_range(value):
            decoded.append(value)
        else:
            raise bad
    return decoded


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
    u: Unit,
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
    """One page of the jobs the viewer may see. Keyset (`after`) or offset paging. With
    `with_total`, how many match all pages (counting.py: exact up to the exact count limit, above
    it, on PostgreSQL, an estimate)."""
    if not 0 <= first <= MAX_PAGE:
        raise BadInput(f"page size must be 0 to {MAX_PAGE}")
    if offset < 0:
        raise BadInput("offset must be 0 or more")
    check_filter(job_filter)
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
    # The numbers of the page first, then just those rows. The numbers come from an index-only
    # scan of the index that matches the filter and the ordering (models.Job: status, plugin,
    # user, ... then number), which the planner prefers over walking the primary key and
    # reading rows to test the filter (slow when, say, the newest 100,000 jobs are all queued
    # and the filter wants failed ones). An offset skips narrow index entries rather than whole
    # rows; it still costs in proportion to its size: the keyset cursor (`after`) stays fast at
    # any depth.
    order_by = _order_by(ordering)
    numbers = select(Job.number).where(*page_clauses).order_by(*order_by).offset(offset or None).limit(first + 1)
    stmt = select(Job).where(Job.number.in_(numbers.correlate(None))).order_by(*order_by)  # type: ignore[union-attr]
    rows = list(u.session.scalars(stmt))
    total = counting.count_jobs(u.session, clauses, limit=u.settings.exact_count_limit) if with_total else None
    has_next = len(rows) > first
    rows = rows[:first]
    if total is not None and total.estimated and not after:
        # What this page shows is known for sure: an estimate never says less, and on the last
        # page (rows, none after them) the total is exact.
        seen = offset + len(rows)
        total = Total(seen) if rows and not has_next else Total(max(total.count, seen + int(has_next)), True)
    return JobPage(
        jobs=rows,
        total=-1 if total is None else total.count,
        has_next=has_next,
        has_previous=bool(after) or offset > 0,
        cursors=[_encode_cursor(order, job, ordering) for job in rows],
        total_is_estimate=total is not None and total.estimated,
    )
