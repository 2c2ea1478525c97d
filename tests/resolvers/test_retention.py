"""Retention: ended jobs older than the age go with their rows and files, in batches; nothing
younger, nothing still queued or running; off unless an age is set."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from jobgraph.clock import utcnow
from jobgraph.db.models import ApiToken, Feedback, Job, Message, Output
from jobgraph.events import JobEvent
from jobgraph.resolvers import claiming, completion, jobs, liveness, retention, users
from jobgraph.resolvers.completion import Finished
from jobgraph.resolvers.jobs import JobSpec
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from tests.support import unit_call


def _ended(rt: Runtime, admin: Viewer, count: int) -> list[Job]:
    made = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop") for _ in range(count)])
    worker = unit_call(rt, liveness.register_worker, None)
    attempts = unit_call(rt, claiming.claim, worker, "default", count)
    for attempt in attempts:
        folder = rt.settings.outputs_dir / attempt.job.job_id
        folder.mkdir(parents=True)
        (folder / "a.txt").write_text("a")
    outputs = {a.number: [Output(job_number=a.number, file_name="a.txt", size=1, path="a.txt")] for a in attempts}
    assert unit_call(rt, completion.finish_many, [Finished(a, "done", outputs[a.number]) for a in attempts]) == []
    return made


def _age(rt: Runtime, numbers: list[int], days: float) -> None:
    then = utcnow() - timedelta(days=days)
    with rt.db.session(write=True) as s:
        s.execute(update(Job).where(Job.number.in_(numbers)).values(created_at=then, finished_at=then))  # type: ignore[union-attr]


def _count(rt: Runtime, model: type) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_old_ended_jobs_go_with_their_rows_and_files(rt: Runtime, admin: Viewer) -> None:
    old, young = _ended(rt, admin, 3), _ended(rt, admin, 2)
    queued = unit_call(rt, jobs.create_jobs, admin, [JobSpec("jobgraph.noop")])
    _age(rt, [j.number or 0 for j in old + queued], days=10)  # an old job still queued stays
    with rt.db.session(write=True) as s:
        s.add(Feedback(job_number=old[0].number or 0, user_id=admin.user_id, data={"ok": True}))
        s.add(Message(job_number=old[0].number or 0, text="hello"))
    seen: list[JobEvent] = []
    stop_listening = rt.events.add_listener(seen.append)
    try:
        assert unit_call(rt, retention.prune_jobs, timedelta(days=7)) == 3
    finally:
        stop_listening()
    deleted = {e.job_id for e in seen if e.kind == "deleted"}
    assert deleted == {j.job_id for j in old}
    with rt.db.session() as s:
        left = set(s.scalars(select(Job.job_id)))
    assert left == {j.job_id for j in young + queued}
    assert _count(rt, Feedback) == 0
    with rt.db.session() as s:
        assert not list(s.scalars(select(Message).where(Message.job_number.in_([j.number for j in old]))))  # type: ignore[attr-defined]
        assert {o.job_number for o in s.scalars(select(Output))} == {j.number for j in young}
    for job in old:
        assert not (rt.settings.outputs_dir / job.job_id).exists()
    for job in young:
        assert (rt.settings.outputs_dir / job.job_id / "a.txt").exists()


def test_pruning_goes_in_batches(rt: Runtime, admin: Viewer) -> None:
    old = _ended(rt, admin, 5)
    _age(rt, [j.number or 0 for j in old], days=10)
    assert unit_call(rt, retention.prune_jobs, timedelta(days=7), batch=2) == 2
    assert unit_call(rt, retention.prune_jobs, timedelta(days=7), batch=2) == 2
    assert unit_call(rt, retention.prune_jobs, timedelta(days=7), batch=2) == 1
    assert unit_call(rt, retention.prune_jobs, timedelta(days=7), batch=2) == 0


def test_without_an_age_no_job_is_removed(rt: Runtime, admin: Viewer) -> None:
    old = _ended(rt, admin, 2)
    _age(rt, [j.number or 0 for j in old], days=1000)
    assert rt.settings.retain_jobs_days is None
    retention.prune(rt)
    assert _count(rt, Job) == 2
    rt.settings.retain_jobs_days = 30
    assert retention.prune(rt) == 2
    assert _count(rt, Job) == 0


def test_expired_access_tokens_go_and_nothing_else(rt: Runtime, admin: Viewer) -> None:
    api = unit_call(rt, users.create_api_token, None, admin.email, "for the exchange")
    client_id, _, client_secret = api.secret.partition(".")
    expired = unit_call(rt, users.exchange_client_credentials, client_id, client_secret, timedelta(seconds=60))
    live = unit_call(rt, users.exchange_client_credentials, client_id, client_secret, timedelta(seconds=3600))
    lapsed_api = unit_call(rt, users.create_api_token, None, admin.email, "expired API token", expires_in=timedelta(seconds=1))
    with rt.db.session(write=True) as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id.in_([expired.token.id, lapsed_api.token.id]))  # type: ignore[attr-defined]
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    assert unit_call(rt, retention.prune_expired_tokens) == 1
    with rt.db.session() as s:
        left = set(s.scalars(select(ApiToken.id)))
    assert expired.token.id not in left
    assert {api.token.id, live.token.id, lapsed_api.token.id} <= left  # an API token stays: the user sees it expired
