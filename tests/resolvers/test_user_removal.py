"""Removing a user: their API tokens and the access tokens made from them go with them; what
they paused stays paused (by nobody); the last user who may manage the server stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from jobgraph.db.models import Job
from jobgraph.errors import Conflict, NotFound, Unauthenticated
from jobgraph.resolvers import feedback, jobs, queues, users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from tests.support import ADMIN_EMAIL, unit_call

ANN = "ann@example.com"


def test_removing_a_user_deletes_every_token_they_had(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, users.create_user, None, ANN, ["manageServer"])
    laptop = unit_call(rt, users.create_api_token, None, ANN, "laptop")
    unit_call(rt, users.create_api_token, None, ANN, "ci")
    client_id, client_secret = laptop.secret.split(".", 1)
    access = unit_call(rt, users.exchange_client_credentials, client_id, client_secret, timedelta(hours=1))
    ann = unit_call(rt, users.authenticate, laptop.secret)
    unit_call(rt, queues.pause_queue, ann, "gpu")
    removed = unit_call(rt, users.remove_user, None, ANN)
    assert (removed.email, removed.tokens_deleted) == (ANN, 3)
    for secret in (laptop.secret, access.secret):
        with pytest.raises(Unauthenticated):
            unit_call(rt, users.authenticate, secret)
    assert [t.user_email for t in unit_call(rt, users.list_api_tokens, None)] == [ADMIN_EMAIL]
    [gpu] = [q for q in unit_call(rt, queues.list_queues, admin) if q.name == "gpu"]
    assert gpu.paused and gpu.paused_by is None
    with pytest.raises(NotFound):
        unit_call(rt, users.remove_user, None, ANN)


def test_a_user_who_gave_feedback_is_kept(rt: Runtime, admin: Viewer) -> None:
    unit_call(rt, users.create_user, None, ANN, ["inputPersonalFeedback", "manageJobs"])
    job = unit_call(rt, jobs.create_job, admin, jobs.JobSpec(plugin_id="jobgraph.noop"))
    with rt.db.session(write=True) as s:  # finished, as a worker would record it
        s.execute(update(Job).where(Job.number == job.number).values(status="finished"))  # type: ignore[arg-type]
    ann = unit_call(rt, users.viewer_for_email, ANN)
    unit_call(rt, feedback.add_feedback, ann, job.job_id, feedback.FeedbackSpec(data={}))
    with pytest.raises(Conflict, match="owns 0 jobs and gave 1 feedback"):
        unit_call(rt, users.remove_user, None, ANN)


def test_the_last_manager_is_kept(rt: Runtime) -> None:
    with pytest.raises(Conflict, match="the last user with manageServer"):
        unit_call(rt, users.remove_user, None, ADMIN_EMAIL)
    unit_call(rt, users.create_user, None, ANN, ["manageServer"])
    assert unit_call(rt, users.remove_user, None, ADMIN_EMAIL).email == ADMIN_EMAIL
