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

import dramatiq

from jobgraph.events import JobEvent
from jobgraph.resolvers import execution
from jobgraph.runtime import Runtime
from jobgraph.tasks.broker import ACTOR_NAME, BrokerDispatcher
from jobgraph.tasks.executor import Executor

log = logging.getLogger(__name__)


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
        self._unlisten = lambda: None

    def start(self) -> None:
        rt = self.rt
        if self.recover_all_running:
            execution.recover_lost_jobs(rt, all_running=True)
        self.worker_id = execution.register_worker(rt, self.queues)
        self.executor = executor = Executor(rt, self.worker_id, self.queues)

        def wake(queue: str) -> None:
            executor.run_next(queue)

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
        self._upkeep.start()
        self.sweep()  # work left from before this start
        log.info("worker %s serving queues %s with %d threads", self.worker_id, self.queues, self.threads)

    def _on_event(self, event: JobEvent) -> None:
        # Same-process cancels are seen at once; others within cancel_poll_seconds.
        if event.kind == "updated" and event.status == "running" and self.executor is not None:
            with self.executor._lock:
                mine = event.number in self.executor._running
            if mine:
                threading.Thread(target=self.executor.stop_cancelled, daemon=True).start()

    def _upkeep_loop(self) -> None:
        settings = self.rt.settings
        next_beat = next_sweep = 0.0
        while not self._stop.wait(settings.cancel_poll_seconds):
            now = time.monotonic()
            try:
                assert self.executor is not None and self.worker_id is not None
                self.executor.stop_cancelled()
                if now >= next_beat:
                    execution.heartbeat(self.rt, self.worker_id)
                    next_beat = now + settings.worker_heartbeat_seconds
                if now >= next_sweep:
                    self.sweep()
                    next_sweep = now + settings.sweep_seconds
            except Exception:  # the database may be restarting: keep going, try again
                log.warning("worker upkeep failed; will retry", exc_info=True)

    def sweep(self) -> None:
        rt = self.rt
        execution.recover_lost_jobs(rt)
        execution.expire_jobs(rt)
        for queue, count in execution.stale_queues(rt, self.queues).items():
            # With every queue served, a queue first seen here needs declaring (and a consumer).
            for _ in range(min(count, self.threads)):
                try:
                    self.dispatcher.wake(queue)
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
        if self._upkeep is not None:
            self._upkeep.join(timeout=5)
        if self.worker_id is not None:
            try:
                execution.stop_worker(self.rt, self.worker_id)
            except Exception:
                log.warning("could not mark worker %s stopped", self.worker_id, exc_info=True)
        self.executor = None
