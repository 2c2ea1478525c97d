"""Prometheus metrics of a worker process (prometheus_client, default registry).

Each attempt is observed once, by the process that ran it, so these sum correctly across
workers: `sum(rate(jobgraph_job_duration_seconds_count[5m])) by (plugin, outcome)`.
`jobgraph worker --metrics-port P` serves them on http://HOST:P/metrics (with `--processes N`,
process i serves port P+i); on the embedded default they appear in the API's /metrics.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

log = logging.getLogger(__name__)

disable_created_metrics()  # no *_created series: they double the output for nothing

DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    900,
    1800,
    3600,
    4 * 3600,
)

JOB_DURATION = Histogram(
    "jobgraph_job_duration_seconds",
    "Run time of one attempt, from its claim to its recorded end, by plugin and outcome.",
    ["plugin", "outcome"],
    buckets=DURATION_BUCKETS,
)
ATTEMPTS_STARTED = Counter(
    "jobgraph_worker_attempts_started", "Attempts this process claimed and started.", ["plugin", "queue"]
)
ATTEMPTS_ENDED = Counter(
    "jobgraph_worker_attempts_ended",
    "Attempts this process ended: finished, failed, timeout, crash, cancelled, handed_back.",
    ["plugin", "outcome"],
)
JOBS_RUNNING = Gauge("jobgraph_worker_jobs_running", "Attempts running in this process now.")
WAKEUPS = Counter("jobgraph_worker_wakeups", "Wake-up messages handled, by queue.", ["queue"])
RECOVERED = Counter(
    "jobgraph_worker_recovered_jobs", "Running jobs of workers that went away, recovered by this process's sweep."
)
DATABASE_ERRORS = Counter(
    "jobgraph_worker_database_errors", "Database operations that failed and were retried.", ["operation"]
)


def serve(port: int, host: str) -> None:
    """Serve the default registry on http://host:port/metrics from a daemon thread."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)
    log.info("worker metrics on http://%s:%d/metrics", host, port)
