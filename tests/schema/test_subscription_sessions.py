"""Subscriptions stay safe for their whole life (a revoked or expired token ends them, a lost
privilege applies at once) and stay cheap (limits; one job read per event for all subscribers)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobgraph.db.models import Job
from jobgraph.events import event_for
from jobgraph.resolvers import users
from tests.support import ADMIN_TOKEN, Api, api_statements, make_settings, unit_call

JOB_UPDATED = "subscription($id: ID!) { jobUpdated(jobId: $id) { jobId status priority } }"
JOB_EVENTS = "subscription { jobEvents { kind jobId job { jobId status } } }"
LATER = "2999-01-01T00:00:00Z"  # jobs that stay queued: no worker touches them


_open: list[Any] = []  # the test's app and sockets, closed (sockets first) after it, pass or fail


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Start the app with these settings (on SQLite, embedded workers running)."""
    with ExitStack() as stack:

        def starting(**overrides: Any) -> Api:
            settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}", **overrides)
            return stack.enter_context(Api.start(settings))

        _open.clear()
        try:
            yield starting
        finally:
            for ws in reversed(_open):
                with suppress(Exception):
                    ws.__exit__(None, None, None)
            _open.clear()


def connect(api: Api, token: str = ADMIN_TOKEN) -> Any:
    ws = api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
    ws.__enter__()
    _open.append(ws)
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    assert ws.receive_json()["type"] == "connection_ack"
    return ws


def subscribe(ws: Any, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
    ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})


def wait_open(api: Api, count: int, timeout: float = 30.0) -> None:
    """Until the hub holds `count` subscriptions: a subscribe message has no reply, and an event
    published before its subscription is registered is not for it."""
    from jobgraph.schema.live import Hub

    hub = Hub.of(api.client.app.state, api.rt)  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while hub.open_count < count:
        assert time.monotonic() < deadline, f"{hub.open_count} subscriptions open, not {count}"
        time.sleep(0.01)


def errors_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message["type"] == "error":
        return message["payload"]  # type: ignore[no-any-return]
    return (message.get("payload") or {}).get("errors") or []  # type: ignore[no-any-return]


def ending(ws: Any, op_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Read until each of these operations has ended; each one's last error (skipping data)."""
    errors: dict[str, dict[str, Any]] = {}
    open_ids = set(op_ids)
    while open_ids:
        message = ws.receive_json()
        op_id = message.get("id")
        if op_id not in op_ids:
            continue
        if errors_of(message):
            errors[op_id] = errors_of(message)[0]
        if message["type"] in ("complete", "error"):
            open_ids.discard(op_id)
    return errors


def job_row(api: Api, number: int) -> Job:
    with api.rt.db.session() as s:
        row = s.get(Job, number)
    assert row is not None
    return row


def publish(api: Api, number: int, kind: str = "updated") -> None:
    """The event a change to this job would publish (the job itself is left as it is)."""
    api.rt.events.publish(event_for(kind, job_row(api, number)))


def user_token(api: Api, email: str, privileges: list[str], **token: Any) -> tuple[str, str]:
    """A user and a token of theirs: (secret, token id)."""
    api.user(email, privileges)
    made = unit_call(api.rt, users.create_api_token, None, email, "test", **token)
    return made.secret, made.token.id


def follow_and_stream(api: Api, token: str, job: dict[str, Any]) -> Any:
    """A socket with both kinds of subscription, "follow" (jobUpdated of `job`) and "stream"
    (jobEvents), each shown live by an event it received."""
    ws = connect(api, token)
    subscribe(ws, "follow", JOB_UPDATED, {"id": job["jobId"]})
    assert ws.receive_json()["payload"]["data"]["jobUpdated"]["status"] == "queued"
    subscribe(ws, "stream", JOB_EVENTS)
    wait_open(api, 2)
    publish(api, job["number"])
    seen: set[str] = set()
    while seen != {"follow", "stream"}:
        seen.add(ws.receive_json()["id"])
    return ws


def test_a_revoked_token_ends_both_kinds_of_subscription_with_the_reason(start: Callable[..., Api]) -> None:
    api = start(session_recheck_seconds=0.3)
    secret, token_id = user_token(api, "alice@example.com", ["executePlugin"])
    job = api.create_job("jobgraph.noop", token=secret, runAt=LATER)
    ws = follow_and_stream(api, secret, job)

    api.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id})
    revoked = time.monotonic()
    errors = ending(ws, {"follow", "stream"})
    assert time.monotonic() - revoked < 0.3 + 2.0  # within the re-check interval (and some slack)
    for op_id in ("follow", "stream"):
        assert errors[op_id]["extensions"]["code"] == "UNAUTHENTICATED"
        assert errors[op_id]["message"] == "the API token was revoked"
    # The socket stays; what is asked on it now is refused for the same reason.
    subscribe(ws, "again", JOB_EVENTS)
    assert ending(ws, {"again"})["again"]["message"] == "the API token was revoked"


