"""A worker process's service: Dramatiq's worker threads plus jobgraph's upkeep.

Upkeep, in one background thread: heartbeats (so others can tell this worker is alive),
stopping attempts whose cancel was asked for (checked every `cancel_poll_seconds`), and the
sweep: recover jobs of workers that went away, fail expired jobs, and send wake-ups for due
jobs that waited too long (a lost message, a Redis that was emptied, a restart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

import dramatiq
from sqlalchemy import select
from sqlalchemy.orm import aliased

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, JobDependency, Plugin
from jobgraph.events import JobEvent
from jobgraph.resolvers import execution
from jobgraph.runtime import Runtime
from jobgraph.tasks import metrics
from jobgraph.tasks.broker import ACTOR_NAME, BrokerDispatcher
from jobgraph.tasks.executor import Executor, is_connection_error

log = logging.getLogger(__name__)

ORPHAN_CLAIM_SECONDS = 10.0  # a job this worker holds in the database but not in memory, this long


def known_queues(rt: Runtime) -> set[str]:
    """Queues there may be work in: every plugin's, and every queue with queued jobs."""
    with rt.db.session() as s:
        queues = set(s.scalars(select(Plugin.queue).distinct()))
        queues.update(s.scalars(select(Job.queue).where(Job.status == "queued").distinct()))
    return {q for q in queues if q}


