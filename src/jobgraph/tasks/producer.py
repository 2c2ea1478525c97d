"""The producer: one per worker process, it fills the process's free slots with claimed jobs.

River's producer, on Dramatiq: a wake-up (a Dramatiq message, or a job event seen on the bus)
marks a queue as wanted; the fetch loop claims up to as many jobs of it as there are free slots
in one statement, hands them to slot threads, and keeps claiming as slots free up until a claim
comes back short (the queue is drained). Every `poll_seconds` it also claims from each queue it
serves without being told: the safety net for lost wake-ups (a Redis that was emptied, say).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from jobgraph.resolvers import claiming
from jobgraph.resolvers.attempts import Attempt
from jobgraph.runtime import Runtime
from jobgraph.tasks import metrics
from jobgraph.tasks.retrying import is_connection_error
from jobgraph.unit import in_unit

log = logging.getLogger(__name__)

RETRY_AFTER_DB_ERROR = 0.5  # seconds before claiming again when the database is unreachable
COOLDOWN_SECONDS = 0.002  # how long a claim for fewer than half the slots waits for more to free


class Producer:
    def __init__(
        self,
        rt: Runtime,
        worker_id: int,
        slots: int,
        run: Callable[[Attempt], None],
        poll_queues: Callable[[], list[str]],
        *,
        poll_seconds: float,
        on_full_claim: Callable[[str], None] = lambda queue: None,
    ) -> None:
        self.rt = rt
        self.worker_id = worker_id
        self.slots = slots
        self._run = run
        self._poll_queues = poll_queues
        self._poll_seconds = poll_seconds
        self._on_full_claim = on_full_claim
        self._cond = threading.Condition()
        self._wanted: dict[str, int] = {}  # queue -> generation of its latest wake-up
        self._free = slots
        self._min_batch = max(1, slots // 2)
        self._paused = 0  # pause() nests: fencing and shutting down each hold one
        self._stopping = False
        self._next_poll = 0.0
        self._pool = ThreadPoolExecutor(slots, thread_name_prefix="jobgraph-slot")
        self._thread = threading.Thread(target=self._loop, name="jobgraph-producer", daemon=True)
        self._conn = claiming.ClaimConnection(rt)

    def start(self) -> None:
        self._thread.start()

    def notify(self, queue: str) -> None:
        """There may be work in `queue`."""
        with self._cond:
            self._wanted[queue] = self._wanted.get(queue, 0) + 1
            self._cond.notify()

    def pause(self) -> None:
        with self._cond:
            self._paused += 1

    def resume(self) -> None:
        with self._cond:
            self._paused = max(0, self._paused - 1)
            self._cond.notify()

    def stop(self, timeout: float | None = None) -> None:
        """No more claims; waits for the slot threads to end their attempts."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True)
        self._conn.discard()

    # -- the fetch loop
    def _next_queue(self) -> tuple[str, int, int] | None:
        """Under the lock: wait for a wanted queue and a free slot (or the next poll)."""
        cooled = False
        while not self._stopping:
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self._poll_seconds
                self._cond.release()
                try:
                    polled = self._poll_queues()
                except Exception as exc:
                    polled = []
                    log.warning("cannot list the queues to poll (%s)", type(exc).__name__)
                finally:
                    self._cond.acquire()
                for queue in polled:
                    self._wanted[queue] = self._wanted.get(queue, 0) + 1
            if self._wanted and self._free > 0 and not self._paused:
                if self._free < self._min_batch and not cooled:
                    # A slot or two just freed: give the others a moment to free too, so one
                    # claim takes several jobs (a claim costs a commit, whatever its size).
                    cooled = True
                    self._cond.wait(COOLDOWN_SECONDS)
                    continue
                queue = min(self._wanted, key=lambda q: self._wanted[q])  # the least recently served first
                return queue, self._wanted[queue], self._free
            self._cond.wait(max(0.0, self._next_poll - time.monotonic()))
        return None

    def _loop(self) -> None:
        while True:
            with self._cond:
                picked = self._next_queue()
            if picked is None:
                return
            queue, generation, asked = picked
            try:
                # One unit per claim: on PostgreSQL the claim itself is one autocommit statement
                # on the producer's connection; the unit reads what the plugin cache lacks, and
                # sends the claim's events once done.
                attempts = in_unit(self.rt, claiming.claim, self.worker_id, queue, asked, self._conn.get(), write=True)
            except Exception as exc:
                self._conn.discard()
                if not is_connection_error(exc):
                    log.exception("claiming from %s failed", queue)
                else:
                    metrics.DATABASE_ERRORS.labels("claim").inc()
                    log.warning("cannot claim from %s: the database is unreachable (%s)", queue, type(exc).__name__)
                with self._cond:
                    self._cond.wait(RETRY_AFTER_DB_ERROR)
                continue
            with self._cond:
                self._free -= len(attempts)
                if len(attempts) < asked and self._wanted.get(queue) == generation:
                    del self._wanted[queue]  # drained, and no wake-up came meanwhile
                elif queue in self._wanted:
                    # Served: behind the other wanted queues now (the generation orders them).
                    self._wanted[queue] = max(self._wanted.values()) + 1
            for attempt in attempts:
                self._pool.submit(self._slot, attempt)
            if attempts and len(attempts) == asked:
                self._on_full_claim(queue)

    def _slot(self, attempt: Attempt) -> None:
        try:
            self._run(attempt)
        except Exception:
            log.exception("job %s: the slot failed", attempt.job.job_id)
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify()
