"""Queries."""

from __future__ import annotations

import strawberry

from jobgraph.errors import Forbidden
from jobgraph.resolvers import jobs, loaders, plugins, queue_stats, series, users
from jobgraph.resolvers.viewer import Privilege as P
from jobgraph.rest.common import call
from jobgraph.schema.connection import job_connection
from jobgraph.schema.inputs import JobFilter, JobOrder
from jobgraph.schema.selection import wanted_nested
from jobgraph.schema.types import (
    ApiToken,
    Job,
    JobConnection,
    JobStatus,
    Plugin,
    QueueCount,
    QueueStats,
    Series,
    StatusCount,
    User,
    Worker,
)


def _workers(states: list[queue_stats.WorkerState]) -> list[Worker]:
    return [Worker.of(s.worker, s.alive, s.jobs_running) for s in states]


@strawberry.type
class Query:
    @strawberry.field(description="A job by its jobId; null if it does not exist or is not yours to see.")
    async def job(self, info: strawberry.Info, job_id: strawberry.ID) -> Job | None:
        ctx = info.context
        row = await call(jobs.get_job, ctx.rt, await ctx.viewer(), str(job_id))
        if row is None:
            return None
        wants = wanted_nested(info)
        nested = await call(loaders.prefetch, ctx.rt, [row], wants) if wants else {}
        return Job.of(row, nested.get(row.number or 0))

    @strawberry.field(description="Jobs you may see (all of them with manageJobs), a page at a time.")
    async def jobs(
        self,
        info: strawberry.Info,
        filter: JobFilter | None = None,
        order_by: JobOrder = JobOrder.NEWEST,
        first: int = 20,
        after: str | None = None,
    ) -> JobConnection:
        return await job_connection(info, filter.to_filter() if filter else None, order_by.value, first, after)

    @strawberry.field
    async def plugin(self, info: strawberry.Info, plugin_id: strawberry.ID) -> Plugin | None:
        ctx = info.context
        row = await call(plugins.get_plugin, ctx.rt, await ctx.viewer(), str(plugin_id))
        return Plugin.of(row) if row else None

    @strawberry.field
    async def plugins(self, info: strawberry.Info) -> list[Plugin]:
        ctx = info.context
        return [Plugin.of(p) for p in await call(plugins.list_plugins, ctx.rt, await ctx.viewer())]

    @strawberry.field
    async def series(self, info: strawberry.Info, series_uid: str) -> Series | None:
        ctx = info.context
        row = await call(series.get_series, ctx.rt, await ctx.viewer(), series_uid)
        return Series.of(row) if row else None

    @strawberry.field(description="Registered series, newest first.")
    async def series_list(self, info: strawberry.Info, first: int = 100) -> list[Series]:
        ctx = info.context
        return [
            Series.of(s) for s in await call(series.list_series, ctx.rt, await ctx.viewer(), min(max(first, 0), 1000))
        ]

    @strawberry.field(description="The user the token belongs to.")
    async def me(self, info: strawberry.Info) -> User:
        ctx = info.context
        viewer = await ctx.viewer()
        row = await call(users.find_user, ctx.rt, viewer.email)
        assert row is not None
        return User.of(row)

    @strawberry.field(description="Your API tokens (never their secrets).")
    async def api_tokens(self, info: strawberry.Info) -> list[ApiToken]:
        ctx = info.context
        return [ApiToken.of(t) for t in await call(users.list_api_tokens, ctx.rt, await ctx.viewer())]

    @strawberry.field(description="Every user (manageServer).")
    async def users(self, info: strawberry.Info) -> list[User]:
        ctx = info.context
        viewer = await ctx.viewer()
        if not viewer.can(P.MANAGE_SERVER):
            raise Forbidden("this needs the manageServer privilege")
        return [User.of(u) for u in await call(users.list_users, ctx.rt, viewer)]

    @strawberry.field(description="Counts by status (of the jobs you may see) and by queue; workers.")
    async def queue_stats(self, info: strawberry.Info) -> QueueStats:
        ctx = info.context
        stats = await call(queue_stats.queue_stats, ctx.rt, await ctx.viewer())
        return QueueStats(
            by_status=[StatusCount(status=JobStatus(k), count=v) for k, v in sorted(stats.by_status.items())],
            by_queue=[
                QueueCount(queue=q, queued=c.get("queued", 0), running=c.get("running", 0))
                for q, c in sorted(stats.by_queue.items())
            ],
            workers=_workers(stats.workers),
            total=sum(stats.by_status.values()),
        )

    @strawberry.field(description="Workers seen in the last day: host, pid, queues, heartbeat, jobs running.")
    async def workers(self, info: strawberry.Info) -> list[Worker]:
        ctx = info.context
        return _workers(await call(queue_stats.list_workers, ctx.rt, await ctx.viewer()))