def test_an_expiring_token_ends_its_subscriptions_at_its_expiry(start: Callable[..., Api]) -> None:
    api = start(session_recheck_seconds=300)  # only the expiry itself can end them in time
    api.user("bob@example.com", ["executePlugin"])
    made = unit_call(api.rt, users.create_api_token, None, "bob@example.com", "short", expires_in=timedelta(seconds=3))
    secret, expires_at = made.secret, made.token.expires_at
    assert expires_at is not None
    job = api.create_job("jobgraph.noop", token=secret, runAt=LATER)
    ws = follow_and_stream(api, secret, job)
    errors = ending(ws, {"follow", "stream"})
    late = (datetime.now(UTC) - expires_at).total_seconds()  # not by the re-check: that is 300 s away
    assert -0.5 < late < 0.5, f"ended {late:+.2f} s from the expiry"
    for op_id in ("follow", "stream"):
        assert errors[op_id]["extensions"]["code"] == "UNAUTHENTICATED"
        assert errors[op_id]["message"] == "the API token has expired"


def test_a_manager_who_loses_manage_jobs_stops_receiving_other_users_jobs(start: Callable[..., Api]) -> None:
    recheck = 0.3
    api = start(session_recheck_seconds=recheck)
    manager, _ = user_token(api, "manager@example.com", ["manageJobs", "executePlugin"])
    others = api.create_job("jobgraph.noop", {"secret": "input"}, runAt=LATER)  # the admin's
    own = api.create_job("jobgraph.noop", token=manager, runAt=LATER)
    ws = connect(api, manager)
    subscribe(ws, "follow", JOB_UPDATED, {"id": others["jobId"]})
    assert ws.receive_json()["payload"]["data"]["jobUpdated"]["jobId"] == others["jobId"]
    subscribe(ws, "stream", JOB_EVENTS)
    wait_open(api, 2)
    publish(api, others["number"])
    seen: set[str] = set()
    while seen != {"follow", "stream"}:  # a manager sees the admin's job
        seen.add(ws.receive_json()["id"])

    api.gql('mutation { setPrivileges(email: "manager@example.com", privileges: [executePlugin]) { email } }')
    changed = time.monotonic()
    follow_error: dict[str, Any] | None = None
    while True:  # rounds of (the admin's job, then their own), until the admin's is no longer sent
        publish(api, others["number"])
        publish(api, own["number"])
        streamed = []
        while not streamed or streamed[-1] != own["jobId"]:
            message = ws.receive_json()
            if message["id"] == "follow" and errors_of(message):
                follow_error = errors_of(message)[0]
            elif message["id"] == "stream":
                streamed.append(message["payload"]["data"]["jobEvents"]["jobId"])
        if others["jobId"] not in streamed:
            break
        assert time.monotonic() - changed < recheck + 2.0, "the lost privilege did not take effect"
    # From then on only their own jobs arrive, and following the admin's job has ended as "no job".
    publish(api, others["number"])
    publish(api, own["number"])
    message = ws.receive_json()
    while message["id"] == "follow":
        if errors_of(message):
            follow_error = errors_of(message)[0]
        message = ws.receive_json()
    assert message["payload"]["data"]["jobEvents"]["jobId"] == own["jobId"]
    if follow_error is None:
        follow_error = ending(ws, {"follow"})["follow"]
    assert follow_error["extensions"]["code"] == "NOT_FOUND"


