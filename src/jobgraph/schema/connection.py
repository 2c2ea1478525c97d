"""Cursor-paginated job lists (keyset cursors, so pages stay right while jobs are added)."""

from __future__ import annotations

import strawberry

from jobgraph.resolvers import job_list, loaders
from jobgraph.rest.common import call
from jobgraph.schema.selection import wanted_nested
from jobgraph.schema.types import Job, JobConnection, JobEdge, PageInfo

MAX_FIRST = 500


async def job_connection(
    info: strawberry.Info, job_filter: job_list.JobFilter | None, order: str, first: int, after: str | None
) -> JobConnection:
    from jobgraph.errors import BadInput

    if not 0 <= first <= MAX_FIRST:
        raise BadInput(f"first must be 0 to {MAX_FIRST}")
    ctx = info.context
    viewer = await ctx.viewer()
    page = await call(job_list.list_jobs, ctx.rt, viewer, job_filter, order=order, first=first, after=after)
    wants = wanted_nested(info, ("edges", "node"))
    nested = await call(loaders.prefetch, ctx.rt, page.jobs, wants) if wants and page.jobs else {}
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
    )
