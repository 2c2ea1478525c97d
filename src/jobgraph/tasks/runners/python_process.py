"""Run a python plugin in a child process (the default): a cancel or a time limit always stops
it, whatever it is doing, and a crash in the plugin cannot take the worker down.

Children come from a forkserver that has jobgraph imported already, so a start costs a fork,
not an interpreter start.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from jobgraph.tasks.runners.base import Control, Outcome

_context_lock = threading.Lock()
_context: Any = None


def _mp_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            _context = multiprocessing.get_context("forkserver")
            _context.set_forkserver_preload(["jobgraph.tasks.runners.child"])
        return _context


def run(control: Control, entrypoint: str) -> Outcome:
    from jobgraph.tasks.runners import child

    ctx = _mp_context()
    parent_conn, child_conn = ctx.Pipe()
    process = ctx.Process(
        target=child.main,
        args=(entrypoint, control.payload, str(control.output_dir), child_conn),
        name=f"jobgraph-plugin-{control.payload.get('number')}",
        daemon=True,
    )
    process.start()
    child_conn.close()
    try:
        return _supervise(control, process, parent_conn)
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
        parent_conn.close()


def _supervise(control: Control, process: Any, conn: Connection) -> Outcome:
    asked_to_stop_at: float | None = None
    timed_out = False
    final: Outcome | None = None
    while True:
        if conn.poll(0.05):
            try:
                event = conn.recv()
            except (EOFError, OSError):
                event = None
            if event is None:
                break
            kind = event[0]
            if kind == "message":
                control.message(event[1], event[2])
            elif kind == "progress":
                control.progress(event[1], event[2])
            elif kind == "result":
                final = Outcome("finished", result=event[1])
            elif kind == "error":
                final = Outcome("failed", error=event[1])
            elif kind == "cancelled":
                final = control.stopped_outcome()
            continue
        if final is not None or not process.is_alive():
            if not process.is_alive() and final is None and conn.poll(0):
                continue  # drain what it said before it ended
            break
        if asked_to_stop_at is None and (control.stop_event.is_set() or control.timed_out()):
            timed_out = not control.stop_event.is_set()
            asked_to_stop_at = time.monotonic()
            with contextlib.suppress(OSError):
                conn.send(("cancel",))
        if asked_to_stop_at is not None and time.monotonic() - asked_to_stop_at > control.grace:
            process.kill()
            process.join(timeout=5)
            break
    if timed_out:
        return control.timeout_outcome()
    if final is not None:
        return final
    if control.stop_event.is_set():
        return control.stopped_outcome()
    process.join(timeout=5)
    return Outcome("crash", error=f"the plugin process died (exit code {process.exitcode})")
