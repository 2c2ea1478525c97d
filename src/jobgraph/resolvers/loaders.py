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
from sqlmodel import Session, col

from jobgraph.db.keys import in_keys
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
from jobgraph.resolvers import policy
from jobgraph.resolvers.queue_stats import WorkerState, worker_states
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

T = TypeVar("T")


def _group(rows: Sequence[T], key: str, keys: Sequence[int]) -> list[list[T]]:
    grouped: dict[int, list[T]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return [grouped.get(k, []) for k in keys]


# Built once: a statement made per call spends more on its construction and cache key than on
# the round trip. `in_keys` matches the list given at execution (db/keys.py).
_PLUGINS = select(Plugin).where(in_keys(col(Plugin.plugin_id)))
_USERS = select(User).where(in_keys(col(User.id)))
_SERIES = select(Series).where(in_keys(col(Series.series_uid)))
_JOB_SERIES = select(JobSeries).where(in_keys(col(JobSeries.job_number))).order_by(col(JobSeries.position))
_JOB_SERIES_WITH_SERIES = (
    select(JobSeries, Series)
    .outerjoin(Series, col(Series.series_uid) == col(JobSeries.series_uid))
    .where(in_keys(col(JobSeries.job_number)))
    .order_by(col(JobSeries.position))
)
_FEEDBACK = select(Feedback).where(in_keys(col(Feedback.job_number))).order_by(col(Feedback.created_at))
_MESSAGES = select(Message).where(in_keys(col(Message.job_number))).order_by(col(Message.id))
_OUTPUTS = select(Output).where(in_keys(col(Output.job_number))).order_by(col(Output.file_name))


def _keys(keys: Sequence[Any]) -> dict[str, list[Any]]:
    return {"keys": sorted(set(keys))}


def _plugins(s: Session, ids: Sequence[str]) -> list[Plugin | None]:
    found = {p.plugin_id: p for p in s.scalars(_PLUGINS, _keys(ids))}
    return [found.get(i) for i in ids]


def plugins(u: Unit, ids: Sequence[str]) -> list[Plugin | None]:
    s = u.session
    return _plugins(s, ids)


def _users(s: Session, ids: Sequence[int]) -> list[User | None]:
    found = {u.id: u for u in s.scalars(_USERS, _keys(ids))}
    return [found.get(i) for i in ids]


def users(u: Unit, ids: Sequence[int]) -> list[User | None]:
    s = u.session
    return _users(s, ids)


def _series_by_uid(s: Session, uids: Sequence[str]) -> list[Series | None]:
    found = {x.series_uid: x for x in s.scalars(_SERIES, _keys(uids))}
    return [found.get(u) for u in uids]


def series_by_uid(u: Unit, uids: Sequence[str]) -> list[Series | None]:
    s = u.session
    return _series_by_uid(s, uids)


def _job_series(s: Session, numbers: Sequence[int]) -> list[list[JobSeries]]:
    rows = list(s.scalars(_JOB_SERIES, _keys(numbers)))
    return _group(rows, "job_number", numbers)


def job_series(u: Unit, numbers: Sequence[int]) -> list[list[JobSeries]]:
    s = u.session
    return _job_series(s, numbers)


def _feedback(s: Session, numbers: Sequence[int]) -> list[list[Feedback]]:
    rows = list(s.scalars(_FEEDBACK, _keys(numbers)))
    return _group(rows, "job_number", numbers)


def feedback(u: Unit, numbers: Sequence[int]) -> list[list[Feedback]]:
    s = u.session
    return _feedback(s, numbers)


def _messages(s: Session, numbers: Sequence[int]) -> list[list[Message]]:
    rows = list(s.scalars(_MESSAGES, _keys(numbers)))
    return _group(rows, "job_number", numbers)


def messages(u: Unit, numbers: Sequence[int]) -> list[list[Message]]:
    s = u.session
    return _messages(s, numbers)


def _outputs(s: Session, numbers: Sequence[int]) -> list[list[Output]]:
    rows = list(s.scalars(_OUTPUTS, _keys(numbers)))
    return _group(rows, "job_number", numbers)


def outputs(u: Unit, numbers: Sequence[int]) -> list[list[Output]]:
    s = u.session
    return _outputs(s, numbers)


def _linked_statement(by: Any, other: Any) -> Any:
    """For each job number (matched on the dependency column `by`), the jobs at `other`."""
    return select(by, Job).join(Job, Job.number == other).where(in_keys(by)).order_by(Job.number)


_PARENTS = _linked_statement(JobDependency.child_number, JobDependency.parent_number)
_CHILDREN = _linked_statement(JobDependency.parent_number, JobDependency.child_number)


def _linked(s: Session, numbers: Sequence[int], statement: Any) -> list[list[Job]]:
    rows = s.execute(statement, _keys(numbers)).all()
    grouped: dict[int, list[Job]] = defaultdict(list)
    for number, job in rows:
        grouped[number].append(job)
    return [grouped.get(n, []) for n in numbers]


def _parents(s: Session, numbers: Sequence[int]) -> list[list[Job]]:
    return _linked(s, numbers, _PARENTS)


def parents(u: Unit, numbers: Sequence[int]) -> list[list[Job]]:
    s = u.session
    return _parents(s, numbers)


def _children(s: Session, numbers: Sequence[int]) -> list[list[Job]]:
    return _linked(s, numbers, _CHILDREN)


def children(u: Unit, numbers: Sequence[int]) -> list[list[Job]]:
    s = u.session
    return _children(s, numbers)


def jobs_by_number(u: Unit, numbers: Sequence[int]) -> list[Job | None]:
    """Jobs by number, in the order asked (a job's `rerunOf`; the view keeps those the viewer
    may see)."""
    found = {j.number: j for j in u.session.scalars(select(Job).where(Job.number.in_(set(numbers))))}  # type: ignore[union-attr]
    return [found.get(n) for n in numbers]


def reruns(u: Unit, numbers: Sequence[int]) -> list[list[Job]]:
    """For each job number, the jobs that run it again (`rerunJob`), oldest first."""
    rows = list(u.session.scalars(select(Job).where(Job.rerun_of.in_(set(numbers))).order_by(Job.number)))  # type: ignore[union-attr]
    return _group(rows, "rerun_of", numbers)


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
    parents: list[Job] = field(default_factory=list)  # those the viewer may see
    children: list[Job] = field(default_factory=list)
    worker: WorkerState | None = None


PREFETCHABLE = frozenset(
    {"plugin", "user", "series", "feedbacks", "messages", "outputs", "parents", "children", "runBy"}
)


def prefetch(u: Unit, viewer: Viewer, jobs: Sequence[Job], wants: frozenset[str]) -> dict[int, Nested]:
    """The nested data a page asks for, in one session and one statement per kind: the view
    then hands out plain values instead of one awaited load (and thread-pool hop) per job and
    field. Linked jobs are filtered by what `viewer` may see."""
    numbers = [j.number for j in jobs if j.number is not None]
    nested = {n: Nested() for n in numbers}
    s = u.session
    for name, linked in (("parents", _parents), ("children", _children)):
        if name in wants:
            for number, found in zip(numbers, linked(s, numbers), strict=True):
                setattr(nested[number], name, [j for j in found if policy.can_see_job(viewer, j)])
    if "runBy" in wants:
        worker_ids = sorted({j.worker_id for j in jobs if j.worker_id is not None})
        states = {w.worker.id: w for w in worker_states(u, worker_ids) if w is not None} if worker_ids else {}
        for job in jobs:
            nested[job.number].worker = states.get(job.worker_id) if job.worker_id is not None else None  # type: ignore[index]
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
        with_series = s.execute(_JOB_SERIES_WITH_SERIES, _keys(numbers)).all()
        per_job: dict[int, list[tuple[JobSeries, Series | None]]] = defaultdict(list)
        for link, found in with_series:
            per_job[link.job_number].append((link, found))
        for number in numbers:
            nested[number].series = per_job.get(number, [])
    if "messages" in wants:
        for number, messages in zip(numbers, _messages(s, numbers), strict=True):
            nested[number].messages = messages
    if "outputs" in wants:
        for number, outputs in zip(numbers, _outputs(s, numbers), strict=True):
            nested[number].outputs = outputs
    return nested
