"""Subscriptions over WebSocket: a job's changes, and a filtered stream of job events."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from jobgraph.errors import NotFound
from jobgraph.events import RESYNC
from jobgraph.events import JobEvent as BusEvent
from jobgraph.resolvers import job_list, jobs
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import call
from jobgraph.schema.inputs import JobFilter
from jobgraph.schema.types import Job, JobEvent, JobStatus

ENDED = {"finished", "failed", "cancelled", "invalidated"}


def _matches_cheaply(event: BusEvent, viewer: Viewer, f: job_list.JobFilter | None) -> bool:
    if not viewer.may_see_job_of(event.user_id):
        return False
    if f is None:
        return True
    if f.statuses and event.status not in f.statuses:
        return False
    if f.plugin_ids and event.plugin_id not in f.plugin_ids:
        return False
    return not (f.queues and event.queue not in f.queues)


def _needs_database(f: job_list.JobFilter | None) -> bool:
    return f is not None and any(
        v is not None
        for v in (
            f.user_emails,
            f.series_uid,
            f.created_after,
            f.created_before,
            f.updated_after,
            f.finished_after,
            f.finished_before,
            f.error_contains,
        )
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The job now, then again each time it changes; ends when it is deleted.")
    async def job_updated(self, info: strawberry.Info, job_id: strawberry.ID) -> AsyncGenerator[Job, None]:
        ctx = info.context
        viewer = await ctx.viewer()
        with ctx.rt.events.subscribe() as events:  # subscribed before the first read: nothing missed
            row = await call(jobs.get_job, ctx.rt, viewer, str(job_id))
            if row is None:
                raise NotFound(f"no job {job_id}")
            yield Job.of(row)
            seen = row.updated_at
            async for event in events:
                if event.job_id != str(job_id) and event.kind != RESYNC:
                    continue
                if event.kind == "deleted":
                    return
                row = await call(jobs.get_job, ctx.rt, viewer, str(job_id))
                if row is None:
                    return
                if event.kind == RESYNC and row.updated_at == seen:
                    continue  # the bus came back and nothing changed meanwhile
                seen = row.updated_at
                ctx.fresh_loaders()
                yield Job.of(row)

    @strawberry.subscription(description="Events of the jobs you may see that match the filter.")
    async def job_events(
        self, info: strawberry.Info, filter: JobFilter | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        ctx = info.context
        viewer = await ctx.viewer()
        job_filter = filter.to_filter() if filter else None
        with ctx.rt.events.subscribe() as events:
            async for event in events:
                if event.kind == RESYNC or not _matches_cheaply(event, viewer, job_filter):
                    continue
                row = None
                if event.kind != "deleted":
                    row = await call(jobs.get_job_by_number, ctx.rt, viewer, event.number)
                    if row is None:
                        continue
                    if _needs_database(job_filter):
                        assert job_filter is not None
                        narrowed = job_list.JobFilter(
                            **{**job_filter.__dict__, "conditions": [job_list.Condition("number", "eq", event.number)]}
                        )
                        page = await call(job_list.list_jobs, ctx.rt, viewer, narrowed, first=1, with_total=False)
                        if not page.jobs:
                            continue
                ctx.fresh_loaders()
                yield JobEvent(
                    kind=event.kind,
                    job_id=strawberry.ID(event.job_id),
                    number=event.number,
                    status=JobStatus(row.status if row else event.status),
                    job=Job.of(row) if row else None,
                )