def test_subscriptions_are_limited_per_connection_and_per_user(start: Callable[..., Api]) -> None:
    api = start(max_subscriptions_per_connection=3, max_subscriptions_per_user=4)
    job = api.create_job("jobgraph.noop", runAt=LATER)
    first = connect(api)
    for n in range(4):
        subscribe(first, f"a{n}", JOB_EVENTS)
    refused = first.receive_json()
    assert errors_of(refused)[0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert "connection" in errors_of(refused)[0]["message"]
    assert first.receive_json() == {"id": refused["id"], "type": "complete"}
    accepted = {f"a{n}" for n in range(4)} - {refused["id"]}

    second = connect(api)  # the same user: 3 open, 1 more allowed
    subscribe(second, "b0", JOB_EVENTS)
    subscribe(second, "b1", JOB_EVENTS)
    refused = second.receive_json()
    assert errors_of(refused)[0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert second.receive_json()["type"] == "complete"
    accepted_second = {"b0", "b1"} - {refused["id"]}

    other_user, _ = user_token(api, "carol@example.com", ["executePlugin"])
    third = connect(api, other_user)  # another user is not counted against the first
    subscribe(third, "c0", JOB_EVENTS)
    wait_open(api, 5)  # 3 on the first socket, 1 on the second, this one
    mine = api.create_job("jobgraph.noop", token=other_user, runAt=LATER)
    assert third.receive_json()["payload"]["data"]["jobEvents"]["jobId"] == mine["jobId"]

    # Nothing else broke: every accepted subscription receives the next event.
    publish(api, job["number"])
    assert {first.receive_json()["id"] for _ in accepted} == accepted
    assert {second.receive_json()["id"] for _ in accepted_second} == accepted_second

    # Completing one makes room again.
    first.send_json({"id": sorted(accepted)[0], "type": "complete"})
    subscribe(second, "b2", JOB_EVENTS)
    # The complete and the new subscribe travel on two sockets: retry until the room is seen.
    deadline = time.monotonic() + 10
    while True:
        publish(api, job["number"])
        got = {second.receive_json()["id"] for _ in range(len(accepted_second) + 1)}
        if "b2" in got:
            break
        assert time.monotonic() < deadline


def test_one_event_costs_one_job_read_whatever_the_number_of_subscribers(start: Callable[..., Api]) -> None:
    api = start(session_recheck_seconds=300)
    job = api.create_job("jobgraph.noop", runAt=LATER)
    streams = [connect(api) for _ in range(2)]
    follows = connect(api)
    per_socket = 10
    for ws in streams:
        for n in range(per_socket):
            subscribe(ws, f"s{n}", JOB_EVENTS)
    for n in range(5):
        subscribe(follows, f"f{n}", JOB_UPDATED, {"id": job["jobId"]})
    assert {follows.receive_json()["id"] for _ in range(5)} == {f"f{n}" for n in range(5)}
    wait_open(api, 2 * per_socket + 5)
    publish(api, job["number"])
    for ws in streams:
        assert {ws.receive_json()["id"] for _ in range(per_socket)} == {f"s{n}" for n in range(per_socket)}
    assert {follows.receive_json()["id"] for _ in range(5)} == {f"f{n}" for n in range(5)}

    with api_statements(api) as statements:
        publish(api, job["number"])
        for ws in streams:
            received = [ws.receive_json() for _ in range(per_socket)]
            assert {m["payload"]["data"]["jobEvents"]["job"]["jobId"] for m in received} == {job["jobId"]}
        received = [follows.receive_json() for _ in range(5)]
        assert {m["payload"]["data"]["jobUpdated"]["status"] for m in received} == {"queued"}
    job_reads = [s for s in statements if "FROM jobs" in s]
    assert len(job_reads) == 1, job_reads  # 25 subscribers, one read


def test_filters_that_need_the_job_are_applied_in_memory(start: Callable[..., Api]) -> None:
    api = start()
    api.gql('mutation { registerSeries(input: {seriesUid: "9.9", modality: "CT", imageCount: 1}) { seriesUid } }')
    alice, _ = user_token(api, "alice@example.com", ["executePlugin"])
    plain = api.create_job("jobgraph.noop", token=alice, runAt=LATER)
    with_series = api.create_job(
        "jobgraph.noop",
        token=alice,
        runAt=LATER,
        series=[{"seriesUid": "9.9", "partialVolumeDescriptor": {"start": 1, "end": 1, "delta": 1}}],
    )
    admins = api.create_job("jobgraph.noop", runAt=LATER)
    ws = connect(api)
    subscribe(ws, "by_series", 'subscription { jobEvents(filter: {seriesUid: "9.9"}) { jobId } }')
    subscribe(ws, "by_user", 'subscription { jobEvents(filter: {userEmail: ["alice@example.com"]}) { jobId } }')
    subscribe(ws, "by_date", 'subscription { jobEvents(filter: {createdAfter: "2999-01-01T00:00:00Z"}) { jobId } }')
    subscribe(ws, "everything", "subscription { jobEvents { jobId } }")
    wait_open(api, 4)
    for number in (admins["number"], plain["number"], with_series["number"]):
        publish(api, number)
    received: dict[str, list[str]] = {}

    def until(counts: dict[str, int]) -> None:
        while any(len(received.get(op_id, [])) < n for op_id, n in counts.items()):
            message = ws.receive_json()
            received.setdefault(message["id"], []).append(message["payload"]["data"]["jobEvents"]["jobId"])

    until({"everything": 3, "by_user": 2, "by_series": 1})
    publish(api, with_series["number"])  # a fence: by_date would have had its messages by now
    until({"everything": 4, "by_user": 3, "by_series": 2})
    assert received["everything"] == [admins["jobId"], plain["jobId"], with_series["jobId"], with_series["jobId"]]
    assert received["by_series"] == [with_series["jobId"]] * 2
    assert received["by_user"] == [plain["jobId"], with_series["jobId"], with_series["jobId"]]
    assert "by_date" not in received
