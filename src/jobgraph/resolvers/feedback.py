"""Feedback on results, by CIRCUS's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobgraph.db.models import Feedback, Job, Plugin
from jobgraph.errors import BadInput, Conflict, NotFound
from jobgraph.events import event_for
from jobgraph.ids import is_public_id
from jobgraph.resolvers import policy
from jobgraph.resolvers.jobs import _load_for_change
from jobgraph.resolvers.validation import check_json_value, validate_against
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit


@dataclass
class FeedbackSpec:
    is_consensual: bool = False
    data: Any = None
    action_log: list[Any] = field(default_factory=list)


def add_feedback(u: Unit, viewer: Viewer, job_ref: str | int, spec: FeedbackSpec) -> Feedback:
    """One personal feedback per user per job; one consensual per job, after which no personal."""
    policy.require_give_feedback(viewer, spec.is_consensual)
    if not isinstance(spec.action_log, list):
        raise BadInput("actionLog must be a JSON array")
    check_json_value(spec.data, "feedback data")
    check_json_value(spec.action_log, "actionLog")
    try:
        s = u.session
        job = _load_for_change(s, viewer, job_ref)  # locks the job: feedback checks are serial
        if job.status != "finished":
            raise Conflict(
                f"feedback is taken only on finished jobs; job {job.job_id} is {job.status}", status=job.status
            )
        plugin = s.get(Plugin, job.plugin_id)
        validate_against(plugin.feedback_schema if plugin else None, spec.data, "feedback data")
        existing = list(s.scalars(select(Feedback).where(Feedback.job_number == job.number)))
        if any(f.is_consensual for f in existing):
            raise Conflict(f"job {job.job_id} has consensual feedback already; no more feedback is taken")
        if not spec.is_consensual and any(f.user_id == viewer.user_id for f in existing):
            raise Conflict(f"you gave personal feedback on job {job.job_id} already")
        assert job.number is not None
        feedback = Feedback(
            job_number=job.number,
            user_id=viewer.user_id,
            is_consensual=spec.is_consensual,
            data=spec.data,
            action_log=spec.action_log,
        )
        s.add(feedback)
        s.flush()
    except IntegrityError:
        raise Conflict("that feedback was given already") from None
    u.publish(event_for("updated", job))
    return feedback


def delete_feedback(u: Unit, viewer: Viewer, feedback_id: str) -> bool:
    policy.require_manage_feedback(viewer)
    if not is_public_id(feedback_id):
        raise NotFound(f"no feedback {feedback_id}")
    s = u.session
    feedback = s.get(Feedback, feedback_id)
    if feedback is None:
        raise NotFound(f"no feedback {feedback_id}")
    job = s.get(Job, feedback.job_number)
    s.delete(feedback)
    if job is not None:
        u.publish(event_for("updated", job))
    return True


def remove_job_feedback(u: Unit, viewer: Viewer, job_ref: str | int, feedback_id: str | None) -> int:
    """CIRCUS's `DELETE .../feedback/{feedbackId}`: one feedback of this job (NotFound when the job
    has none of that id), or, with None (CIRCUS's `all`), all of it. A personal feedback is not
    removed while the job has a consensual one. Returns how many were removed."""
    policy.require_manage_feedback(viewer)
    s = u.session
    job = _load_for_change(s, viewer, job_ref)
    existing = list(s.scalars(select(Feedback).where(Feedback.job_number == job.number)))
    if feedback_id is None:
        doomed = existing
    else:
        doomed = [f for f in existing if f.id == feedback_id]
        if not doomed:
            raise NotFound(f"job {job.job_id} has no feedback {feedback_id}")
        if not doomed[0].is_consensual and any(f.is_consensual for f in existing):
            raise Conflict(f"job {job.job_id} has consensual feedback: its personal feedback cannot be deleted")
    for row in doomed:
        s.delete(row)
    if doomed:
        u.publish(event_for("updated", job))
    return len(doomed)
