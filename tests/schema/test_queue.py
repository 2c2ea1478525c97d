"""The queue at a glance, workers, and plugin defaults."""

from __future__ import annotations

from tests.support import Api


def test_queue_stats_and_workers(api: Api) -> None:
    done = api.create_job("jobgraph.echo", 1)
    api.wait_for(done["jobId"])
    api.create_job("jobgraph.noop", queue="gpu", runAt="2999-01-01T00:00:00Z")
    data = api.gql(
        "{ queueStats { total byStatus { status count } byQueue { queue queued running } } "
        "workers { id pid host queues alive jobsRunning lastSeenAt } }"
    )
    stats = data["queueStats"]
    assert stats["total"] == 2
    assert {s["status"]: s["count"] for s in stats["byStatus"]} == {"finished": 1, "queued": 1}
    assert stats["byQueue"] == [{"queue": "gpu", "queued": 1, "running": 0}]
    [worker] = data["workers"]
    assert worker["alive"] is True and worker["queues"] == ["*"] and worker["jobsRunning"] == 0
    import os

    assert worker["pid"] == os.getpid()


def test_a_job_takes_its_plugins_defaults(api: Api) -> None:
    api.gql(
        'mutation { registerPlugin(input: {pluginId: "t.defaults", kind: python, '
        'entrypoint: "jobgraph.plugins.builtin:noop", attempts: 4, queue: "special", timeout: 30}) { pluginId } }'
    )
    job = api.gql(
        'mutation { createJob(input: {pluginId: "t.defaults", runAt: "2999-01-01T00:00:00Z"}) '
        "{ attempts queue plugin { timeout } } }"
    )["createJob"]
    assert job == {"attempts": 4, "queue": "special", "plugin": {"timeout": 30}}


def test_registering_again_updates_the_plugin(api: Api) -> None:
    mutation = 'mutation($v: String!) { registerPlugin(input: {pluginId: "t.v", kind: python, entrypoint: "a:b", version: $v}) { version createdAt updatedAt } }'
    first = api.gql(mutation, {"v": "1"})["registerPlugin"]
    second = api.gql(mutation, {"v": "2"})["registerPlugin"]
    assert second["version"] == "2" and second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] >= first["updatedAt"]
