"""Warm child processes for python plugins, one job at a time each.

A job checks a child out, sends it the job over its pipe and relays what it reports; the child
goes back to the pool when it answered in time, and is killed (its whole process group) when it
did not stop within the grace period, ran out of time, died or broke the protocol. The pool grows
to the number of jobs running at once and keeps its idle children, so a job pays a process start
only when no warm child is free; a plugin's module stays imported in a child across its jobs.

Children come from a forkserver that has the child module imported already: a start is a fork
of a small, single-threaded process, never of the worker with its threads and connections.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import multiprocessing
import multiprocessing.util  # its exit hook registered before ours, so ours (LIFO) runs first
import os
import signal
import threading
import time
from typing import Any

from jobgraph.tasks.runners import reaper
from jobgraph.tasks.runners.base import Control, Outcome
from jobgraph.tasks.runners.environment import plugin_environment

START_METHOD = "forkserver"  # or "spawn": same warm cost, a slower start, no shared server
POLL_SECONDS = 0.05
FINAL_EVENTS = ("result", "error", "cancelled")


class Child:
    """One warm process and the worker's end of its pipe."""

    def __init__(self, process: Any, conn: Any) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.jobs = 0
        self._killed = False

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def fit(self) -> bool:
        """Alive and quiet: an idle child has nothing to say, so anything pending means trouble."""
        try:
            return self.alive() and not self.conn.poll(0)
        except (OSError, EOFError):
            return False

    def kill(self) -> None:
        # Its group first (what the plugin started), then the child itself if it never got to
        # make its own group. Once only: afterwards the pid may belong to someone else.
        if self._killed:
            return
        self._killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.process.join(timeout=5)
        with contextlib.suppress(OSError):
            self.conn.close()
        reaper.unwatch(self.pid)

    def exit_code(self) -> int | None:
        self.process.join(timeout=5)
        code: int | None = self.process.exitcode
        return code


_forkserver_lock = threading.Lock()


def _start_forkserver() -> None:
    """Start the forkserver (if it is not running) with the environment built for plugins, so
    its children's initial environment (/proc/self/environ) holds none of the worker's settings
    or secrets. The worker's own environment is swapped for those few milliseconds only: its
    threads read their settings once, at start."""
    from multiprocessing import forkserver

    with _forkserver_lock:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(plugin_environment(saved))
        try:
            forkserver.ensure_running()
        finally:
            os.environ.clear()
            os.environ.update(saved)


