"""A worker process's service: the producer that claims, the slots that run, the completer
that records, and the upkeep around them.

Threads: the producer's fetch loop and its slot threads; the completer; heartbeats (and the
fence that watches them); the upkeep (cancels, scheduled jobs, the sweep). Dramatiq carries
the wake-ups: its actor only tells the producer which queue may have work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import dramatiq

from jobgraph.events import JobEvent
from jobgraph.resolvers import dependencies, liveness, retention, upkeep
from jobgraph.resolvers.attempts import Attempt
from jobgraph.resolvers.completion import hand_back
from jobgraph.runtime import Runtime
from jobgraph.tasks import metrics
from jobgraph.tasks.broker import ACTOR_NAME, BrokerDispatcher
from jobgraph.tasks.completer import Completer
from jobgraph.tasks.executor import Executor
from jobgraph.tasks.fencing import Fence, fence_after_seconds
from jobgraph.tasks.producer import Producer
from jobgraph.tasks.retrying import is_connection_error
from jobgraph.tasks.runners import python_process, reaper
from jobgraph.unit import Unit, in_unit

log = logging.getLogger(__name__)

ORPHAN_CLAIM_SECONDS = 10.0  # a job this worker holds in the database but not in memory, this long
FENCE_CHECK_SECONDS = 0.05
REAPER_PING_SECONDS = 0.25
FAN_OUT_SECONDS = 0.05  # at most one wake-up for other workers per queue this often


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
        self.producer: Producer | None = None
        self.completer: Completer | None = None
        self._worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unlisten = lambda: None
        self._known_queues: list[str] = list(self.queues or [])
        self._fanned_out: dict[str, float] = {}
        self._fence_paused = False
        # The embedded default's worker is its database's only one: whatever ran before was
        # interrupted, and nobody else can take its jobs, so it has no reason to fence itself.
        self._fencing = not recover_all_running
        settings = rt.settings
        self.fence = Fence(
            fence_after_seconds(settings.worker_dead_after_seconds, settings.worker_heartbeat_seconds),
            self._on_fence,
            self._on_unfence,
        )
        # Since when this process has reached the database without a failure (monotonic), or
        # None after a failure: other workers' heartbeats are judged only after they have had
        # worker_dead_after_seconds of a working database to beat in (a database restart
        # silences everyone's heartbeats at once; that is not everyone dying).
        self._db_ok_since: float | None = None

    def start(self) -> None:
        rt = self.rt
        settings = rt.settings
        if self.recover_all_running:
            in_unit(rt, liveness.recover_lost_jobs, all_running=True, write=True)
        self.worker_id = in_unit(rt, liveness.register_worker, self.queues, write=True)
        self.completer = Completer(rt, interval=settings.complete_interval_seconds)
        self.executor = Executor(rt, self.worker_id, self.completer)
        self.producer = Producer(
            rt,
            self.worker_id,
            self.threads,
            self.executor.run,
            self._poll_queues,
            poll_seconds=settings.stale_wake_seconds,
            on_full_claim=self._fan_out if settings.redis_url else lambda queue: None,
        )
        self._db_ok_since = time.monotonic()  # it registered just now
        self.completer.start()
        self.producer.start()
        self._start_dramatiq()
        self._unlisten = rt.events.add_listener(self._on_event)
        loops = [("jobgraph-heartbeat", self._beat_loop), ("jobgraph-upkeep", self._upkeep_loop)]
        if self._fencing:
            loops.append(("jobgraph-fence", self._fence_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker %s serving queues %s with %d slots", self.worker_id, self.queues, self.threads)

    def _start_dramatiq(self) -> None:
        producer = self.producer
        assert producer is not None
        rt = self.rt

        def wake(queue: str, scheduled: bool = False) -> None:
            # A wake-up says "there may be work in this queue"; the producer claims it. A delayed
            # one (a job's runAt) first makes the due scheduled jobs ready.
            metrics.WAKEUPS.labels(queue).inc()
            if scheduled:
                try:
                    in_unit(rt, upkeep.promote_scheduled, write=True)
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise
            producer.notify(queue)

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
        # One thread is enough: the actor only hands the queue name to the producer.
        worker = dramatiq.Worker(
            self.broker, queues=set(self.queues) if self.queues else None, worker_threads=1, worker_timeout=100
        )
        worker.queue_prefetch = 16
        worker.start()
        self._worker = worker

    def _serves(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues

    def _on_event(self, event: JobEvent) -> None:
        producer, executor = self.producer, self.executor
        if producer is None or executor is None:
            return
        if event.status == "queued" and event.kind in ("created", "updated") and self._serves(event.queue):
            producer.notify(event.queue)  # the fast path: job events arrive before the broker's wake-up
        elif event.kind == "updated" and event.status == "running" and executor.is_running(event.number):
            # Same-process (or bus-carried) cancels are seen at once; others within cancel_poll_seconds.
            threading.Thread(target=executor.stop_cancelled, daemon=True).start()

    def _fan_out(self, queue: str) -> None:
        """A claim filled every free slot: more may wait, so wake another worker too."""
        now = time.monotonic()
        if now - self._fanned_out.get(queue, 0.0) < FAN_OUT_SECONDS:
            return
        self._fanned_out[queue] = now
        try:
            self.dispatcher.wake(queue)
        except Exception:
            log.warning("cannot send a wake-up for %s", queue, exc_info=True)

    def _poll_queues(self) -> list[str]:
        return list(self._known_queues)

    # -- liveness
    def _beat_loop(self) -> None:
        """Heartbeats, in a thread of their own: a sweep that waits on a lock must not make
        this worker look dead to the others."""
        settings = self.rt.settings
        while not self._stop.wait(settings.worker_heartbeat_seconds):
            if self.worker_id is None:
                continue
            try:
                in_unit(self.rt, liveness.heartbeat, self.worker_id, write=True)
            except Exception as exc:
                self._database_failed(exc, "heartbeat")
                continue
            if self._fencing:
                self.fence.alive()
            if self._db_ok_since is None:
                self._db_ok_since = time.monotonic()
                log.warning("worker %s: the database is reachable again", self.worker_id)

    def _fence_loop(self) -> None:
        # The reaper fences for this process when it cannot (frozen): it kills the plugins'
        # process groups if these pings stop for as long as this process's own fence waits.
        reaper.keepalive(self.fence.fence_after)
        pinged = 0.0
        while not self._stop.wait(FENCE_CHECK_SECONDS):
            self.fence.check()
            now = time.monotonic()
            if not self.fence.fenced and now - pinged >= REAPER_PING_SECONDS:
                pinged = now
                reaper.ping()

    def _on_fence(self, why: str) -> None:
        if not self._fence_paused and self.producer is not None:
            self._fence_paused = True
            self.producer.pause()
        if self.executor is not None:
            self.executor.stop_all("fence")

    def _on_unfence(self) -> None:
        if self._fence_paused and self.producer is not None:
            self._fence_paused = False
            self.producer.resume()

    def _database_failed(self, exc: Exception, what: str) -> None:
        if is_connection_error(exc):
            if self._db_ok_since is not None:
                log.warning("worker %s: the database is unreachable (%s)", self.worker_id, type(exc).__name__)
            self._db_ok_since = None
            metrics.DATABASE_ERRORS.labels(what).inc()
        else:
            log.warning("worker %s failed; will try again", what, exc_info=True)

    def trusts_heartbeats(self) -> bool:
        """Whether other workers have had long enough, with a working database, to beat."""
        ok_since = self._db_ok_since
        return ok_since is not None and time.monotonic() - ok_since >= self.rt.settings.worker_dead_after_seconds

    # -- upkeep
    def _upkeep_loop(self) -> None:
        settings = self.rt.settings
        next_sweep = 0.0  # work left from before this start: sweep at once
        while not self._stop.wait(settings.cancel_poll_seconds if next_sweep else 0):
            executor = self.executor
            if executor is None or self.worker_id is None:
                continue
            try:
                if executor.running_count():
                    executor.stop_cancelled()
                in_unit(self.rt, upkeep.promote_scheduled, write=True)
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + settings.sweep_seconds
            except Exception as exc:  # the database may be restarting: keep going, try again
                self._database_failed(exc, "upkeep")
                next_sweep = next_sweep or time.monotonic()

    def sweep(self) -> None:
        rt = self.rt
        # Each part of the sweep is a unit of its own: one that fails leaves the others done.
        recovered = in_unit(rt, liveness.recover_lost_jobs, trust_heartbeats=self.trusts_heartbeats(), write=True)
        if recovered:
            metrics.RECOVERED.inc(len(recovered))
            log.warning("recovered %d jobs of workers that went away", len(recovered))
        in_unit(rt, upkeep.expire_jobs, write=True)
        in_unit(rt, _settle_stuck, write=True)
        retention.prune(rt)
        executor = self.executor
        if executor is not None and self.worker_id is not None and not self.fence.fenced:
            in_unit(rt, _hand_back_orphans, self.worker_id, executor.owned(), write=True)
        if self.queues is None:
            # Serving every queue: Redis delivers only the queues this process declared, so
            # declare each queue there may be work in (a new plugin's, a job's own) as it appears.
            self._known_queues = sorted(in_unit(rt, upkeep.known_queues))
            for queue in self._known_queues:
                self.dispatcher.declare(queue)

    def stop(self) -> None:
        """Graceful: no new claims; running jobs get `shutdown_grace` seconds, then go back."""
        executor, producer, completer = self.executor, self.producer, self.completer
        if executor is None or producer is None or completer is None:
            return
        producer.pause()
        executor.shutting_down.set()
        deadline = time.monotonic() + self.shutdown_grace
        if executor.running_count():
            log.info(
                "stopping: %d running jobs get %g s to finish, then go back to the queue (not counted as an attempt)",
                executor.running_count(),
                self.shutdown_grace,
            )
        while executor.running_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        executor.hand_back_all()
        producer.stop()
        completer.stop()
        python_process.shutdown_pool()
        self._stop.set()
        self._unlisten()
        if self._worker is not None:
            self._worker.stop(timeout=int((self.rt.settings.stop_grace_seconds + 10) * 1000))
        for thread in self._threads:
            thread.join(timeout=5)
        reaper.keepalive(None)  # nobody pings any more
        if self.worker_id is not None:
            try:
                in_unit(self.rt, liveness.stop_worker, self.worker_id, write=True)
            except Exception:
                log.warning("could not mark worker %s stopped", self.worker_id, exc_info=True)
        self.executor = None


def _settle_stuck(u: Unit) -> None:
    dependencies.settle_children(u, dependencies.stuck_parents(u))


def _hand_back_orphans(u: Unit, worker_id: int, owned: set[int]) -> None:
    for job in liveness.orphaned_claims(u, worker_id, owned, ORPHAN_CLAIM_SECONDS):
        why = "the worker lost track of this claim (a database error); handed back"
        hand_back(u, Attempt.of_running(job), why)
