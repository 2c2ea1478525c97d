"""`jobgraph serve` and `jobgraph worker`: the long-running processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from jobgraph.cli.errors import friendly
from jobgraph.settings import Settings


def _settings(**overrides: Any) -> Settings:
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
    typer.echo(f"jobgraph on {base}  (GraphiQL: {base}/graphql)\n  database: {where}; {workers}", err=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws="websockets-sansio",
        lifespan="on",
    )


@friendly
def worker(
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Serve this queue; repeat. Default: every queue.")
    ] = None,
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to start.")] = 1,
    threads: Annotated[int | None, typer.Option(min=1, max=256, help="Threads per process (jobs at once).")] = None,
    log_level: str = "info",
) -> None:
    settings = _settings(worker_threads=threads)
    if processes > 1:
        raise typer.Exit(_supervise(processes, queue, settings.worker_threads, log_level))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    _run_worker(settings, queue)


def _run_worker(settings: Settings, queues: list[str] | None) -> None:
    from jobgraph.runtime import build_runtime
    from jobgraph.service import prepare_database
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


def _supervise(processes: int, queues: list[str] | None, threads: int, log_level: str) -> int:
    """Start N single-process workers; pass SIGTERM/SIGINT on; exit when all have."""
    argv = [sys.executable, "-m", "jobgraph", "worker", "--threads", str(threads), "--log-level", log_level]
    for queue in queues or []:
        argv += ["--queue", queue]
    children = [subprocess.Popen(argv) for _ in range(processes)]

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)
