"""Test plugins for the fencing tests: each run writes what it does to a shared log, one line
per write with O_APPEND (lines from many processes never interleave), with the wall-clock time
(one host: comparable across processes).

`steps`: works in small steps through `ctx.sleep`, so a stop request reaches it within a step.
    Input: {"log": path, "step": seconds per step (0.1), "steps": steps in attempts after the
    first (20), "release": a path: attempt 1 steps until that file exists, "after": steps
    attempt 1 takes once it does (20)}. Lines: `jobId attempt pid phase time`, phase one of
    start, tick (each step), end (returned: its result is {"attempt": n}), stopped (left by an
    exception: a cancel, a stop).

`count`: a short job for counting completions. Input: {"log": path, "hold": seconds (through
    ctx.sleep)}. Lines: `jobId attempt pid start` and, only when it is about to return its
    result, `jobId attempt pid done`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobgraph.tasks.context import JobContext
from tests.production.recorder import _append

STEPS = "tests.production.fence_plugins:steps"
COUNT = "tests.production.fence_plugins:count"
MAX_WAIT_STEPS = 3000  # attempt 1 of `steps` gives up waiting for its release file after this many


def steps(ctx: JobContext) -> Any:
    options = ctx.input if isinstance(ctx.input, dict) else {}
    log = str(options["log"])
    step = float(options.get("step", 0.1))
    tag = f"{ctx.job_id} {ctx.attempt} {os.getpid()}"

    def line(phase: str) -> None:
        _append(log, f"{tag} {phase} {time.time():.6f}")

    line("start")
    try:
        release = options.get("release")
        if ctx.attempt == 1 and release:
            waited = 0
            while not os.path.exists(str(release)) and waited < MAX_WAIT_STEPS:
                ctx.sleep(step)
                line("tick")
                waited += 1
            left = int(options.get("after", 20))
        else:
            left = int(options.get("steps", 20))
        for _ in range(left):
            ctx.sleep(step)
            line("tick")
        ctx.check_cancelled()
    except BaseException:
        line("stopped")
        raise
    line("end")
    return {"attempt": ctx.attempt}


def count(ctx: JobContext) -> Any:
    options = ctx.input if isinstance(ctx.input, dict) else {}
    log = str(options["log"])
    tag = f"{ctx.job_id} {ctx.attempt} {os.getpid()}"
    _append(log, f"{tag} start")
    hold = float(options.get("hold", 0))
    if hold:
        ctx.sleep(hold)
    ctx.check_cancelled()
    _append(log, f"{tag} done")
    return {"attempt": ctx.attempt}


@dataclass(frozen=True)
class Line:
    job_id: str
    attempt: int
    pid: int
    phase: str
    at: float  # time.time(); 0 for `count` lines


def read(log: Path) -> list[Line]:
    found = []
    if log.exists():
        for text in log.read_text().splitlines():
            parts = text.split()
            at = float(parts[4]) if len(parts) > 4 else 0.0
            found.append(Line(parts[0], int(parts[1]), int(parts[2]), parts[3], at))
    return found
