"""Prometheus metrics: the API's /metrics (requests by route template, the queue from the
database) and a worker's own port (`jobgraph worker --metrics-port`)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.production.harness import Cluster, free_port, wait_until
from tests.support import Api


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_api_metrics_on_the_embedded_default(api: Api) -> None:
    before = samples(api.client.get("/metrics").text)
    api.client.app.state.queue_collector.cache_seconds = 0  # type: ignore[attr-defined]
    jobs = [api.create_job("jobgraph.noop")["jobId"] for _ in range(3)]
    queued = api.create_job("jobgraph.noop", runAt="2099-01-01T00:00:00Z")["jobId"]
    for job_id in jobs:
        assert api.wait_for(job_id)["status"] == "finished"
    api.client.get("/healthz")
    api.client.get("/no/such/route")
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def grew(name: str, by: float, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) >= by, (name, labels)

    grew("jobgraph_http_requests_total", 4, method="POST", route="/graphql", status="200")
    grew("jobgraph_http_requests_total", 1, method="GET", route="/healthz", status="200")
    grew("jobgraph_http_requests_total", 1, method="GET", route="<unmatched>", status="404")
    grew("jobgraph_http_request_duration_seconds_count", 4, method="POST", route="/graphql")
    assert value(after, "jobgraph_http_request_duration_seconds_bucket", method="POST", route="/graphql", le="+Inf")
    # The queue, read from the database.
    assert value(after, "jobgraph_jobs", status="finished") == 3
    assert value(after, "jobgraph_jobs", status="queued") == 1
    assert value(after, "jobgraph_queue_jobs", queue="default", status="queued") == 1
    assert value(after, "jobgraph_queue_due_jobs", queue="default") == 0  # not due until 2099
    # The embedded workers run in this process: their metrics are here too.
    grew("jobgraph_job_duration_seconds_count", 3, plugin="jobgraph.noop", outcome="finished")
    grew("jobgraph_worker_attempts_started_total", 3, plugin="jobgraph.noop", queue="default")
    assert queued


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_worker_serves_its_own_metrics_and_the_api_the_queue(cluster: Cluster) -> None:
    log = str(cluster.runs_log)
    cluster.register_recorder()
    cluster.start_api()
    port = free_port()
    cluster.start_worker("--threads", "2", "--metrics-port", str(port))
    job_ids = cluster.gql_create_jobs("test.record", [{"log": log}] * 5)
    cluster.wait_all_ended(job_ids, timeout=30)

    def worker_metrics() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)

    wait_until(
        lambda: (
            value(worker_metrics(), "jobgraph_job_duration_seconds_count", plugin="test.record", outcome="finished")
            == 5
        ),
        10,
        "the worker to count its attempts",
    )
    found = worker_metrics()
    assert value(found, "jobgraph_worker_attempts_ended_total", plugin="test.record", outcome="finished") == 5
    assert value(found, "jobgraph_worker_jobs_running") == 0
    assert value(found, "jobgraph_worker_wakeups_total", queue="default") >= 1

    api = samples(cluster.http.get("/metrics").text)
    assert value(api, "jobgraph_jobs", status="finished") == 5
    assert value(api, "jobgraph_workers", state="alive") == 1
    # Attempts ran elsewhere: the API has no job durations of its own.
    assert value(api, "jobgraph_job_duration_seconds_count", plugin="test.record", outcome="finished") == 0
