"""Lists at scale keep their answers: totals exact up to the exact count limit and PostgreSQL's
flagged estimate above it (SQLite exact always); Ion's states as plain conditions select what
the derived status did; offset pages (numbers first, then the rows) hold the rows the plain
query gave. On SQLite, then PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from jobgraph.clock import utcnow
from jobgraph.db.models import Job
from jobgraph.resolvers import job_list, queue_stats
from jobgraph.resolvers.job_list import Condition, JobFilter
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from jobgraph.unit import unit_of_work

# (status, failure_kind): every Ion state, a retried job that keeps its failure_kind, NULL kinds.
KINDS = [
    ("queued", None),
    ("queued", "timeout"),
    ("running", None),
    ("finished", None),
    ("failed", None),
    ("failed", "exception"),
    ("failed", "timeout"),
    ("cancelled", None),
    ("invalidated", None),
    ("failed", "timeout"),
    ("finished", None),
    ("queued", None),
]
DERIVED = ("queued", "running", "finished", "failed", "timed_out", "cancelled", "invalidated")


def _seed(rt: Runtime, admin: Viewer) -> list[Job]:
    """KINDS as jobs, with priorities, queues, start times (some NULL) and update times that
    tie and cross, so every ordering has something to sort."""
    now = utcnow()
    with rt.db.session(write=True) as s:
        for i, (status, kind) in enumerate(KINDS):
            s.add(
                Job(
                    plugin_id=("jobgraph.echo", "jobgraph.noop")[i % 2],
                    user_id=admin.user_id,
                    status=status,
                    failure_kind=kind,
                    priority=i * 7 % 3 - 1,
                    queue="gpu" if i % 3 == 0 else "default",
                    created_at=now - timedelta(minutes=100 - i),
                    updated_at=now - timedelta(minutes=i * 5 % 7),
                    started_at=None if i % 4 == 0 else now - timedelta(minutes=i % 5),
                )
            )
    with rt.db.session() as s:
        return list(s.scalars(select(Job).order_by(Job.number)))  # type: ignore[arg-type]


def _list(rt: Runtime, viewer: Viewer, job_filter: JobFilter | None = None, **options: Any) -> job_list.JobPage:
    with unit_of_work(rt) as u:
        return job_list.list_jobs(u, viewer, job_filter, **options)


def _stats(rt: Runtime, viewer: Viewer) -> queue_stats.QueueStats:
    with unit_of_work(rt) as u:
        return queue_stats.queue_stats(u, viewer)


def _derived(job: Job) -> str:
    return "timed_out" if job.status == "failed" and job.failure_kind == "timeout" else job.status


def _numbers(page: job_list.JobPage) -> list[int]:
    return [j.number or 0 for j in page.jobs]


def test_ion_states_are_plain_conditions_that_select_what_the_derived_status_did(rt: Runtime, admin: Viewer) -> None:
    made = _seed(rt, admin)
    for size in range(len(DERIVED) + 1):
        for wanted in itertools.combinations(DERIVED, size):
            page = _list(rt, admin, JobFilter(conditions=[Condition("status_detail", "in", wanted)]))
            expected = sorted((j.number or 0 for j in made if _derived(j) in wanted), reverse=True)
            assert (_numbers(page), page.total) == (expected, len(expected)), wanted
    for value in DERIVED:
        page = _list(rt, admin, JobFilter(conditions=[Condition("status_detail", "eq", value)]))
        assert _numbers(page) == sorted((j.number or 0 for j in made if _derived(j) == value), reverse=True)


def test_ion_states_need_no_case_expression() -> None:
    """A CASE is opaque to every index; the plain conditions let (status, number) serve them."""
    for wanted in (["failed"], ["timed_out"], ["failed", "timed_out", "queued"], ["finished", "failed"]):
        clause = job_list._condition(Condition("status_detail", "in", wanted))
        for dialect in (postgresql.dialect(), sqlite.dialect()):
            assert "CASE" not in str(clause.compile(dialect=dialect)).upper(), wanted


ORDERS: list[tuple[str, list[tuple[str, bool]] | None]] = [
    ("NEWEST", None),
    ("OLDEST", None),
    ("DISPATCH", None),
    ("RECENTLY_UPDATED", None),
    ("NEWEST", [("status", False), ("started_at", True)]),  # tastypie's order_by, NULLs among them
    ("NEWEST", [("priority", False)]),
]
FILTERS: list[JobFilter | None] = [
    None,
    JobFilter(statuses=["queued", "failed"]),
    JobFilter(conditions=[Condition("status_detail", "in", ["failed", "finished"])]),
]


def test_offset_pages_hold_the_rows_of_the_plain_query(rt: Runtime, admin: Viewer) -> None:
    """Before, a page was `SELECT jobs ... ORDER BY ... OFFSET n LIMIT k`; now the numbers of
    the page are picked first. Every ordering is total, so the plain query's whole list, sliced,
    is what each page must hold."""
    _seed(rt, admin)
    for (order, custom), job_filter in itertools.product(ORDERS, FILTERS):
        if custom:
            ordering: tuple[tuple[str, bool], ...] = (*custom, ("number", custom[-1][1]))
        else:
            ordering = job_list.ORDERINGS[order]
        plain = select(Job).where(*job_list._where(admin, job_filter)).order_by(*job_list._order_by(ordering))
        with rt.db.session() as s:
            everything = [j.number or 0 for j in s.scalars(plain)]
        assert everything, (order, custom, job_filter)
        for first, offset in itertools.product((1, 3, 5), range(len(everything) + 2)):
            options: dict[str, Any] = {"order": order, "custom_order": custom, "first": first, "offset": offset}
            page = _list(rt, admin, job_filter, **options)
            assert _numbers(page) == everything[offset : offset + first], (order, custom, job_filter, options)
            assert page.has_next == (offset + first < len(everything))
            assert (page.total, page.total_is_estimate) == (len(everything), False)  # under the limit


def test_totals_are_exact_up_to_the_limit_and_flagged_estimates_above_it_on_postgresql(
    rt: Runtime, admin: Viewer
) -> None:
    _seed(rt, admin)  # 12 jobs
    rt.settings.exact_count_limit = 3
    estimating = not rt.db.is_sqlite

    few = _list(rt, admin, JobFilter(statuses=["running", "cancelled"]), first=1)
    assert (few.total, few.total_is_estimate) == (2, False)
    at_limit = _list(rt, admin, JobFilter(statuses=["queued"]), first=1)
    assert (at_limit.total, at_limit.total_is_estimate) == (3, False)

    page = _list(rt, admin, first=2)
    if estimating:
        assert page.total_is_estimate and page.total >= 4, page.total
    else:
        assert (page.total, page.total_is_estimate) == (12, False)
    deep = _list(rt, admin, first=2, offset=6)
    assert deep.total >= 9 and deep.total_is_estimate == estimating  # never fewer than the pages show
    last = _list(rt, admin, first=5, offset=10)  # the last page knows the total
    assert (last.total, last.total_is_estimate) == (12, False)
    not_asked = _list(rt, admin, first=2, with_total=False)
    assert (not_asked.total, not_asked.total_is_estimate) == (-1, False)

    stats = _stats(rt, admin)
    assert {k: v for k, v in stats.by_status.items() if k not in stats.estimated_statuses} == (
        {"queued": 3, "running": 1, "finished": 2, "cancelled": 1, "invalidated": 1}
        if estimating
        else {"queued": 3, "running": 1, "finished": 2, "failed": 4, "cancelled": 1, "invalidated": 1}
    )
    assert stats.estimated_statuses == ({"failed"} if estimating else set())
    assert stats.by_status["failed"] == 4 if not estimating else stats.by_status["failed"] >= 4
    assert stats.by_queue == {"gpu": {"queued": 1, "running": 0}, "default": {"queued": 2, "running": 1}}

    # Above the limit per queue too: the queues are found (a loose index scan) and each counted.
    rt.settings.exact_count_limit = 1
    stats = _stats(rt, admin)
    assert set(stats.by_queue) == {"gpu", "default"}
    assert stats.by_queue["gpu"] == {"queued": 1, "running": 0}
    assert stats.by_queue["default"]["running"] == 1
    if estimating:
        assert stats.estimated_queues == {"default"} and stats.by_queue["default"]["queued"] >= 2
    else:
        assert stats.estimated_queues == set() and stats.by_queue["default"]["queued"] == 2
