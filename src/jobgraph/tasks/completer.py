"""The completer: finished attempts (and running attempts' log lines) are recorded in
batches, River's way.

A slot thread hands its finished attempt over and is free at once; a thread of the completer
records what has gathered every `interval` seconds (or as soon as `max_batch` wait) in one
transaction (`completion.finish_many`). What a batch did not take goes through
`completion.finish` one by one. Writes are retried while the database is away: they are guarded
by (job, worker, attempt), so repeating one is safe, and a result of an attempt that is no
longer this worker's is dropped there.
"""

from __future__ import annotations

import logging
import threading

from jobgraph.resolvers import completion, reporting
from jobgraph.resolvers.completion import Finished
from jobgraph.runtime import Runtime
from jobgraph.tasks import metrics
from jobgraph.tasks.retrying import is_connection_error, retry_while_disconnected
from jobgraph.unit import in_unit

log = logging.getLogger(__name__)


class Completer:
    def __init__(self, rt: Runtime, *, interval: float = 0.02, max_batch: int = 500) -> None:
        self.rt = rt
        self.interval = interval
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._waiting: list[Finished] = []
        self._lines: list[reporting.Line] = []
        self._flushing: list[Finished] = []
        self._stopping = False
        self._idle = False  # waiting for work, not pausing between flushes
        self._thread = threading.Thread(target=self._loop, name="jobgraph-completer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, finished: Finished) -> None:
        with self._cond:
            self._waiting.append(finished)
            if self._idle or len(self._waiting) >= self.max_batch:
                self._cond.notify()  # an idle completer records at once: a lone job waits for nothing

    def message(self, line: reporting.Line) -> None:
        """A log line: stored with the next batch (before any end recorded with it)."""
        with self._cond:
            self._lines.append(line)
            if self._idle:
                self._cond.notify()

    def store_lines_now(self) -> None:
        """Store the waiting log lines in the caller's thread (before an end recorded directly,
        so that a job's lines are there when its end is)."""
        with self._cond:
            lines, self._lines = self._lines, []
        self._store_lines(lines)

    def pending(self) -> set[int]:
        """Numbers of jobs finished here and not yet recorded (still this worker's)."""
        with self._cond:
            return {f.attempt.number for f in self._waiting + self._flushing}

    def stop(self) -> None:
        """Record what is waiting, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._waiting and not self._lines and not self._stopping:
                    self._idle = True
                    self._cond.wait(self.interval)
                    self._idle = False
                if not self._waiting and not self._lines:
                    if self._stopping:
                        return
                    continue
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                lines, self._lines = self._lines, []
                self._flushing = batch
            try:
                self._store_lines(lines)
                self._record(batch)
            except Exception:
                log.exception("recording %d finished jobs failed", len(batch))
            finally:
                with self._cond:
                    self._flushing = []
            if not self._stopping:
                # Let more gather: one transaction per interval, not one per job.
                with self._cond:
                    self._cond.wait(self.interval)

    def _store_lines(self, lines: list[reporting.Line]) -> None:
        """Log lines are worth less than the job: a database that is away drops them."""
        try:
            in_unit(self.rt, reporting.add_messages, lines, write=True)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            metrics.DATABASE_ERRORS.labels("message").inc()
            log.warning("%d log lines were lost: the database is unreachable (%s)", len(lines), type(exc).__name__)

    def _record(self, batch: list[Finished]) -> None:
        if not batch:
            return
        rt = self.rt
        left = retry_while_disconnected(
            "record", "recording finished jobs", lambda: in_unit(rt, completion.finish_many, batch, write=True)
        )
        for f in left:
            retry_while_disconnected(
                "record",
                f"recording job {f.attempt.job.job_id}",
                lambda f=f: in_unit(rt, completion.finish, f.attempt, f.result, f.outputs, write=True),  # type: ignore[misc]
            )
