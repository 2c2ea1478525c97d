"""Runs claimed attempts: prepares the work folder, picks the runner, records what happens."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable

from jobgraph.clock import utcnow
from jobgraph.resolvers import completion, reporting
from jobgraph.resolvers.attempts import Attempt
from jobgraph.runtime import Runtime
from jobgraph.tasks import metrics
from jobgraph.tasks.completer import Completer
from jobgraph.tasks.retrying import is_connection_error, retry_while_disconnected
from jobgraph.tasks.runners import command, docker, python_process, python_thread
from jobgraph.tasks.runners.base import Control, Outcome
from jobgraph.unit import in_unit

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25  # seconds between stored progress updates of one job


class Executor:
    """One per worker process. Thread-safe: each slot thread runs one attempt at a time."""

    def __init__(self, rt: Runtime, worker_id: int, completer: Completer) -> None:
        self.rt = rt
        self.worker_id = worker_id
        self.completer = completer
        self._running: dict[int, Control] = {}
        # Claimed and not yet handed to the completer: the upkeep hands back a job this worker
        # holds in the database but not here (a claim whose commit reply was lost, say).
        self._owned: set[int] = set()
        self._lock = threading.Lock()
        self.shutting_down = threading.Event()

    def run(self, attempt: Attempt) -> None:
        with self._lock:
            self._owned.add(attempt.number)
        try:
            self._run(attempt)
        finally:
            with self._lock:
                self._owned.discard(attempt.number)

    def owned(self) -> set[int]:
        with self._lock:
            owned = set(self._owned)
        return owned | self.completer.pending()

    def _run(self, attempt: Attempt) -> None:
        plugin_id = attempt.job.plugin_id
        metrics.ATTEMPTS_STARTED.labels(plugin_id, attempt.job.queue).inc()
        metrics.JOBS_RUNNING.inc()
        control: Control | None = None
        try:
            control = self._control(attempt)
            with self._lock:
                self._running[attempt.number] = control
            if attempt.job.cancel_requested:  # as claimed; later cancels reach stop_cancelled()
                control.stop("cancel")
            elif self.shutting_down.is_set():
                control.stop("shutdown")
            outcome = self._run_plugin(attempt, control)
        except Exception as exc:  # a bug of ours must not leave the job running
            log.exception("job %s: the runner failed", attempt.job.job_id)
            outcome = Outcome("failed", error=f"the worker could not run the plugin: {type(exc).__name__}")
        finally:
            with self._lock:
                self._running.pop(attempt.number, None)
            metrics.JOBS_RUNNING.dec()
        if control is not None:
            self._best_effort("progress", control.flush_progress)
        self._record(attempt, control, outcome)
        started = attempt.job.started_at
        if started is not None:
            metrics.JOB_DURATION.labels(plugin_id, outcome.kind).observe(max(0.0, (utcnow() - started).total_seconds()))
        metrics.ATTEMPTS_ENDED.labels(plugin_id, outcome.kind).inc()

    def _best_effort(self, what: str, fn: Callable[[], object]) -> None:
        """Messages and progress are worth less than the job: a database blip drops them."""
        try:
            fn()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            metrics.DATABASE_ERRORS.labels(what).inc()
            log.warning("a %s update was lost: the database is unreachable (%s)", what, type(exc).__name__)

    def _record(self, attempt: Attempt, control: Control | None, outcome: Outcome) -> None:
        rt = self.rt
        if outcome.kind == "finished":
            outputs = completion.collect_outputs(rt.settings, attempt, control.output_dir if control else None)
            self.completer.submit(completion.Finished(attempt, outcome.result, outputs))
            return
        self.completer.store_lines_now()
        if outcome.kind == "fenced":
            # This worker could not show it was alive: others may have retried the attempt. Say
            # so if the database is there; if not, their recovery (or ours, later) counts it.
            self._best_effort(
                "fenced", lambda: in_unit(rt, completion.fail_attempt, attempt, outcome.error, kind="crash", write=True)
            )
            return

        def record() -> object:
            if outcome.kind == "cancelled":
                return in_unit(rt, completion.mark_cancelled, attempt, write=True)
            if outcome.kind == "handed_back":
                return in_unit(rt, completion.hand_back, attempt, outcome.error, write=True)
            kind = "exception" if outcome.kind == "failed" else outcome.kind
            return in_unit(rt, completion.fail_attempt, attempt, outcome.error, kind=kind, write=True)

        # Guarded writes are safe to repeat: a database that restarts while the plugin ran must
        # not leave the job running under a worker that is alive.
        retry_while_disconnected("record", f"recording job {attempt.job.job_id}", record)

    def _control(self, attempt: Attempt) -> Control:
        rt = self.rt
        job = attempt.job
        work_dir = rt.settings.outputs_dir / job.job_id
        if work_dir.exists():
            shutil.rmtree(work_dir, ignore_errors=True)  # a new attempt starts clean
        (work_dir / "input").mkdir(parents=True, exist_ok=True)
        (work_dir / "output").mkdir(exist_ok=True)
        payload = {
            "jobId": job.job_id,
            "number": job.number,
            "pluginId": job.plugin_id,
            "input": job.input,
            "series": [
                {
                    "seriesUid": s.series_uid,
                    "partialVolumeDescriptor": None
                    if s.start is None
                    else {"start": s.start, "end": s.end, "delta": s.delta},
                }
                for s in attempt.series
            ],
            "attempt": job.retries + 1,
            "queue": job.queue,
        }
        (work_dir / "input" / "job.json").write_text(json.dumps(payload, indent=2))

        last_stored = [0.0]
        pending: list[tuple[float, str | None]] = []

        def message(text: str, status: int) -> None:
            self.completer.message(reporting.Line(attempt, text, status))

        def progress(fraction: float, text: str | None) -> None:
            # Store a few a second; keep the latest so the end state is exact.
            now = time.monotonic()
            if now - last_stored[0] >= PROGRESS_INTERVAL:
                last_stored[0] = now
                pending.clear()
                self._best_effort(
                    "progress", lambda: in_unit(rt, reporting.set_progress, attempt, fraction, text, write=True)
                )
            else:
                pending[:] = [(fraction, text)]

        def flush() -> None:
            if pending:
                in_unit(rt, reporting.set_progress, attempt, *pending[-1], write=True)
                pending.clear()

        plugin = attempt.plugin
        assert plugin is not None
        return Control(
            payload=payload,
            work_dir=work_dir,
            timeout=float(plugin.timeout or 0),
            grace=rt.settings.stop_grace_seconds,
            message=message,
            progress=progress,
            flush_progress=flush,
            env=dict(plugin.env or {}),
        )

    def _run_plugin(self, attempt: Attempt, control: Control) -> Outcome:
        plugin = attempt.plugin
        if plugin is None:
            return Outcome("failed", error=f"plugin {attempt.job.plugin_id!r} is not registered")
        if plugin.kind == "python":
            runner = python_thread if plugin.isolation == "thread" else python_process
            return runner.run(control, str(plugin.entrypoint))
        if plugin.kind == "command":
            return command.run(control, list(plugin.entrypoint))
        if plugin.kind == "docker":
            return docker.run(control, str(plugin.entrypoint))
        return Outcome("failed", error=f"unknown plugin kind {plugin.kind!r}")

    # -- called by the worker's upkeep and fence
    def stop_cancelled(self) -> None:
        with self._lock:
            running = dict(self._running)
        if not running:
            return
        for number in in_unit(self.rt, reporting.cancel_requested, self.worker_id):
            control = running.get(number)
            if control is not None:
                control.stop("cancel")

    def is_running(self, number: int) -> bool:
        with self._lock:
            return number in self._running

    def stop_all(self, reason: str) -> None:
        with self._lock:
            running = list(self._running.values())
        for control in running:
            control.stop(reason)

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def hand_back_all(self) -> None:
        self.shutting_down.set()
        self.stop_all("shutdown")
