"""Batch reads of what hangs off jobs, one statement per kind, for any number of jobs.

GraphQL's DataLoaders and the REST list routes call these, so a page of 100 jobs with its
plugins, series, feedback and messages costs a fixed number of statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import select

from jobgraph.db.models import (
    Feedback,
    Job,
    JobDependency,
    JobSeries,
    Message,
    Output,
    Plugin,
    Series,
    User,
    Worker,
)
from jobgraph.runtime import Runtime

T = TypeVar("T")


def _group(rows: Sequence[T], key: str, keys: Sequence[int]) -> list[list[T]]:
    grouped: dict[int, list[T]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return [grouped.get(k, []) for k in keys]


def plugins(rt: Runtime, ids: Sequence[str]) -> list[Plugin | None]:
    with rt.db.session() as s:
        found = {p.plugin_id: p for p in s.scalars(select(Plugin).where(Plugin.plugin_id.in_(set(ids))))}  # type: ignore[attr-defined]
    return [found.get(i) for i in ids]


def users(rt: Runtime, ids: Sequence[int]) -> list[User | None]:
    with rt.db.session() as s:
        found = {u.id: u for u in s.scalars(select(User).where(User.id.in_(set(ids))))}  # type: ignore[union-attr]
    return [found.get(i) for i in ids]


def workers(rt: Runtime, ids: Sequence[int]) -> list[Worker | None]:
    with rt.db.session() as s:
        found = {w.id: w for w in s.scalars(select(Worker).where(Worker.id.in_(set(ids))))}  # type: ignore[union-attr]
    return [found.get(i) for i in ids]


def series_by_uid(rt: Runtime, uids: Sequence[str]) -> list[Series | None]:
    with rt.db.session() as s:
        found = {x.series_uid: x for x in s.scalars(select(Series).where(Series.series_uid.in_(set(uids))))}  # type: ignore[attr-defined]
    return [found.get(u) for u in uids]


def job_series(rt: Runtime, numbers: Sequence[int]) -> list[list[JobSeries]]:
    with rt.db.session() as s:
        rows = list(
            s.scalars(select(JobSeries).where(JobSeries.job_number.in_(set(numbers))).order_by(JobSeries.position))
        )  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def feedback(rt: Runtime, numbers: Sequence[int]) -> list[list[Feedback]]:
    with rt.db.session() as s:
        rows = list(
            s.scalars(select(Feedback).where(Feedback.job_number.in_(set(numbers))).order_by(Feedback.created_at))
        )  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def messages(rt: Runtime, numbers: Sequence[int]) -> list[list[Message]]:
    with rt.db.session() as s:
        rows = list(s.scalars(select(Message).where(Message.job_number.in_(set(numbers))).order_by(Message.id)))  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def outputs(rt: Runtime, numbers: Sequence[int]) -> list[list[Output]]:
    with rt.db.session() as s:
        rows = list(s.scalars(select(Output).where(Output.job_number.in_(set(numbers))).order_by(Output.file_name)))  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def parents(rt: Runtime, numbers: Sequence[int]) -> list[list[Job]]:
    with rt.db.session() as s:
        rows = s.execute(
            select(JobDependency.child_number, Job)
            .join(Job, Job.number == JobDependency.parent_number)  # type: ignore[arg-type]
            .where(JobDependency.child_number.in_(set(numbers)))  # type: ignore[attr-defined]
            .order_by(Job.number)
        ).all()
    grouped: dict[int, list[Job]] = defaultdict(list)
    for child, job in rows:
        grouped[child].append(job)
    return [grouped.get(n, []) for n in numbers]


def children(rt: Runtime, numbers: Sequence[int]) -> list[list[Job]]:
    with rt.db.session() as s:
        rows = s.execute(
            select(JobDependency.parent_number, Job)
            .join(Job, Job.number == JobDependency.child_number)  # type: ignore[arg-type]
            .where(JobDependency.parent_number.in_(set(numbers)))  # type: ignore[attr-defined]
            .order_by(Job.number)
        ).all()
    grouped: dict[int, list[Job]] = defaultdict(list)
    for parent, job in rows:
        grouped[parent].append(job)
    return [grouped.get(n, []) for n in numbers]


def output(rt: Runtime, job_number: int, output_id: str) -> Output | None:
    with rt.db.session() as s:
        row = s.get(Output, output_id)
    return row if row is not None and row.job_number == job_number else None
