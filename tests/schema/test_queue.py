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
    mutation = 'mutation($v: String!) { registerPlugin(input: {pluginId: "t.v", kind: python, entrypoint: "jobgraph.plugins.builtin:noop", version: $v}) { version createdAt updatedAt } }'
    first = api.gql(mutation, {"v": "1"})["registerPlugin"]
    second = api.gql(mutation, {"v": "2"})["registerPlugin"]
    assert second["version"] == "2" and second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] >= first["updatedAt"]


def test_a_jobs_worker_is_the_same_as_in_the_workers_list(api: Api) -> None:
    job = api.create_job("jobgraph.slow", {"seconds": 30, "steps": 300})
    api.wait_for(job["jobId"], {"running"})
    data = api.gql(
        "query($id: ID!) { job(jobId: $id) { runBy { id alive jobsRunning } } workers { id alive jobsRunning } }",
        {"id": job["jobId"]},
    )
    assert data["job"]["runBy"] == {"id": data["workers"][0]["id"], "alive": True, "jobsRunning": 1}
    assert data["workers"] == [data["job"]["runBy"]]
    api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": job["jobId"]})
    api.wait_for(job["jobId"])
