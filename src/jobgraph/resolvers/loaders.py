"""Batch reads of what hangs off jobs, one statement per kind, for any number of jobs.

GraphQL's DataLoaders and the REST list routes call these, so a page of 100 jobs with its
plugins, series, feedback and messages costs a fixed number of statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlmodel import Session

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
)
from jobgraph.unit import Unit

T = TypeVar("T")


def _group(rows: Sequence[T], key: str, keys: Sequence[int]) -> list[list[T]]:
    grouped: dict[int, list[T]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return [grouped.get(k, []) for k in keys]


def _plugins(s: Session, ids: Sequence[str]) -> list[Plugin | None]:
    found = {p.plugin_id: p for p in s.scalars(select(Plugin).where(Plugin.plugin_id.in_(set(ids))))}  # type: ignore[attr-defined]
    return [found.get(i) for i in ids]


def plugins(u: Unit, ids: Sequence[str]) -> list[Plugin | None]:
    s = u.session
    return _plugins(s, ids)


def _users(s: Session, ids: Sequence[int]) -> list[User | None]:
    found = {u.id: u for u in s.scalars(select(User).where(User.id.in_(set(ids))))}  # type: ignore[union-attr]
    return [found.get(i) for i in ids]


def users(u: Unit, ids: Sequence[int]) -> list[User | None]:
    s = u.session
    return _users(s, ids)


def _series_by_uid(s: Session, uids: Sequence[str]) -> list[Series | None]:
    found = {x.series_uid: x for x in s.scalars(select(Series).where(Series.series_uid.in_(set(uids))))}  # type: ignore[attr-defined]
    return [found.get(u) for u in uids]


def series_by_uid(u: Unit, uids: Sequence[str]) -> list[Series | None]:
    s = u.session
    return _series_by_uid(s, uids)


def _job_series(s: Session, numbers: Sequence[int]) -> list[list[JobSeries]]:
    rows = list(s.scalars(select(JobSeries).where(JobSeries.job_number.in_(set(numbers))).order_by(JobSeries.position)))  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def job_series(u: Unit, numbers: Sequence[int]) -> list[list[JobSeries]]:
    s = u.session
    return _job_series(s, numbers)


def _feedback(s: Session, numbers: Sequence[int]) -> list[list[Feedback]]:
    rows = list(s.scalars(select(Feedback).where(Feedback.job_number.in_(set(numbers))).order_by(Feedback.created_at)))  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def feedback(u: Unit, numbers: Sequence[int]) -> list[list[Feedback]]:
    s = u.session
    return _feedback(s, numbers)


def _messages(s: Session, numbers: Sequence[int]) -> list[list[Message]]:
    rows = list(s.scalars(select(Message).where(Message.job_number.in_(set(numbers))).order_by(Message.id)))  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def messages(u: Unit, numbers: Sequence[int]) -> list[list[Message]]:
    s = u.session
    return _messages(s, numbers)


def _outputs(s: Session, numbers: Sequence[int]) -> list[list[Output]]:
    rows = list(s.scalars(select(Output).where(Output.job_number.in_(set(numbers))).order_by(Output.file_name)))  # type: ignore[attr-defined]
    return _group(rows, "job_number", numbers)


def outputs(u: Unit, numbers: Sequence[int]) -> list[list[Output]]:
    s = u.session
    return _outputs(s, numbers)


def _linked(s: Session, numbers: Sequence[int], by: Any, other: Any) -> list[list[Job]]:
    """For each job number (matched on the dependency column `by`), the jobs at `other`."""
    rows = s.execute(
        select(by, Job).join(Job, Job.number == other).where(by.in_(set(numbers))).order_by(Job.number)
    ).all()
    grouped: dict[int, list[Job]] = defaultdict(list)
    for number, job in rows:
        grouped[number].append(job)
    return [grouped.get(n, []) for n in numbers]


def _parents(s: Session, numbers: Sequence[int]) -> list[list[Job]]:
    return _linked(s, numbers, JobDependency.child_number, JobDependency.parent_number)


def parents(u: Unit, numbers: Sequence[int]) -> list[list[Job]]:
    s = u.session
    return _parents(s, numbers)


def _children(s: Session, numbers: Sequence[int]) -> list[list[Job]]:
    return _linked(s, numbers, JobDependency.parent_number, JobDependency.child_number)


def children(u: Unit, numbers: Sequence[int]) -> list[list[Job]]:
    s = u.session
    return _children(s, numbers)


def output(u: Unit, job_number: int, output_id: str) -> Output | None:
    s = u.session
    row = s.get(Output, output_id)
    return row if row is not None and row.job_number == job_number else None


@dataclass
class Nested:
    """What hangs off one job, read together with its page (see `prefetch`)."""

    plugin: Plugin | None = None
    user: User | None = None
    series: list[tuple[JobSeries, Series | None]] = field(default_factory=list)
    feedback: list[tuple[Feedback, User | None]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)


PREFETCHABLE = frozenset({"plugin", "user", "series", "feedbacks", "messages", "outputs"})


def prefetch(u: Unit, jobs: Sequence[Job], wants: frozenset[str]) -> dict[int, Nested]:
    """The nested data a page asks for, in one session and one statement per kind: the view
    then hands out plain values instead of one awaited load per job and field."""
    numbers = [j.number for j in jobs if j.number is not None]
    nested = {n: Nested() for n in numbers}
    s = u.session
    if "plugin" in wants:
        for job, plugin in zip(jobs, _plugins(s, [j.plugin_id for j in jobs]), strict=True):
            nested[job.number].plugin = plugin  # type: ignore[index]
    feedback = _feedback(s, numbers) if "feedbacks" in wants else [[] for _ in numbers]
    user_ids = [j.user_id for j in jobs] if "user" in wants else []
    user_ids += [f.user_id for given in feedback for f in given]
    users_by_id = {u.id: u for u in _users(s, user_ids) if u is not None} if user_ids else {}
    if "user" in wants:
        for job in jobs:
            nested[job.number].user = users_by_id.get(job.user_id)  # type: ignore[index]
    for number, given in zip(numbers, feedback, strict=True):
        nested[number].feedback = [(f, users_by_id.get(f.user_id)) for f in given]
    if "series" in wants:
        per_job = _job_series(s, numbers)
        uids = sorted({r.series_uid for rows in per_job for r in rows})
        series = {x.series_uid: x for x in _series_by_uid(s, uids) if x is not None} if uids else {}
        for number, rows in zip(numbers, per_job, strict=True):
            nested[number].series = [(r, series.get(r.series_uid)) for r in rows]
    if "messages" in wants:
        for number, messages in zip(numbers, _messages(s, numbers), strict=True):
            nested[number].messages = messages
    if "outputs" in wants:
        for number, outputs in zip(numbers, _outputs(s, numbers), strict=True):
            nested[number].outputs = outputs
    return nested
