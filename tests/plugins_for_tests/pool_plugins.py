"""Plugins for the warm process pool tests: they report which process ran them and what it
had kept from earlier jobs."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from jobgraph.tasks.context import JobContext

IMPORT_ID = uuid.uuid4().hex  # a new value each time this module is imported
CALLS = 0


def whoami(ctx: JobContext) -> dict[str, Any]:
    """Says which process ran it, in which folder, and whether a former job's state leaked."""
    global CALLS
    CALLS += 1
    leaked = os.environ.get("POOL_TEST_LEAK")
    os.environ["POOL_TEST_LEAK"] = ctx.job_id  # must not reach the next job
    (ctx.output_dir / "who.txt").write_text(ctx.job_id)
    cwd = os.getcwd()
    os.chdir("/")  # nor must this
    return {"pid": os.getpid(), "importId": IMPORT_ID, "calls": CALLS, "cwd": cwd, "leaked": leaked}


def busy_announced(ctx: JobContext) -> None:
    """Says it started, then spins without looking at ctx.cancelled: only a kill stops it."""
    ctx.message(f"pid {os.getpid()}")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        sum(range(1000))


def polite_announced(ctx: JobContext) -> None:
    """Says it started, then waits for a cancel (which it honours)."""
    ctx.message(f"pid {os.getpid()}")
    ctx.sleep(60)


def crash_announced(ctx: JobContext) -> None:
    ctx.message(f"pid {os.getpid()}")
    os._exit(13)


def raises(ctx: JobContext) -> None:
    raise ValueError("the plugin's own bug")


def rendezvous(ctx: JobContext) -> int:
    """Waits until `n` jobs are in here at once (so they run side by side), then returns its pid."""
    folder = Path(ctx.input["dir"])
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(folder.iterdir())) < int(ctx.input["n"]):
        if time.monotonic() > deadline:
            raise TimeoutError("the other jobs never came")
        time.sleep(0.01)
    return os.getpid()


def leaves_a_thread(ctx: JobContext) -> int:
    """Returns while a (non-daemon) thread of its own goes on."""
    threading.Thread(target=time.sleep, args=(30,), name="left-behind").start()
    return os.getpid()


def spawns_and_blocks(ctx: JobContext) -> None:
    """Starts a subprocess in its process group, says both pids, then blocks in a C call."""
    sleeper = subprocess.Popen(["sleep", "300"])
    ctx.message(f"pids {os.getpid()} {sleeper.pid}")
    time.sleep(300)


def environment(ctx: JobContext) -> dict[str, str]:
    """The environment the plugin sees."""
    return dict(os.environ)


def initial_environment(ctx: JobContext) -> list[str]:
    """The names in the process's initial environment block, as /proc shows it to anyone."""
    raw = Path("/proc/self/environ").read_bytes()
    return sorted(entry.split(b"=", 1)[0].decode() for entry in raw.split(b"\0") if entry)


def variables(ctx: JobContext) -> dict[str, Any]:
    """What the plugin's declared variables look like to it: in ctx.env and in os.environ."""
    return {"ctx": ctx.env, "environ": {k: v for k, v in os.environ.items() if k.startswith("PLUGIN_")}}
