"""Subscriptions over WebSocket (graphql-transport-ws), fed by the job events."""

from __future__ import annotations

from typing import Any

from tests.support import ADMIN_TOKEN, Api


def subscribe(ws: Any, query: str, variables: dict[str, Any] | None = None, token: str = ADMIN_TOKEN) -> None:
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    assert ws.receive_json()["type"] == "connection_ack"
    ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})


def test_job_updated_follows_a_job_to_its_end(api: Api) -> None:
    later = "2999-01-01T00:00:00Z"
    job = api.create_job("jobgraph.slow", {"seconds": 0.4, "steps": 2}, runAt=later)
    query = "subscription($id: ID!) { jobUpdated(jobId: $id) { status progress messages { text } } }"
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe(ws, query, {"id": job["jobId"]})
        first = ws.receive_json()
        assert first["payload"]["data"]["jobUpdated"]["status"] == "queued"
        api.gql("mutation($id: ID!) { updateJob(jobId: $id, notes: {go: true}) { jobId } }", {"id": job["jobId"]})
        seen = [ws.receive_json()["payload"]["data"]["jobUpdated"]]
        assert seen[0]["status"] == "queued"
        api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": job["jobId"]})
        seen.append(ws.receive_json()["payload"]["data"]["jobUpdated"])
        assert seen[-1]["status"] == "cancelled"
        ws.send_json({"id": "1", "type": "complete"})


def test_job_updated_streams_progress_of_a_running_job(api: Api) -> None:
    job = api.create_job("jobgraph.slow", {"seconds": 0.6, "steps": 3})
    query = "subscription($id: ID!) { jobUpdated(jobId: $id) { status progress } }"
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe(ws, query, {"id": job["jobId"]})
        states = []
        while True:
            message = ws.receive_json()
            assert message["type"] == "next", message
            states.append(message["payload"]["data"]["jobUpdated"])
            if states[-1]["status"] == "finished":
                break
    assert states[-1] == {"status": "finished", "progress": 1.0}
    assert any(s["status"] == "running" for s in states)


def test_job_events_are_filtered_and_private(api: Api) -> None:
    alice = api.user("alice@example.com", ["executePlugin"])
    query = 'subscription { jobEvents(filter: {pluginId: ["jobgraph.echo"], status: [finished]}) { kind status job { jobId } } }'
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe(ws, query, token=alice)
        api.create_job("jobgraph.echo", 1)  # the admin's: alice must not see it
        api.create_job("jobgraph.noop", token=alice)  # filtered out by plugin
        mine = api.create_job("jobgraph.echo", 2, token=alice)
        event = ws.receive_json()["payload"]["data"]["jobEvents"]
        assert event == {"kind": "updated", "status": "finished", "job": {"jobId": mine["jobId"]}}


def test_a_subscription_needs_a_token(api: Api) -> None:
    job = api.create_job("jobgraph.noop")
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe(
            ws, "subscription($id: ID!) { jobUpdated(jobId: $id) { status } }", {"id": job["jobId"]}, token="wrong"
        )
        message = ws.receive_json()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_graphiql_passes_the_token_to_its_websocket(api: Api) -> None:
    page = api.client.get("/graphql", headers={"Accept": "text/html"}).text
    assert "wsConnectionParams: () => wsHeaders" in page


def test_job_updated_reads_again_after_the_bus_reconnects(api: Api) -> None:
    """A change whose event was lost (another process, Redis away) arrives once the bus is back."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from jobgraph.events import resync_event

    job = api.create_job("jobgraph.noop", runAt="2999-01-01T00:00:00Z")
    query = "subscription($id: ID!) { jobUpdated(jobId: $id) { priority } }"
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe(ws, query, {"id": job["jobId"]})
        assert ws.receive_json()["payload"]["data"]["jobUpdated"] == {"priority": 0}
        api.rt.events.publish(resync_event())  # nothing changed: nothing is sent
        with api.rt.db.engine.begin() as conn:  # changed elsewhere, its event lost
            conn.execute(
                text("UPDATE jobs SET priority = 7, updated_at = :now WHERE job_id = :j"),
                {
                    "now": datetime.now(UTC).replace(tzinfo=None) if api.rt.db.is_sqlite else datetime.now(UTC),
                    "j": job["jobId"],
                },
            )
        api.rt.events.publish(resync_event())
        assert ws.receive_json()["payload"]["data"]["jobUpdated"] == {"priority": 7}


def test_a_subscription_over_plain_http_is_refused_with_a_reason(api: Api) -> None:
    for response in (
        api.client.post("/graphql", json={"query": "subscription { jobEvents { jobId } }"}, headers=api.headers(None)),
        api.client.get(
            "/graphql",
            params={"query": "subscription { jobEvents { jobId } }"},
            headers={**api.headers(None), "accept": "application/json"},
        ),
    ):
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "WebSocket" in error["message"]
