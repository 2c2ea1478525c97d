"""GraphQL subscriptions on the API process follow jobs that worker processes run (the events
travel through Redis pub/sub)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.production.harness import Cluster
from tests.support import ADMIN_TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=30))
    return message


def test_subscriptions_follow_jobs_run_by_another_process(cluster: Cluster) -> None:
    log = str(cluster.runs_log)
    cluster.register_recorder("test.process", isolation="process")
    cluster.start_api()
    cluster.start_worker("--threads", "2")
    url = f"ws://127.0.0.1:{cluster.api_port}/graphql"
    with (
        connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as follow,  # type: ignore[list-item]
        connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as stream,  # type: ignore[list-item]
    ):
        for ws in (follow, stream):
            ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}))
            assert receive(ws)["type"] == "connection_ack"
        stream.send(
            json.dumps(
                {
                    "id": "events",
                    "type": "subscribe",
                    "payload": {
                        "query": 'subscription { jobEvents(filter: {pluginId: ["test.process"]}) { jobId kind status } }'
                    },
                }
            )
        )
        # A first job shows the stream is subscribed (the subscribe message has no reply).
        [probe] = cluster.gql_create_jobs("test.process", [{"log": log}])
        while receive(stream)["payload"]["data"]["jobEvents"]["jobId"] != probe:
            pass
        [job_id] = cluster.gql_create_jobs("test.process", [{"log": log, "hold": 0.3}])
        follow.send(
            json.dumps(
                {
                    "id": "job",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription($id: ID!) { jobUpdated(jobId: $id) { status result } }",
                        "variables": {"id": job_id},
                    },
                }
            )
        )
        statuses = []
        while not statuses or statuses[-1] not in ("finished", "failed"):
            message = receive(follow)
            assert message["type"] == "next", message
            statuses.append(message["payload"]["data"]["jobUpdated"]["status"])
        assert statuses[-1] == "finished"
        assert "running" in statuses or statuses[0] == "finished"
        kinds = []
        while ("updated", "finished") not in kinds:
            data = receive(stream)["payload"]["data"]["jobEvents"]
            if data["jobId"] == job_id:
                kinds.append((data["kind"], data["status"]))
        assert ("updated", "running") in kinds  # the worker's claim, seen by the API's subscriber
        assert ("message", "running") in kinds  # the plugin's message, from the worker