class Pool:
    def __init__(self, start_method: str = START_METHOD) -> None:
        self.start_method = start_method
        self._lock = threading.Lock()
        self._idle: list[Child] = []
        self._busy: set[Child] = set()
        self._context: Any = None
        self._seq = itertools.count(1)

    # -- children
    def _ctx(self) -> Any:
        with self._lock:
            if self._context is None:
                self._context = multiprocessing.get_context(self.start_method)
                if self.start_method == "forkserver":
                    self._context.set_forkserver_preload(["jobgraph.tasks.runners.child"])
            return self._context

    def _start(self) -> Child:
        from jobgraph.tasks.runners import child

        ctx = self._ctx()
        if self.start_method == "forkserver":
            _start_forkserver()
        parent_conn, child_conn = ctx.Pipe()
        process = ctx.Process(target=child.serve, args=(child_conn,), name="jobgraph-plugin", daemon=True)
        try:
            process.start()
        finally:
            child_conn.close()
        reaper.watch(process.pid)  # its own group (the child calls setsid)
        return Child(process, parent_conn)

    def checkout(self) -> Child:
        """A warm idle child, or a new one: the pool grows to the number of callers at once."""
        unfit: list[Child] = []
        chosen: Child | None = None
        with self._lock:
            while self._idle:
                candidate = self._idle.pop()
                if candidate.fit():
                    chosen = candidate
                    break
                unfit.append(candidate)
        for child in unfit:
            child.kill()
        if chosen is None:
            chosen = self._start()
        with self._lock:
            self._busy.add(chosen)
        return chosen

    def checkin(self, child: Child, reusable: bool) -> None:
        with self._lock:
            known = child in self._busy
            self._busy.discard(child)
            if reusable and known:
                self._idle.append(child)
                return
        child.kill()

    def counts(self) -> tuple[int, int]:
        """(idle, busy) children."""
        with self._lock:
            return len(self._idle), len(self._busy)

    def shutdown(self) -> None:
        """Kill every child, idle or busy (a busy one's job ends as its worker stopping it would)."""
        with self._lock:
            children = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for child in children:
            child.kill()

    def forget_after_fork(self) -> None:
        # A forked copy of the worker must not hold the children's pipes open: they would miss
        # their worker's death. The children stay the parent's.
        for child in [*self._idle, *self._busy]:
            with contextlib.suppress(OSError):
                child.conn.close()
        self._lock = threading.Lock()
        self._idle, self._busy = [], set()

    # -- jobs
    def run(self, control: Control, entrypoint: str) -> Outcome:
        work_dir = str(control.work_dir.absolute())
        job = ("job", next(self._seq), entrypoint, control.payload, work_dir, control.env)
        for attempt in range(2):  # an idle child can die unseen (e.g. the OOM killer): one retry
            try:
                child = self.checkout()
            except OSError as exc:
                return Outcome("crash", error=f"cannot start a plugin process: {exc}")
            try:
                child.conn.send(job)
            except OSError:
                self.checkin(child, reusable=False)
                if attempt:
                    return Outcome("crash", error="the plugin process died before it took the job")
                continue
            reusable = False
            try:
                outcome, reusable = _supervise(control, child, job[1])
                child.jobs += 1
                return outcome
            finally:
                self.checkin(child, reusable)
        raise AssertionError("unreachable")


def _supervise(control: Control, child: Child, seq: int) -> tuple[Outcome, bool]:
    """Relay the child's events until its final one; (outcome, whether the child may be reused)."""
    asked_at: float | None = None
    timed_out = retire = False
    while True:
        if asked_at is None and (control.stop_event.is_set() or control.timed_out()):
            timed_out = not control.stop_event.is_set()
            asked_at = time.monotonic()
            with contextlib.suppress(OSError):
                child.conn.send(("cancel", seq))
        if asked_at is not None and time.monotonic() - asked_at > control.grace:
            child.kill()
            break
        try:
            event = child.conn.recv() if child.conn.poll(POLL_SECONDS) else None
        except (EOFError, OSError):
            break  # it died
        except Exception as exc:  # what it sent cannot be read here: not our protocol
            return Outcome("crash", error=f"the plugin process sent an unreadable event ({exc})"), False
        if event is None:
            if not child.alive():
                break
            continue
        kind = event[0] if isinstance(event, tuple) and event else None
        if kind == "message":
            control.message(event[1], event[2])
        elif kind == "progress":
            control.progress(event[1], event[2])
        elif kind == "retire":
            retire = True
        elif kind in FINAL_EVENTS:
            return _final(control, event, timed_out), not retire
        else:
            return Outcome("crash", error=f"the plugin process broke the protocol ({str(event)[:200]})"), False
    if timed_out:
        return control.timeout_outcome(), False
    if control.stop_event.is_set():
        return control.stopped_outcome(), False
    return Outcome("crash", error=f"the plugin process died (exit code {child.exit_code()})"), False


def _final(control: Control, event: tuple[Any, ...], timed_out: bool) -> Outcome:
    if timed_out:
        return control.timeout_outcome()
    if event[0] == "result":
        return Outcome("finished", result=event[1])
    if event[0] == "error":
        return Outcome("failed", error=event[1])
    return control.stopped_outcome()


_pool = Pool()
os.register_at_fork(after_in_child=_pool.forget_after_fork)
atexit.register(_pool.shutdown)

run = _pool.run
shutdown = _pool.shutdown
