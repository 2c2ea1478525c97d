"""`jobgraph serve` and `jobgraph worker`: the long-running processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jobgraph.cli.errors import friendly

if TYPE_CHECKING:
    from jobgraph.settings import Settings


def _settings(**overrides: Any) -> Settings:
    from jobgraph.settings import Settings  # here, not at the top: `jobgraph --help` stays fast

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Default JOBGRAPH_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default JOBGRAPH_PORT or 8000.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Default JOBGRAPH_DATA_DIR or ./.jobgraph.")] = None,
    log_level: str = "info",
) -> None:
    import uvicorn

    from jobgraph.app import create_app

    settings = _settings(host=host, port=port, data_dir=data_dir)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = f"http://{settings.host}:{settings.port}"
    where = "SQLite in " + str(settings.data_dir.resolve()) if settings.is_sqlite else "PostgreSQL"
    workers = (
        f"{settings.worker_threads} in-process worker threads"
        if settings.run_embedded_workers
        else "no in-process workers (start `jobgraph worker`)"
    )
    _require_current_schema(settings)
    typer.echo(
        f"jobgraph on {base}  (dashboard: {base}/dashboard, GraphiQL: {base}/graphql)\n"
        f"  database: {where}; {workers}",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws="websockets-sansio",
        lifespan="on",
    )


def _require_current_schema(settings: Settings) -> None:
    """Refuse at once, with what to run, rather than from inside the server's start-up."""
    from jobgraph.db import Database, migrate

    if settings.auto_migrate if settings.auto_migrate is not None else settings.is_sqlite:
        return  # the start-up migrates
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        migrate.require_current(db)
    finally:
        db.dispose()


@friendly
def worker(
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Serve this queue; repeat. Default: every queue.")
    ] = None,
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to start.")] = 1,
    threads: Annotated[int | None, typer.Option(min=1, max=256, help="Threads per process (jobs at once).")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve Prometheus metrics on this port (JOBGRAPH_METRICS_PORT); process i of --processes uses port+i.",
        ),
    ] = None,
    log_level: str = "info",
) -> None:
    settings = _settings(worker_threads=threads, metrics_port=metrics_port)
    if processes > 1:
        raise typer.Exit(_supervise(processes, queue, settings.worker_threads, log_level, settings.metrics_port))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    _run_worker(settings, queue)


def _run_worker(settings: Settings, queues: list[str] | None) -> None:
    from jobgraph.runtime import build_runtime
    from jobgraph.service import prepare_database, register_installed_plugins
    from jobgraph.tasks.broker import BrokerDispatcher, make_broker
    from jobgraph.tasks.worker import WorkerService

    if not settings.redis_url:
        typer.echo(
            "warning: no JOBGRAPH_REDIS_URL: this worker finds work by looking in the database every "
            f"{settings.sweep_seconds:g} s",
            err=True,
        )
    broker = make_broker(settings)
    rt = build_runtime(settings, dispatcher=BrokerDispatcher(broker))
    prepare_database(rt)
    if settings.installed_plugins:
        register_installed_plugins(rt)
    service = WorkerService(
        rt,
        broker,
        queues=queues or None,
        threads=settings.worker_threads,
        shutdown_grace=settings.shutdown_grace_seconds,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if settings.metrics_port:
        from jobgraph.tasks import metrics

        metrics.serve(settings.metrics_port, settings.host)
    service.start()
    typer.echo(
        f"worker {service.worker_id} (pid {os.getpid()}) serving {', '.join(queues) if queues else 'every queue'}"
        f" with {settings.worker_threads} threads",
        err=True,
    )
    stop.wait()
    typer.echo(
        f"worker {service.worker_id}: stopping (running jobs get {settings.shutdown_grace_seconds:g} s, "
        "then go back to the queue)",
        err=True,
    )
    service.stop()
    rt.close()


def _supervise(
    processes: int, queues: list[str] | None, threads: int, log_level: str, metrics_port: int | None = None
) -> int:
    """Start N single-process workers and keep them running: one that dies (a crash, the OOM
    killer) is reaped at once (so its jobs are recovered as soon as a sweep sees its pid gone)
    and started again. SIGTERM/SIGINT go to every worker; exit when all have stopped."""

    def argv(index: int) -> list[str]:
        args = [sys.executable, "-m", "jobgraph", "worker", "--threads", str(threads), "--log-level", log_level]
        for queue in queues or []:
            args += ["--queue", queue]
        if metrics_port:
            args += ["--metrics-port", str(metrics_port + index)]
        return args

    children: list[subprocess.Popen[bytes]] = [subprocess.Popen(argv(i)) for i in range(processes)]
    stopping = threading.Event()

    def forward(signum: int, _frame: Any) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes: dict[int, int] = {}
    restarts: list[float] = []
    while len(codes) < processes:
        for index, child in enumerate(children):
            if index in codes:
                continue
            code = child.poll()
            if code is None:
                continue
            if stopping.is_set() or code in (0, 2):  # asked to stop, or a schema that is behind
                codes[index] = code
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < 60] + [now]
            if len(restarts) > 5 * processes:
                typer.echo(f"worker {child.pid} exited with {code}; too many restarts, giving up", err=True)
                codes[index] = code
                continue
            typer.echo(f"worker {child.pid} exited with {code}; starting another", err=True)
            children[index] = subprocess.Popen(argv(index))
        stopping.wait(0.2)
    return max(codes.values(), default=0)
