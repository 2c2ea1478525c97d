"""Mutations: each one a call of one use case."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.scalars import JSON

from jobgraph.resolvers import bulk, feedback, jobs, plugins, queues, rerun, series, users
from jobgraph.schema.control import BulkAction, BulkResult, QueueState
from jobgraph.schema.inputs import CreateJobInput, FeedbackInput, JobFilter, PluginInput, SeriesInput
from jobgraph.schema.types import (
    ApiToken,
    Feedback,
    Job,
    NewApiToken,
    Plugin,
    Privilege,
    RemovedUser,
    Series,
    User,
)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Register a plugin, or update it (manageServer). A python plugin's entrypoint must import "
        "in the server's environment (else BAD_USER_INPUT, reason ENTRYPOINT_NOT_IMPORTABLE)."
    )
    async def register_plugin(self, info: strawberry.Info, input: PluginInput) -> Plugin:
        ctx = info.context
        return Plugin.of(await ctx.write(plugins.register_plugin, input.to_spec()))

    @strawberry.mutation(description="Enable or disable a plugin (manageServer).")
    async def set_plugin_enabled(self, info: strawberry.Info, plugin_id: strawberry.ID, enabled: bool) -> Plugin:
        ctx = info.context
        return Plugin.of(await ctx.write(plugins.set_plugin_enabled, str(plugin_id), enabled))

    @strawberry.mutation(
        description="Remove a plugin that has no jobs (manageServer); one with jobs is refused (CONFLICT, "
        "reason PLUGIN_HAS_JOBS): disable it instead."
    )
    async def remove_plugin(self, info: strawberry.Info, plugin_id: strawberry.ID) -> bool:
        ctx = info.context
        await ctx.write(plugins.remove_plugin, str(plugin_id))
        return True

    @strawberry.mutation(description="Register an imaging series (executePlugin).")
    async def register_series(self, info: strawberry.Info, input: SeriesInput) -> Series:
        ctx = info.context
        return Series.of(await ctx.write(series.register_series, input.to_spec()))

    @strawberry.mutation(description="Queue a job (executePlugin).")
    async def create_job(self, info: strawberry.Info, input: CreateJobInput) -> Job:
        ctx = info.context
        return Job.of(await ctx.write(jobs.create_job, input.to_spec()))

    @strawberry.mutation(description="Queue many jobs, all or nothing.")
    async def create_jobs(self, info: strawberry.Info, inputs: list[CreateJobInput]) -> list[Job]:
        ctx = info.context
        created = await ctx.write(jobs.create_jobs, [i.to_spec() for i in inputs])
        return [Job.of(j) for j in created]

    @strawberry.mutation(description="Cancel: a queued job at once; a running one once its plugin stopped.")
    async def cancel_job(self, info: strawberry.Info, job_id: strawberry.ID) -> Job:
        ctx = info.context
        return Job.of(await ctx.write(jobs.cancel_job, str(job_id)))

    @strawberry.mutation(description="Queue a failed job again.")
    async def retry_job(self, info: strawberry.Info, job_id: strawberry.ID) -> Job:
        ctx = info.context
        return Job.of(await ctx.write(jobs.retry_job, str(job_id)))

    @strawberry.mutation(description="Mark a finished job's result invalid (manageJobs).")
    async def invalidate_job(self, info: strawberry.Info, job_id: strawberry.ID) -> Job:
        ctx = info.context
        return Job.of(await ctx.write(jobs.invalidate_job, str(job_id)))

    @strawberry.mutation(description="Delete a job that has ended, with its outputs.")
    async def delete_job(self, info: strawberry.Info, job_id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.write(jobs.delete_job, str(job_id))

    @strawberry.mutation(description="Change the priority of a queued job; merge notes (null removes a key).")
    async def update_job(
        self, info: strawberry.Info, job_id: strawberry.ID, priority: int | None = None, notes: JSON | None = None
    ) -> Job:
        ctx = info.context
        return Job.of(
            await ctx.write(jobs.update_job, str(job_id), priority=priority, notes=notes)
        )

    @strawberry.mutation(
        description="Queue a new job with the same plugin, input, series, queue and priority as this one, "
        "linked to it (rerunOf); it is yours. Any job you may see (executePlugin)."
    )
    async def rerun_job(self, info: strawberry.Info, job_id: strawberry.ID) -> Job:
        ctx = info.context
        return Job.of(await ctx.write(rerun.rerun_job, str(job_id)))

    @strawberry.mutation(
        description="Retry, cancel, delete or set the priority of the jobs the filter selects among those you "
        "may change, each as its single-job mutation would; recorded in the audit log. Above the cap "
        "(bulkPreview.cap) it is refused unless `limit` asks for the first N, oldest first."
    )
    async def bulk_action(
        self,
        info: strawberry.Info,
        action: BulkAction,
        filter: JobFilter,
        priority: int | None = None,
        limit: int | None = None,
    ) -> BulkResult:
        ctx = info.context
        result = await ctx.write(bulk.apply, action.value, filter.to_filter(), priority=priority, limit=limit)
        return BulkResult.of(result)

    @strawberry.mutation(description="Stop workers claiming jobs of a queue; running jobs go on (manageServer).")
    async def pause_queue(self, info: strawberry.Info, queue: str) -> QueueState:
        ctx = info.context
        return QueueState.of(await ctx.write(queues.pause_queue, queue))

    @strawberry.mutation(description="Let workers claim jobs of a paused queue again (manageServer).")
    async def resume_queue(self, info: strawberry.Info, queue: str) -> QueueState:
        ctx = info.context
        return QueueState.of(await ctx.write(queues.resume_queue, queue))

    @strawberry.mutation(description="Give feedback on a finished job's result.")
    async def add_feedback(self, info: strawberry.Info, job_id: strawberry.ID, input: FeedbackInput) -> Feedback:
        ctx = info.context
        return Feedback.of(await ctx.write(feedback.add_feedback, str(job_id), input.to_spec()))

    @strawberry.mutation(description="Delete feedback (manageFeedback).")
    async def delete_feedback(self, info: strawberry.Info, feedback_id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.write(feedback.delete_feedback, str(feedback_id))

    @strawberry.mutation(description="Create a user (manageServer).")
    async def create_user(self, info: strawberry.Info, email: str, privileges: list[Privilege]) -> User:
        ctx = info.context
        values = [p.value for p in privileges]
        return User.of(await ctx.write(users.create_user, email, values))

    @strawberry.mutation(description="Replace a user's privileges (manageServer).")
    async def set_privileges(self, info: strawberry.Info, email: str, privileges: list[Privilege]) -> User:
        ctx = info.context
        values = [p.value for p in privileges]
        return User.of(await ctx.write(users.set_privileges, email, values))

    @strawberry.mutation(
        description="Remove a user and delete their tokens (manageServer). Refused (CONFLICT) for a user who owns "
        "jobs or gave feedback (delete the jobs first, or remove their privileges and revoke their tokens), for "
        "yourself, and for the last user with manageServer."
    )
    async def remove_user(self, info: strawberry.Info, email: str) -> RemovedUser:
        ctx = info.context
        removed = await ctx.write(users.remove_user, email)
        return RemovedUser(email=removed.email, tokens_deleted=removed.tokens_deleted)

    @strawberry.mutation(
        description="A new API token for you (or, with manageServer, for `email`). Needs an API token: "
        "a derived (OAuth2 access) token cannot make tokens."
    )
    async def create_api_token(
        self,
        info: strawberry.Info,
        email: str | None = None,
        name: str | None = None,
        expires_in_days: int | None = None,
    ) -> NewApiToken:
        ctx = info.context
        expires = None
        if expires_in_days is not None:
            from jobgraph.errors import BadInput

            if not 1 <= expires_in_days <= 3650:
                raise BadInput("expiresInDays must be 1 to 3650")
            expires = timedelta(days=expires_in_days)
        new = await ctx.write(users.create_api_token, email, name or "", expires)
        return NewApiToken(token=ApiToken.of(new.token), secret=new.secret)

    @strawberry.mutation(
        description="Revoke an API token of yours (any, with manageServer); the access tokens made from it die too."
    )
    async def revoke_api_token(self, info: strawberry.Info, token_id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.write(users.revoke_api_token, str(token_id))
