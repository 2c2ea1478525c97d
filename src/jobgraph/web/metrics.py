"""Prometheus metrics at /metrics: the API's requests, and the queue as the database sees it.

- `jobgraph_http_requests_total{method, route, status}` and
  `jobgraph_http_request_duration_seconds{method, route}`: `route` is the route's template
  (`/api/minion/{job_id}`), never the raw path, so the series stay few; unmatched paths are
  `<unmatched>`.
- Read from the database at scrape time (cached for a second or two):
  `jobgraph_jobs{status}`, `jobgraph_queue_jobs{queue, status}` (queued and running per queue:
  the depth), `jobgraph_queue_due_jobs{queue}` (queued and due now),
  `jobgraph_queue_oldest_due_seconds{queue}` (how long the oldest due job has waited),
  `jobgraph_workers{state}` (alive, gone).
- Everything in prometheus_client's default registry: the process's own metrics and, on the
  embedded default where the workers run in this process, the worker metrics of
  `jobgraph.tasks.metrics` (`jobgraph_job_duration_seconds{plugin, outcome}` ...). Separate
  worker processes serve those themselves (`jobgraph worker --metrics-port`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobgraph.clock import utcnow
from jobgraph.db.models import JOB_STATUSES, Job, Worker
from jobgraph.runtime import Runtime

disable_created_metrics()  # no *_created series: they double the output for nothing

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_REQUESTS = Counter(
    "jobgraph_http_requests", "HTTP requests by route template, method and status.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "jobgraph_http_request_duration_seconds",
    "HTTP request latency (to the end of the response) by route template and method.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "<unmatched>"
    # Inside a Mount, the router sets the inner route; its prefix went to root_path.
    mount_prefix = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    if isinstance(route, Mount):  # a mounted app with no routes of its own (static files): one series
        return f"{mount_prefix}/{{path}}"
    return f"{mount_prefix}{path}" or "/"


class HttpMetrics:
    """Pure ASGI middleware (it does not buffer responses, so streaming is untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("app_root_path", scope.get("root_path", ""))
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_template(scope)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, route, str(status[0])).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


class QueueCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, rt: Runtime, cache_seconds: float = 1.5) -> None:
        self.rt = rt
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families are created at collect time

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.cache_seconds:
                self._cached = (now, self._read())
            return iter(self._cached[1])

    def _read(self) -> list[Metric]:
        rt = self.rt
        now = utcnow()
        jobs = GaugeMetricFamily("jobgraph_jobs", "Jobs by status.", labels=["status"])
        depth = GaugeMetricFamily(
            "jobgraph_queue_jobs", "Queued and running jobs per queue (the queue depth).", labels=["queue", "status"]
        )
        due = GaugeMetricFamily("jobgraph_queue_due_jobs", "Queued jobs per queue that are due now.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "jobgraph_queue_oldest_due_seconds",
            "Seconds the oldest due queued job of each queue has waited.",
            labels=["queue"],
        )
        workers = GaugeMetricFamily("jobgraph_workers", "Workers seen in the last day, by state.", labels=["state"])
        due_since = func.coalesce(Job.run_at, Job.created_at)
        with rt.db.session() as s:
            counts = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            per_queue = s.execute(
                select(Job.queue, Job.status, func.count())
                .where(Job.status.in_(("queued", "running")))  # type: ignore[attr-defined]
                .group_by(Job.queue, Job.status)
            ).all()
            due_rows = s.execute(
                select(Job.queue, func.count(), func.min(due_since))
                .where(Job.status == "queued", (Job.run_at.is_(None)) | (Job.run_at <= now))  # type: ignore[union-attr,operator]
                .group_by(Job.queue)
            ).all()
            dead_after = timedelta(seconds=rt.settings.worker_dead_after_seconds)
            worker_rows = s.execute(
                select(Worker.stopped_at, Worker.last_seen_at).where(Worker.last_seen_at >= now - timedelta(days=1))  # type: ignore[arg-type,operator]
            ).all()
        for status in JOB_STATUSES:
            jobs.add_metric([status], float(counts.get(status, 0)))
        queues: dict[str, dict[str, int]] = {}
        for queue, status, count in per_queue:
            queues.setdefault(str(queue), {"queued": 0, "running": 0})[str(status)] = int(count)
        for queue, by_status in sorted(queues.items()):
            for status, count in by_status.items():
                depth.add_metric([queue, status], float(count))
        for queue, count, since in due_rows:
            due.add_metric([str(queue)], float(count))
            waited = 0.0 if since is None else max(0.0, (now - _aware(since)).total_seconds())
            oldest.add_metric([str(queue)], waited)
        alive = sum(1 for stopped, seen in worker_rows if stopped is None and now - _aware(seen) < dead_after)
        workers.add_metric(["alive"], float(alive))
        workers.add_metric(["gone"], float(len(worker_rows) - alive))
        return [jobs, depth, due, oldest, workers]


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def exposition(collector: QueueCollector | None) -> bytes:
    parts = [generate_latest(REGISTRY)]
    if collector is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        parts.append(generate_latest(registry))
    return b"".join(parts)


async def metrics_endpoint(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    state = request.app.state
    if state.rt.settings.metrics_token:
        refused = await run_in_threadpool(_refusal, state.rt, request.headers.get("authorization", ""))
        if refused is not None:
            return refused
    collector: QueueCollector | None = getattr(state, "queue_collector", None)
    rt = getattr(state, "rt", None)
    if collector is None and rt is not None:
        collector = state.queue_collector = QueueCollector(rt)
    try:
        body = await run_in_threadpool(exposition, collector)
    except Exception as exc:  # the database is away: still serve the process's own metrics
        body = generate_latest(REGISTRY) + f"# queue metrics unavailable: {type(exc).__name__}\n".encode()
    return Response(body, media_type=CONTENT_TYPE)


def _refusal(rt: Runtime, authorization: str) -> Response | None:
    """With JOBGRAPH_METRICS_TOKEN: None for a token with manageServer, else the 401 or 403."""
    from jobgraph.errors import DomainError
    from jobgraph.resolvers import policy, users
    from jobgraph.unit import unit_of_work

    scheme, _, secret = authorization.partition(" ")
    try:
        with unit_of_work(rt) as u:
            policy.require_manage_server(users.authenticate(u, secret.strip() if scheme.lower() == "bearer" else None))
    except DomainError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.http_status, headers=headers)
    return None


def metrics_routes() -> list[BaseRoute]:
    return [Route("/metrics", metrics_endpoint, methods=["GET"])]
