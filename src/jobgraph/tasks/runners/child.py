"""A warm child process of the python runner: runs one job at a time, reports over a pipe.

From the worker: ("job", seq, entrypoint, payload, work_dir), ("cancel", seq), ("exit",).
To the worker: ("message", text, status), ("progress", fraction, text), then one of
("result", value), ("error", text), ("cancelled",), optionally after ("retire", why) when this
child should not take another job.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from jobgraph.plugins.entrypoints import error_text, load_callable
from jobgraph.tasks.context import JobCancelled, JobContext
from jobgraph.tasks.runners.environment import job_variables, plugin_environment

ORPHAN_GRACE_SECONDS = 1.0  # a plugin whose worker died gets this long to stop by itself


def serve(conn: Connection) -> None:
    # Its own session: a kill of this group, by the worker or the reaper, reaches whatever the
    # plugin started, and a Ctrl-C meant for the worker does not.
    with contextlib.suppress(OSError):
        os.setsid()
    home = os.getcwd()
    # The worker's environment holds the server's settings and secrets: plugins get none of it.
    environ = plugin_environment(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    jobs: queue.SimpleQueue[tuple[tuple[Any, ...], threading.Event] | None] = queue.SimpleQueue()
    current: list[Any] = [None, threading.Event()]  # seq, cancel event of the job being run
    send_lock = threading.Lock()

    def on_sigterm(signum: int, frame: Any) -> None:
        # SIGTERM comes from the reaper (the worker died) or the system stopping everything: ask
        # the plugin to stop, as a command plugin is asked; SIGKILL follows.
        current[1].set()

    _signals(on_sigterm)

    def send(event: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(event)

    def listen() -> None:
        try:
            while True:
                msg = conn.recv()
                if msg[0] == "job":
                    # Set up here, not in the main thread, so a cancel right behind it is not lost.
                    cancel = threading.Event()
                    current[:] = [msg[1], cancel]
                    jobs.put((msg, cancel))
                elif msg[0] == "cancel" and msg[1] == current[0]:
                    current[1].set()
                elif msg[0] == "exit":
                    jobs.put(None)
                    return
        except EOFError:
            # The worker is gone (killed, crashed): its attempt will be retried elsewhere, so
            # this run must not go on beside the retry. Ask the plugin to stop, then make sure,
            # for everything in this process group.
            current[1].set()
            time.sleep(ORPHAN_GRACE_SECONDS)
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGKILL)
            os._exit(70)
        except OSError:
            jobs.put(None)

    threading.Thread(target=listen, name="jobgraph-child-listener", daemon=True).start()
    while (item := jobs.get()) is not None:
        (_, _seq, entrypoint, payload, work_dir, env), cancel = item
        final = _run_one(entrypoint, payload, Path(work_dir), env, cancel, send)
        unfit = _reset(home, environ)
        _signals(on_sigterm)
        try:
            if unfit:
                send(("retire", unfit))  # before the final event: the worker stops listening after it
            send(final)
        except OSError:
            continue  # the worker is gone: the listener ends this process and its group
        if unfit:
            return
    conn.close()


def _run_one(
    entrypoint: str,
    payload: dict[str, Any],
    work_dir: Path,
    env: dict[str, str],
    cancel: threading.Event,
    send: Callable[[tuple[Any, ...]], None],
) -> tuple[Any, ...]:
    try:
        os.chdir(work_dir)
        variables = {**env, **job_variables(payload.get("jobId"), work_dir / "input", work_dir / "output")}
        os.environ.update(variables)  # undone by _reset after the job
        ctx = JobContext(payload, work_dir / "output", send, cancel, variables)
        result = load_callable(entrypoint)(ctx)
        json.dumps(result)
    except JobCancelled:
        return ("cancelled",)
    except BaseException as exc:  # the plugin's failure, reported, not raised
        return ("cancelled",) if cancel.is_set() else ("error", error_text(exc))
    return ("result", result)


def _reset(home: str, environ: dict[str, str]) -> str:
    """Undo what a job may have changed for the next one; say why this child is unfit, if it is."""
    with contextlib.suppress(OSError):
        os.chdir(home)
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    # A plugin's worker thread still running would go on beside the next job: start afresh.
    # (Daemon threads are libraries' helpers, started once and meant to stay.)
    left = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    return f"threads left running: {', '.join(left)}" if left else ""


def _signals(on_sigterm: Callable[[int, Any], None]) -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when a plugin stops
