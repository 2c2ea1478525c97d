"""Who may do what: the one place that answers "may this viewer see / change / run this".

Every use case asks here before it reads what it would show or writes anything, and a view
that must choose its answer before calling a use case asks here too, never its own test.
Built on `Viewer.can` and the privileges of `resolvers/viewer.py`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from jobgraph.errors import Forbidden, NotFound
from jobgraph.resolvers.viewer import Privilege, Viewer


class Owned(Protocol):
    @property
    def user_id(self) -> int: ...


J = TypeVar("J", bound=Owned)


# ---------------------------------------------------------------- jobs


def sees_all_jobs(viewer: Viewer) -> bool:
    """Whether the viewer sees every user's jobs (manageJobs), not only their own."""
    return viewer.can(Privilege.MANAGE_JOBS)


def can_see_owner(viewer: Viewer, owner_id: int) -> bool:
    return owner_id == viewer.user_id or sees_all_jobs(viewer)


def can_see_job(viewer: Viewer, job: Owned | None) -> bool:
    return job is not None and can_see_owner(viewer, job.user_id)


def visible(viewer: Viewer, job: J | None) -> J | None:
    """The job if the viewer may see it; None otherwise: another user's job is answered exactly
    as a missing one."""
    return job if job is not None and can_see_job(viewer, job) else None


def require_visible(viewer: Viewer, job: J | None, job_ref: object) -> J:
    if job is None or not can_see_job(viewer, job):
        raise NotFound(f"no job {job_ref}")
    return job


def can_change_job(viewer: Viewer, job: Owned) -> bool:
    """Cancel, retry, update, delete: the owner, or a user with manageJobs."""
    return job.user_id == viewer.user_id or viewer.can(Privilege.MANAGE_JOBS)


def require_change_job(viewer: Viewer, job: Owned, action: str) -> None:
    if not can_change_job(viewer, job):
        raise Forbidden(f"only the job's owner or a user with manageJobs may {action} it")


def require_invalidate_job(viewer: Viewer) -> None:
    """Invalidating a job is for users with manageJobs, whoever owns it."""
    viewer.require(Privilege.MANAGE_JOBS)


def require_manage_jobs(viewer: Viewer) -> None:
    viewer.require(Privilege.MANAGE_JOBS)


def bulk_owner(viewer: Viewer) -> int | None:
    """Bulk actions by filter apply the single-job rules (can_change_job) to every job: they
    reach only the viewer's own jobs (this owner id), or every job with manageJobs (None)."""
    return None if viewer.can(Privilege.MANAGE_JOBS) else viewer.user_id


def require_rerun_job(viewer: Viewer, job: J | None, job_ref: object) -> J:
    """Running a job again: any user who may see it and may run plugins (the new job is theirs)."""
    seen = require_visible(viewer, job, job_ref)
    viewer.require(Privilege.EXECUTE_PLUGIN)
    return seen


# ---------------------------------------------------------------- plugins, series


def can_run_plugins(viewer: Viewer) -> bool:
    return viewer.can(Privilege.EXECUTE_PLUGIN)


def require_run_plugins(viewer: Viewer) -> None:
    viewer.require(Privilege.EXECUTE_PLUGIN)


# ---------------------------------------------------------------- feedback


def can_give_feedback(viewer: Viewer, consensual: bool) -> bool:
    wanted = Privilege.INPUT_CONSENSUAL_FEEDBACK if consensual else Privilege.INPUT_PERSONAL_FEEDBACK
    return viewer.can(wanted)


def require_give_feedback(viewer: Viewer, consensual: bool) -> None:
    viewer.require(Privilege.INPUT_CONSENSUAL_FEEDBACK if consensual else Privilege.INPUT_PERSONAL_FEEDBACK)


def can_remove_feedback(viewer: Viewer, given_by: int) -> bool:
    return given_by == viewer.user_id or viewer.can(Privilege.MANAGE_FEEDBACK)


# ---------------------------------------------------------------- the server, users, tokens


def can_manage_server(viewer: Viewer | None) -> bool:
    """None is the operator at the command line, who may do anything."""
    return viewer is None or viewer.can(Privilege.MANAGE_SERVER)


def require_manage_server(viewer: Viewer | None) -> None:
    """Users, tokens of others, plugins, series, workers, the server's state. None (the
    operator at the command line) may."""
    if viewer is not None:
        viewer.require(Privilege.MANAGE_SERVER)


def require_control_queues(viewer: Viewer | None) -> None:
    """Pausing and resuming queues, and listing them: manageServer (the operator may)."""
    require_manage_server(viewer)


def require_read_audit_log(viewer: Viewer | None) -> None:
    """Who did what to how many jobs: manageServer."""
    require_manage_server(viewer)


def require_register_series(viewer: Viewer | None) -> None:
    """Those who run plugins register the series they run them on; else manageServer."""
    if viewer is not None and not viewer.can(Privilege.EXECUTE_PLUGIN):
        require_manage_server(viewer)


def require_manage_feedback(viewer: Viewer) -> None:
    viewer.require(Privilege.MANAGE_FEEDBACK)
