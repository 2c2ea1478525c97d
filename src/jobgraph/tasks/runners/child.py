"""The child process of the python runner: runs the callable, reports over a pipe."""

from __future__ import annotations

import json
import os
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from jobgraph.tasks.context import JobCancelled, JobContext
from jobgraph.tasks.runners.entrypoints import error_text, load_callable


def _die_with_parent() -> None:
    """Linux: be killed when the forkserver (our parent) exits, as it does when the worker dies,
    even by SIGKILL. An orphaned plugin would otherwise run on beside the retry of its attempt."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        parent = os.getppid()
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it exited before the call took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def main(entrypoint: str, payload: dict[str, Any], output_dir: str, conn: Connection) -> None:
    _die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when a plugin stops
    os.chdir(Path(output_dir).parent)
    cancel = threading.Event()
    lock = threading.Lock()

    def send(event: tuple[Any, ...]) -> None:
        with lock:
            conn.send(event)

    def listen() -> None:
        try:
            while True:
                if conn.recv() == ("cancel",):
                    cancel.set()
        except (EOFError, OSError):
            cancel.set()

    threading.Thread(target=listen, name="jobgraph-cancel-listener", daemon=True).start()
    ctx = JobContext(payload, Path(output_dir), send, cancel)
    try:
        result = load_callable(entrypoint)(ctx)
        json.dumps(result)
    except JobCancelled:
        send(("cancelled",))
    except BaseException as exc:  # the plugin's failure, reported, not raised
        send(("cancelled",) if cancel.is_set() else ("error", error_text(exc)))
    else:
        send(("result", result))
    finally:
        conn.close()
