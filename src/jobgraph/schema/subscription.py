"""Subscriptions (WebSocket, or streamed over HTTP): a job's changes, a filtered stream of events.

Both go through the process's subscription hub (`schema/live.py`): one job read per event for all
subscribers, visibility and filters checked in memory with each session's current viewer, limits
per connection and per user, and an end (UNAUTHENTICATED, with the reason) when the token is
revoked or expires.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from jobgraph.errors import NotFound
from jobgraph.events import RESYNC
from jobgraph.resolvers import jobs
from jobgraph.schema.context import Context
from jobgraph.schema.inputs import JobFilter
from jobgraph.schema.types import Job, JobEvent, JobStatus

ENDED = {"finished", "failed", "cancelled", "invalidated"}


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The job now, then again each time it changes; ends when it is deleted.")
    async def job_updated(self, info: strawberry.Info, job_id: strawberry.ID) -> AsyncGenerator[Job, None]:
        ctx: Context = info.context
        with await ctx.open_feed(job_id=str(job_id)) as feed:  # registered before the first read: nothing missed
            row = await ctx.run_viewing(jobs.get_job, str(job_id))
            if row is None:
                raise NotFound(f"no job {job_id}")
            yield Job.of(row)
            seen = row.updated_at
            async for delivery in feed:
                row = delivery.row
                assert row is not None
                if delivery.event.kind == RESYNC and row.updated_at == seen:
                    continue  # the bus came back and nothing changed meanwhile
                seen = row.updated_at
                await ctx.next_event()
                yield Job.of(row)

    @strawberry.subscription(description="Events of the jobs you may see that match the filter.")
    async def job_events(
        self, info: strawberry.Info, filter: JobFilter | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        ctx: Context = info.context
        with await ctx.open_feed(job_filter=filter.to_filter() if filter else None) as feed:
            async for delivery in feed:
                event, row = delivery.event, delivery.row
                await ctx.next_event()
                yield JobEvent(
                    kind=event.kind,
                    job_id=strawberry.ID(event.job_id),
                    number=event.number,
                    status=JobStatus(row.status if row else event.status),
                    job=Job.of(row) if row else None,
                )
