"""The child process of the python runner: runs the callable, reports over a pipe."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from jobgraph.tasks.context import JobCancelled, JobContext
from jobgraph.tasks.runners.entrypoints import error_text, load_callable

ORPHAN_GRACE_SECONDS = 1.0  # a plugin whose worker died gets this long to stop by itself


def main(entrypoint: str, payload: dict[str, Any], output_dir: str, conn: Connection) -> None:
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
        except EOFError:
            # The worker is gone (killed, crashed): its attempt will be retried elsewhere, so
            # this run must not go on beside the retry. Ask the plugin to stop, then make sure.
            cancel.set()
            time.sleep(ORPHAN_GRACE_SECONDS)
            os._exit(70)
        except OSError:  # our own end was closed: the run is over
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
