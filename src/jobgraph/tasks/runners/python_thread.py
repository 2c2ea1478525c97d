"""Run a python plugin in the worker's own thread: no process start, for light, trusted code.

A cancel or a time limit is seen by plugins that call `ctx.sleep`, `ctx.check_cancelled` or read
`ctx.cancelled`; a plugin that does not is stopped by an exception raised in its thread after
the grace period. That reaches any Python code, but not a blocking C call or system call: a
plugin that makes those should run with isolation "process" (the default).
"""

from __future__ import annotations

import ctypes
import json
import threading
import time

from jobgraph.plugins.entrypoints import error_text, load_callable
from jobgraph.tasks.context import JobCancelled, JobContext
from jobgraph.tasks.runners.base import Control, Outcome
from jobgraph.tasks.runners.environment import job_variables


class _Stopped(BaseException):
    """Raised asynchronously in a plugin's thread that ignored a stop request."""


def _raise_in_thread(thread_id: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(_Stopped))


def run(control: Control, entrypoint: str) -> Outcome:
    cancel = threading.Event()
    done = threading.Event()
    thread_id = threading.get_ident()
    timed_out = threading.Event()

    def watchdog() -> None:
        # Turn a stop request or the time limit into the plugin's cancel flag, then, after the
        # grace period, into an exception in the plugin's thread.
        while not done.wait(0.05):
            if control.stop_event.is_set() or control.timed_out():
                if not control.stop_event.is_set():
                    timed_out.set()
                cancel.set()
                if not done.wait(control.grace):
                    _raise_in_thread(thread_id)
                    return

    def send(event: tuple[object, ...]) -> None:
        if event[0] == "message":
            control.message(str(event[1]), int(event[2]))  # type: ignore[call-overload]
        elif event[0] == "progress":
            control.progress(float(event[1]), event[2])  # type: ignore[arg-type]

    # The worker's process environment is shared by its threads: the plugin's variables come
    # through ctx.env only.
    variables = {**control.env, **job_variables(control.payload.get("jobId"), control.input_dir, control.output_dir)}
    ctx = JobContext(control.payload, control.output_dir, send, cancel, variables)
    guard = threading.Thread(target=watchdog, name="jobgraph-stop-watchdog", daemon=True)
    guard.start()
    try:
        try:
            result = load_callable(entrypoint)(ctx)
            json.dumps(result)
        except (JobCancelled, _Stopped):
            outcome = _stopped(control, timed_out)
        except (TypeError, ValueError) as exc:
            outcome = Outcome("failed", error=error_text(exc))
        except Exception as exc:
            outcome = _stopped(control, timed_out) if cancel.is_set() else Outcome("failed", error=error_text(exc))
        else:
            outcome = Outcome("finished", result=result)
        finally:
            done.set()
    except _Stopped:  # arrived just after the plugin returned
        outcome = _stopped(control, timed_out)
    guard.join(timeout=1)
    time.sleep(0)  # let a pending async exception, if any, land here rather than in the caller
    return outcome


def _stopped(control: Control, timed_out: threading.Event) -> Outcome:
    if timed_out.is_set() and not control.stop_event.is_set():
        return control.timeout_outcome()
    return control.stopped_outcome()
