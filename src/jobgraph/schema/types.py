"""Output types. Scalar fields are plain attributes copied from the row; nested fields load
through the request's DataLoaders, so a page costs a fixed number of statements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from jobgraph.db import models
from jobgraph.resolvers import job_list, jobs, policy
from jobgraph.resolvers.loaders import Nested
from jobgraph.resolvers.queue_stats import WorkerState

if TYPE_CHECKING:
    from strawberry.dataloader import DataLoader

    from jobgraph.schema.context import Context


@strawberry.enum(description="Where a job is in its lifecycle.")
class JobStatus(Enum):
    # The contract's names, as every other view spells them.
    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"
    cancelled = "cancelled"
    invalidated = "invalidated"


@strawberry.enum(description="A global privilege of a user (manageServer implies all).")
class Privilege(Enum):
    manageServer = "manageServer"
    manageJobs = "manageJobs"
    executePlugin = "executePlugin"
    inputPersonalFeedback = "inputPersonalFeedback"
    inputConsensualFeedback = "inputConsensualFeedback"
    manageFeedback = "manageFeedback"


@strawberry.enum(description="How a plugin is run.")
class PluginKind(Enum):
    python = "python"
    command = "command"
    docker = "docker"


def _ctx(info: strawberry.Info) -> Context:
    return info.context  # type: ignore[no-any-return]


T = TypeVar("T")
R = TypeVar("R")


def _later(loading: Awaitable[R], convert: Callable[[R], T]) -> T:
    """Load through a DataLoader when nothing was prefetched. The resolvers stay synchronous so
    that prefetched values cost no task; graphql-core awaits what a resolver returns."""

    async def load() -> T:
        return convert(await loading)

    return cast(T, load())


@strawberry.type(description="A registered imaging series.")
class Series:
    series_uid: str
    modality: str
    description: str
    image_count: int
    created_at: datetime

    @classmethod
    def of(cls, row: models.Series) -> Series:
        return cls(
            series_uid=row.series_uid,
            modality=row.modality,
            description=row.description,
            image_count=row.image_count,
            created_at=row.created_at,
        )

    @strawberry.field(description="Jobs that name this series, newest first.")
    async def jobs(self, info: strawberry.Info, first: int = 20, after: str | None = None) -> JobConnection:
        from jobgraph.schema.connection import job_connection

        return await job_connection(info, job_list.JobFilter(series_uid=self.series_uid), "NEWEST", first, after)


@strawberry.type(description="A part of a series: images start..end, every delta-th.")
class PartialVolumeDescriptor:
    start: int
    end: int
    delta: int


@strawberry.type(description="One series of a job, in the job's order.")
class JobSeries:
    series_uid: str
    partial_volume_descriptor: PartialVolumeDescriptor | None
    prefetched: strawberry.Private[tuple[models.Series | None] | None] = None

    @classmethod
    def of(cls, row: models.JobSeries, prefetched: tuple[models.Series | None] | None = None) -> JobSeries:
        volume = None
        if row.start is not None and row.end is not None and row.delta is not None:
            volume = PartialVolumeDescriptor(start=row.start, end=row.end, delta=row.delta)
        return cls(series_uid=row.series_uid, partial_volume_descriptor=volume, prefetched=prefetched)

    @strawberry.field
    def series(self, info: strawberry.Info) -> Series | None:
        if self.prefetched is not None:
            return Series.of(self.prefetched[0]) if self.prefetched[0] else None
        return _later(_ctx(info).loaders.series.load(self.series_uid), lambda r: Series.of(r) if r else None)


@strawberry.type(description="A plugin that jobs run.")
class Plugin:
    plugin_id: strawberry.ID
    name: str
    version: str
    description: str
    kind: PluginKind
    entrypoint: JSON
    input_schema: JSON | None
    feedback_schema: JSON | None
    timeout: int = strawberry.field(description="Seconds an attempt may run; 0 = no limit.")
    attempts: int
    queue: str
    isolation: str = strawberry.field(description="python plugins: 'process' (default) or 'thread'.")
    enabled: bool
    icon: JSON | None
    display_strategy: JSON | None
    env_names: list[str] = strawberry.field(description="The variables declared for its runs (values are not shown).")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: models.Plugin) -> Plugin:
        return cls(
            plugin_id=strawberry.ID(row.plugin_id),
            name=row.name,
            version=row.version,
            description=row.description,
            kind=PluginKind(row.kind),
            entrypoint=row.entrypoint,
            input_schema=cast(JSON, row.input_schema),
            feedback_schema=cast(JSON, row.feedback_schema),
            timeout=row.timeout,
            attempts=row.attempts,
            queue=row.queue,
            isolation=row.isolation,
            enabled=row.enabled,
            icon=row.icon,
            display_strategy=row.display_strategy,
            env_names=sorted(row.env or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="This plugin's jobs that the caller may see, newest first.")
    async def jobs(self, info: strawberry.Info, first: int = 20, after: str | None = None) -> JobConnection:
        from jobgraph.schema.connection import job_connection

        return await job_connection(info, job_list.JobFilter(plugin_ids=[str(self.plugin_id)]), "NEWEST", first, after)


@strawberry.type(description="A user. Emails of others are shown only where their jobs are.")
class User:
    email: str
    privileges: list[Privilege]
    created_at: datetime

    @classmethod
    def of(cls, row: models.User) -> User:
        return cls(email=row.email, privileges=[Privilege(p) for p in row.privileges or []], created_at=row.created_at)


@strawberry.type(description="A log line of a job. status: 1 info, 2 warning, 3 error.")
class Message:
    status: int
    text: str
    tool_id: int
    created_at: datetime

    @classmethod
    def of(cls, row: models.Message) -> Message:
        return cls(status=row.status, text=row.text, tool_id=row.tool_id, created_at=row.created_at)


@strawberry.type(description="A file a plugin wrote.")
class Output:
    id: strawberry.ID
    file_name: str
    size: int
    content_type: str
    available_formats: list[str]
    url: str = strawberry.field(description="Where to download it (with the same token).")

    @classmethod
    def of(cls, row: models.Output, job_id: str) -> Output:
        return cls(
            id=strawberry.ID(row.id),
            file_name=row.file_name,
            size=row.size,
            content_type=row.content_type,
            available_formats=list(row.available_formats or []),
            url=f"/webapi/v3/jobs/{job_id}/output/{row.id}",
        )


@strawberry.type(description="A user's feedback on a job's result.")
class Feedback:
    feedback_id: strawberry.ID
    is_consensual: bool
    data: JSON | None
    action_log: JSON
    created_at: datetime
    user_id: strawberry.Private[int]
    job_number: strawberry.Private[int]
    prefetched_user: strawberry.Private[tuple[models.User | None] | None] = None

    @classmethod
    def of(cls, row: models.Feedback, user: tuple[models.User | None] | None = None) -> Feedback:
        return cls(
            prefetched_user=user,
            feedback_id=strawberry.ID(row.id),
            is_consensual=row.is_consensual,
            data=row.data,
            action_log=cast(JSON, row.action_log or []),
            created_at=row.created_at,
            user_id=row.user_id,
            job_number=row.job_number,
        )

    @strawberry.field
    def user(self, info: strawberry.Info) -> User | None:
        if self.prefetched_user is not None:
            return User.of(self.prefetched_user[0]) if self.prefetched_user[0] else None
        return _later(_ctx(info).loaders.user.load(self.user_id), lambda r: User.of(r) if r else None)

    @strawberry.field
    async def job(self, info: strawberry.Info) -> Job | None:
        ctx = _ctx(info)
        row = await ctx.run_viewing(jobs.get_job_by_number, self.job_number)
        return Job.of(row) if row else None


@strawberry.type(description="A worker process.")
class Worker:
    id: int
    host: str
    pid: int
    queues: list[str]
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None
    alive: bool
    jobs_running: int

    @classmethod
    def of(cls, row: models.Worker, alive: bool, jobs_running: int) -> Worker:
        assert row.id is not None
        return cls(
            id=row.id,
            host=row.host,
            pid=row.pid,
            queues=list(row.queues or []),
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            stopped_at=row.stopped_at,
            alive=alive,
            jobs_running=jobs_running,
        )


@strawberry.type(description="A job: one run of a plugin over an input and series.")
class Job:
    job_id: strawberry.ID
    number: int = strawberry.field(description="Sequential id (Minion's and PluginResultJob's id).")
    status: JobStatus
    priority: int
    queue: str
    input: JSON | None
    attempts: int
    retries: int
    retried: datetime | None = strawberry.field(description="When it was last retried.")
    run_at: datetime | None
    expires: datetime | None
    lax: bool
    notes: JSON
    result: JSON | None
    error_message: str | None
    worker: int | None = strawberry.field(description="Id of the worker that ran the latest attempt.")
    run_level: str
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    plugin_id: strawberry.ID
    row: strawberry.Private[models.Job]
    nested: strawberry.Private[Nested | None] = None  # prefetched with its page, when asked for

    @classmethod
    def of(cls, row: models.Job, nested: Nested | None = None) -> Job:
        return cls(
            nested=nested,
            job_id=strawberry.ID(row.job_id),
            number=row.number or 0,
            status=JobStatus(row.status),
            priority=row.priority,
            queue=row.queue,
            input=row.input,
            attempts=row.attempts,
            retries=row.retries,
            retried=row.retried_at,
            run_at=row.run_at,
            expires=row.expires,
            lax=row.lax,
            notes=cast(JSON, row.notes or {}),
            result=row.result,
            error_message=row.error_message,
            worker=row.worker_id,
            run_level=row.run_level,
            cancel_requested=row.cancel_requested,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            plugin_id=strawberry.ID(row.plugin_id),
            row=row,
        )

    @strawberry.field(description="notes.progress, 0..1, when the plugin reports it.")
    def progress(self) -> float | None:
        notes: Any = self.notes
        value = notes.get("progress") if isinstance(notes, dict) else None
        return float(value) if isinstance(value, int | float) else None

    @strawberry.field
    def plugin(self, info: strawberry.Info) -> Plugin | None:
        if self.nested is not None:
            return Plugin.of(self.nested.plugin) if self.nested.plugin else None
        return _later(_ctx(info).loaders.plugin.load(self.row.plugin_id), lambda r: Plugin.of(r) if r else None)

    @strawberry.field(description="Who created the job.")
    def user(self, info: strawberry.Info) -> User | None:
        if self.nested is not None:
            return User.of(self.nested.user) if self.nested.user else None
        return _later(_ctx(info).loaders.user.load(self.row.user_id), lambda r: User.of(r) if r else None)

    @strawberry.field
    def series(self, info: strawberry.Info) -> list[JobSeries]:
        if self.nested is not None:
            return [JobSeries.of(r, (series,)) for r, series in self.nested.series]
        return _later(_ctx(info).loaders.job_series.load(self.number), lambda rows: [JobSeries.of(r) for r in rows])

    @strawberry.field
    def feedbacks(self, info: strawberry.Info) -> list[Feedback]:
        if self.nested is not None:
            return [Feedback.of(f, (user,)) for f, user in self.nested.feedback]
        return _later(_ctx(info).loaders.feedback.load(self.number), lambda rows: [Feedback.of(r) for r in rows])

    @strawberry.field
    def messages(self, info: strawberry.Info) -> list[Message]:
        if self.nested is not None:
            return [Message.of(r) for r in self.nested.messages]
        return _later(_ctx(info).loaders.messages.load(self.number), lambda rows: [Message.of(r) for r in rows])

    @strawberry.field
    def outputs(self, info: strawberry.Info) -> list[Output]:
        job_id = str(self.job_id)
        if self.nested is not None:
            return [Output.of(r, job_id) for r in self.nested.outputs]
        return _later(_ctx(info).loaders.outputs.load(self.number), lambda rows: [Output.of(r, job_id) for r in rows])

    @strawberry.field(description="Jobs this one waits for.")
    def parents(self, info: strawberry.Info) -> list[Job]:
        if self.nested is not None:
            return [Job.of(r) for r in self.nested.parents]
        return cast(list[Job], _visible_jobs(_ctx(info), _ctx(info).loaders.parents, self.number))

    @strawberry.field(description="Jobs that wait for this one.")
    def children(self, info: strawberry.Info) -> list[Job]:
        if self.nested is not None:
            return [Job.of(r) for r in self.nested.children]
        return cast(list[Job], _visible_jobs(_ctx(info), _ctx(info).loaders.children, self.number))

    @strawberry.field(description="The worker that ran the latest attempt.")
    def run_by(self, info: strawberry.Info) -> Worker | None:
        if self.worker is None:
            return None
        if self.nested is not None:
            return _worker_of(self.nested.worker)
        return _later(_ctx(info).loaders.worker.load(self.worker), _worker_of)

    @strawberry.field(description="The job this one runs again (rerunJob), if you may see it.")
    async def rerun_of(self, info: strawberry.Info) -> Job | None:
        if self.row.rerun_of is None:
            return None
        ctx = _ctx(info)
        found = await ctx.loaders.job.load(self.row.rerun_of)
        return Job.of(found) if policy.can_see_job(await ctx.viewer(), found) else None

    @strawberry.field(description="The jobs that run this one again (rerunJob) that you may see, oldest first.")
    def reruns(self, info: strawberry.Info) -> list[Job]:
        return cast(list[Job], _visible_jobs(_ctx(info), _ctx(info).loaders.reruns, self.number))


def _worker_of(state: WorkerState | None) -> Worker | None:
    return Worker.of(state.worker, state.alive, state.jobs_running) if state else None


async def _visible_jobs(ctx: Context, loader: DataLoader[int, list[models.Job]], number: int) -> list[Job]:
    viewer = await ctx.viewer()
    return [Job.of(r) for r in await loader.load(number) if policy.can_see_job(viewer, r)]


@strawberry.type
class JobEdge:
    cursor: str
    node: Job


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="A page of jobs.")
class JobConnection:
    edges: list[JobEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(
        description=(
            "How many jobs match, on all pages; counted only when selected. Exact up to the server's "
            "exact count limit (JOBGRAPH_EXACT_COUNT_LIMIT, 10000); above it, on PostgreSQL, the "
            "planner's estimate (totalCountIsEstimate)."
        )
    )
    total_count_is_estimate: bool = strawberry.field(
        description="totalCount is PostgreSQL's estimate (above the exact count limit), not an exact count."
    )


@strawberry.type
class StatusCount:
    status: JobStatus
    count: int
    is_estimate: bool = strawberry.field(
        description="count is PostgreSQL's estimate (above the exact count limit), not an exact count."
    )


@strawberry.type
class QueueCount:
    queue: str
    queued: int
    running: int
    is_estimate: bool = strawberry.field(
        description="queued or running is PostgreSQL's estimate (above the exact count limit), not an exact count."
    )


@strawberry.type(description="The queue at a glance.")
class QueueStats:
    by_status: list[StatusCount]
    by_queue: list[QueueCount]
    workers: list[Worker]
    total: int
    total_is_estimate: bool = strawberry.field(description="total includes an estimated count (see byStatus).")


@strawberry.type(description="An API token. The secret is shown only when it is created.")
class ApiToken:
    token_id: strawberry.ID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    parent_id: strawberry.ID | None = strawberry.field(
        description="For a derived token (an OAuth2 access token): the API token it was made from. "
        "It works only while that token does, and cannot make tokens."
    )
    derived: bool = strawberry.field(description="Made from another token (an OAuth2 access token).")

    @classmethod
    def of(cls, row: models.ApiToken) -> ApiToken:
        return cls(
            token_id=strawberry.ID(row.id),
            name=row.name,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            parent_id=strawberry.ID(row.parent_id) if row.parent_id else None,
            derived=row.parent_id is not None,
        )


@strawberry.type(description="A user removed, and how many of their API and access tokens were deleted with them.")
class RemovedUser:
    email: str
    tokens_deleted: int


@strawberry.type(description="A new API token: `secret` is the token, shown only here.")
class NewApiToken:
    token: ApiToken
    secret: str


@strawberry.type(description="Something happened to a job.")
class JobEvent:
    kind: str = strawberry.field(description="created | updated | message | progress | deleted")
    job_id: strawberry.ID
    number: int
    status: JobStatus
    job: Job | None = strawberry.field(description="The job now (null once deleted).")
