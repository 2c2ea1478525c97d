"""Cursor-paginated job lists (keyset cursors, so pages stay right while jobs are added)."""

from __future__ import annotations

import strawberry

from jobgraph.resolvers import job_list, loaders
from jobgraph.resolvers.viewer import Viewer
from jobgraph.schema.selection import selected, wanted_nested
from jobgraph.schema.types import Job, JobConnection, JobEdge, PageInfo
from jobgraph.unit import Unit

MAX_FIRST = 500


def _page(
    u: Unit,
    viewer: Viewer,
    job_filter: job_list.JobFilter | None,
    order: str,
    first: int,
    after: str | None,
    with_total: bool,
    wants: frozenset[str],
) -> tuple[job_list.JobPage, dict[int, loaders.Nested]]:
    page = job_list.list_jobs(u, viewer, job_filter, order=order, first=first, after=after, with_total=with_total)
    return page, loaders.prefetch(u, viewer, page.jobs, wants) if wants and page.jobs else {}


async def job_connection(
    info: strawberry.Info, job_filter: job_list.JobFilter | None, order: str, first: int, after: str | None
) -> JobConnection:
    from jobgraph.errors import BadInput

    if not 0 <= first <= MAX_FIRST:
        raise BadInput(f"first must be 0 to {MAX_FIRST}")
    ctx = info.context
    # Jobs are counted only when the query asks how many (counting.py says how).
    with_total = bool(selected(info) & {"totalCount", "totalCountIsEstimate"})
    wants = wanted_nested(info, ("edges", "node"))
    # The page and what the query asks of its jobs: one hop, in the operation's one transaction.
    page, nested = await ctx.run_viewing(_page, job_filter, order, first, after, with_total, wants)
    edges = [
        JobEdge(cursor=c, node=Job.of(j, nested.get(j.number or 0)))
        for j, c in zip(page.jobs, page.cursors, strict=True)
    ]
    return JobConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total_count=page.total,
        total_count_is_estimate=page.total_is_estimate,
    )
