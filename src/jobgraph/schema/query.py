"""Queries."""

from __future__ import annotations

import strawberry

from jobgraph.db import models
from jobgraph.resolvers import audit, bulk, jobs, loaders, plugins, queue_stats, queues, series, users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.schema.connection import job_connection
from jobgraph.schema.control import AuditEntry, BulkAction, BulkPreview, QueueState
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
from jobgraph.unit import Unit


def _job_with_nested(
    u: Unit, viewer: Viewer, job_id: str, wants: frozenset[str]
) -> tuple[models.Job, dict[int, loaders.Nested]] | None:
    row = jobs.get_job(u, viewer, job_id)
    if row is None:
        return None
    return row, loaders.prefetch(u, viewer, [row], wants) if wants else {}


def _me(u: Unit, viewer: Viewer) -> models.User | None:
    return users.find_user(u, viewer.email)


def _workers(states: list[queue_stats.WorkerState]) -> list[Worker]:
    return [Worker.of(s.worker, s.alive, s.jobs_running) for s in states]


@strawberry.type
class Query:
    @strawberry.field(description="A job by its jobId; null if it does not exist or is not yours to see.")
    async def job(self, info: strawberry.Info, job_id: strawberry.ID) -> Job | None:
        ctx = info.context
        # The job and what the query asks of it: one hop, in the operation's one transaction.
        found = await ctx.run_viewing(_job_with_nested, str(job_id), wanted_nested(info))
        if found is None:
            return None
        row, nested = found
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
        row = await ctx.run_viewing(plugins.get_plugin, str(plugin_id))
        return Plugin.of(row) if row else None

    @strawberry.field
    async def plugins(self, info: strawberry.Info) -> list[Plugin]:
        ctx = info.context
        return [Plugin.of(p) for p in await ctx.run_viewing(plugins.list_plugins)]

    @strawberry.field
    async def series(self, info: strawberry.Info, series_uid: str) -> Series | None:
        ctx = info.context
        row = await ctx.run_viewing(series.get_series, series_uid)
        return Series.of(row) if row else None

    @strawberry.field(description="Registered series, newest first.")
    async def series_list(self, info: strawberry.Info, first: int = 100) -> list[Series]:
        ctx = info.context
        return [
            Series.of(s) for s in await ctx.run_viewing(series.list_series, min(max(first, 0), 1000))
        ]

    @strawberry.field(description="The user the token belongs to.")
    async def me(self, info: strawberry.Info) -> User:
        ctx = info.context
        row = await ctx.run_viewing(_me)
        assert row is not None
        return User.of(row)

    @strawberry.field(
        description="API tokens (never their secrets), oldest first: yours, or with manageServer `userEmail`'s."
    )
    async def api_tokens(self, info: strawberry.Info, user_email: str | None = None) -> list[ApiToken]:
        ctx = info.context
        listed = await ctx.run_viewing(users.list_api_tokens, user_email)
        return [ApiToken.of(t.token) for t in listed]

    @strawberry.field(description="Every user (manageServer).")
    async def users(self, info: strawberry.Info) -> list[User]:
        ctx = info.context
        return [User.of(u) for u in await ctx.run_viewing(users.list_users)]

    @strawberry.field(description="Counts by status (of the jobs you may see) and by queue; workers.")
    async def queue_stats(self, info: strawberry.Info) -> QueueStats:
        ctx = info.context
        stats = await ctx.run_viewing(queue_stats.queue_stats)
        return QueueStats(
            by_status=[
                StatusCount(status=JobStatus(k), count=v, is_estimate=k in stats.estimated_statuses)
                for k, v in sorted(stats.by_status.items())
            ],
            by_queue=[
                QueueCount(
                    queue=q,
                    queued=c.get("queued", 0),
                    running=c.get("running", 0),
                    is_estimate=q in stats.estimated_queues,
                )
                for q, c in sorted(stats.by_queue.items())
            ],
            workers=_workers(stats.workers),
            total=sum(stats.by_status.values()),
            total_is_estimate=bool(stats.estimated_statuses),
        )

    @strawberry.field(
        description="Every queue with queued or running jobs, paused, or a plugin's queue; whether it is "
        "paused (manageServer)."
    )
    async def queues(self, info: strawberry.Info) -> list[QueueState]:
        ctx = info.context
        return [QueueState.of(q) for q in await ctx.run_viewing(queues.list_queues)]

    @strawberry.field(
        description="How many jobs a bulk action would select and change; nothing changes (see bulkAction)."
    )
    async def bulk_preview(self, info: strawberry.Info, action: BulkAction, filter: JobFilter) -> BulkPreview:
        ctx = info.context
        return BulkPreview.of(await ctx.run_viewing(bulk.preview, action.value, filter.to_filter()))

    @strawberry.field(description="Who did what to how many jobs, newest first (manageServer).")
    async def audit_log(self, info: strawberry.Info, first: int | None = 50) -> list[AuditEntry]:
        ctx = info.context
        return [AuditEntry.of(e) for e in await ctx.run_viewing(audit.list_entries, 50 if first is None else first)]

    @strawberry.field(description="Workers seen in the last day: host, pid, queues, heartbeat, jobs running.")
    async def workers(self, info: strawberry.Info) -> list[Worker]:
        ctx = info.context
        return _workers(await ctx.run_viewing(queue_stats.list_workers))