def orphaned_claims(rt: Runtime, worker_id: int, owned: set[int], older_than: float) -> list[Job]:
    """Jobs running under this worker in the database that this process is not running."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    with rt.db.session() as s:
        rows = s.scalars(
            select(Job).where(Job.worker_id == worker_id, Job.status == "running", Job.started_at <= cutoff)  # type: ignore[operator]
        )
        return [job for job in rows if job.number not in owned]


def stuck_parents(rt: Runtime) -> list[Job]:
    """Failed or cancelled jobs that still have queued strict children (their settling was lost,
    say to a database restart): the children must fail, naming the parent. Driven from the
    queued children, which are few, not from every failed job there ever was."""
    child, parent = aliased(Job), aliased(Job)
    numbers = (
        select(JobDependency.parent_number)
        .join(child, child.number == JobDependency.child_number)
        .join(parent, parent.number == JobDependency.parent_number)
        .where(child.status == "queued", child.lax.is_(False), parent.status.in_(("failed", "cancelled")))
        .distinct()
    )
    with rt.db.session() as s:
        found = list(s.scalars(numbers))
        return list(s.scalars(select(Job).where(Job.number.in_(found)))) if found else []  # type: ignore[union-attr]


class WorkerService:
    def __init__(
        self,
        rt: Runtime,
        broker: dramatiq.Broker,
        queues: Iterable[str] | None = ("default",),
        threads: int = 4,
        *,
        recover_all_running: bool = False,
        shutdown_grace: float = 10.0,
    ) -> None:
        self.rt = rt
        self.broker = broker
        self.queues = None if queues is None else sorted(set(queues))  # None: every queue
        self.threads = threads
        self.recover_all_running = recover_all_running
        self.shutdown_grace = shutdown_grace
        self.dispatcher = BrokerDispatcher(broker)
        self.worker_id: int | None = None
        self.executor: Executor | None = None
        self._worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._upkeep: threading.Thread | None = None
        self._beat: threading.Thread | None = None
        self._unlisten = lambda: None
        # Since when this process has reached the database without a failure (monotonic), or
        # None after a failure: other workers' heartbeats are judged only after they have had
        # worker_dead_after_seconds of a working database to beat in (a database restart
        # silences everyone's heartbeats at once; that is not everyone dying).
        self._db_ok_since: float | None = None

    def start(self) -> None:
        rt = self.rt
        if self.recover_all_running:
            execution.recover_lost_jobs(rt, all_running=True)
        self.worker_id = execution.register_worker(rt, self.queues)
        self.executor = executor = Executor(rt, self.worker_id, self.queues)

        def wake(queue: str, drain: bool = False) -> None:
            # A wake-up means "there may be work". Each job sends one, so a wake-up runs one job;
            # the sweep's re-sends (after Redis lost messages, say) drain: they keep claiming
            # until nothing is due, so a few of them bring a whole backlog back.
            metrics.WAKEUPS.labels(queue).inc()
            try:
                while executor.run_next(queue) and drain:
                    pass
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                # The job stays queued; the sweep sends a new wake-up once the database is back.
                metrics.DATABASE_ERRORS.labels("claim").inc()
                log.warning("cannot claim from %s: the database is unreachable (%s)", queue, type(exc).__name__)

        if ACTOR_NAME in self.broker.actors:
            self.broker.actors.pop(ACTOR_NAME)
        dramatiq.Actor(
            wake,
            broker=self.broker,
            actor_name=ACTOR_NAME,
            queue_name="default",
            priority=0,
            options={"max_retries": 0},
        )
        for queue in self.queues or ["default"]:
            self.broker.declare_queue(queue)
        worker = dramatiq.Worker(
            self.broker,
            queues=set(self.queues) if self.queues else None,
            worker_threads=self.threads,
            worker_timeout=100,
        )
        # Messages are wake-ups: prefetching many would hide work from idle workers elsewhere.
        worker.queue_prefetch = self.threads
        worker.start()
        self._worker = worker
        self._unlisten = rt.events.add_listener(self._on_event)
        self._upkeep = threading.Thread(target=self._upkeep_loop, name="jobgraph-upkeep", daemon=True)
        self._beat = threading.Thread(target=self._beat_loop, name="jobgraph-heartbeat", daemon=True)
        self._db_ok_since = time.monotonic()  # it registered just now
        self._beat.start()
        self.sweep()  # work left from before this start
        self._upkeep.start()
        log.info("worker %s serving queues %s with %d threads", self.worker_id, self.queues, self.threads)

    def _on_event(self, event: JobEvent) -> None:
        # Same-process cancels are seen at once; others within cancel_poll_seconds.
        if event.kind == "updated" and event.status == "running" and self.executor is not None:
            with self.executor._lock:
                mine = event.number in self.executor._running
            if mine:
                threading.Thread(target=self.executor.stop_cancelled, daemon=True).start()

    def _beat_loop(self) -> None:
        """Heartbeats, in a thread of their own: a sweep that waits on a lock must not make
        this worker look dead to the others."""
        settings = self.rt.settings
        while not self._stop.wait(settings.worker_heartbeat_seconds):
            if self.worker_id is None:
                continue
            try:
                execution.heartbeat(self.rt, self.worker_id)
                if self._db_ok_since is None:
                    self._db_ok_since = time.monotonic()
                    log.warning("worker %s: the database is reachable again", self.worker_id)
            except Exception as exc:
                self._database_failed(exc, "heartbeat")

    def _database_failed(self, exc: Exception, what: str) -> None:
        if is_connection_error(exc):
            if self._db_ok_since is not None:
                log.warning("worker %s: the database is unreachable (%s)", self.worker_id, type(exc).__name__)
            self._db_ok_since = None
            metrics.DATABASE_ERRORS.labels(what).inc()
        else:
            log.warning("worker %s failed; will try again", what, exc_info=True)

    def _upkeep_loop(self) -> None:
        settings = self.rt.settings
        next_sweep = time.monotonic() + settings.sweep_seconds
        while not self._stop.wait(settings.cancel_poll_seconds):
            executor = self.executor
            if executor is None or self.worker_id is None:
                continue
            try:
                executor.stop_cancelled()
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + settings.sweep_seconds
            except Exception as exc:  # the database may be restarting: keep going, try again
                self._database_failed(exc, "upkeep")

    def trusts_heartbeats(self) -> bool:
        """Whether other workers have had long enough, with a working database, to beat."""
        ok_since = self._db_ok_since
        return ok_since is not None and time.monotonic() - ok_since >= self.rt.settings.worker_dead_after_seconds

    def sweep(self) -> None:
        rt = self.rt
        recovered = execution.recover_lost_jobs(rt, trust_heartbeats=self.trusts_heartbeats())
        if recovered:
            metrics.RECOVERED.inc(len(recovered))
            log.warning("recovered %d jobs of workers that went away", len(recovered))
        execution.expire_jobs(rt)
        for parent in stuck_parents(rt):
            execution.settle_children(rt, parent)
        executor = self.executor
        if executor is not None and self.worker_id is not None:
            for job in orphaned_claims(rt, self.worker_id, executor.owned(), ORPHAN_CLAIM_SECONDS):
                attempt = execution.Attempt(
                    job=job, plugin=None, series=[], worker_id=self.worker_id, attempt=job.retries
                )
                execution.hand_back(rt, attempt, "the worker lost track of this claim (a database error); handed back")
        if self.queues is None:
            # Serving every queue: Redis delivers only the queues this process declared, so
            # declare each queue there may be work in (a new plugin's, a job's own) as it appears.
            for queue in sorted(known_queues(rt)):
                self.dispatcher.declare(queue)
        for queue, count in execution.stale_queues(rt, self.queues).items():
            for _ in range(min(count, self.threads)):
                try:
                    self.dispatcher.wake(queue, drain=True)
                    metrics.STALE_WAKEUPS.labels(queue).inc()
                except Exception:
                    log.warning("cannot send a wake-up for %s", queue, exc_info=True)
                    break

    def stop(self) -> None:
        """Graceful: no new claims; running jobs get `shutdown_grace` seconds, then go back."""
        if self.executor is None:
            return
        self.executor.shutting_down.set()
        deadline = time.monotonic() + self.shutdown_grace
        while self.executor.running_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.executor.hand_back_all()
        self._stop.set()
        self._unlisten()
        if self._worker is not None:
            self._worker.stop(timeout=int((self.rt.settings.stop_grace_seconds + 10) * 1000))
        for thread in (self._upkeep, self._beat):
            if thread is not None:
                thread.join(timeout=5)
        if self.worker_id is not None:
            try:
                execution.stop_worker(self.rt, self.worker_id)
            except Exception:
                log.warning("could not mark worker %s stopped", self.worker_id, exc_info=True)
        self.executor = None
