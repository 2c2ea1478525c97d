"""A test plugin that records every run in a shared file, to count runs per job and attempt.

Input: {"log": "/path/runs.log", "hold": seconds to stay running (ignores cancels, like real
work), "holdAttempts": hold only in attempts 1..N, "holdFirstRun": hold only in the job's first
run, "failAttempts": fail attempts 1..N}. Each run appends `jobId attempt pid start` when it
begins and `jobId attempt pid end` when it returns; one write per line with O_APPEND, so lines
from many processes never interleave.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from jobgraph.tasks.context import JobContext

ENTRYPOINT = "tests.production.recorder:record"


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def record(ctx: JobContext) -> Any:
    options = ctx.input if isinstance(ctx.input, dict) else {}
    log = str(options["log"])
    first_run = options.get("holdFirstRun") and not any(key[0] == ctx.job_id for key in runs(Path(log)))
    _append(log, f"{ctx.job_id} {ctx.attempt} {os.getpid()} start")
    hold = float(options.get("hold", 0))
    if "holdAttempts" in options and ctx.attempt > int(options["holdAttempts"]):
        hold = 0
    if options.get("holdFirstRun") and not first_run:
        hold = 0
    if hold:
        ctx.message("holding")  # an event the test can wait on: the plugin is running
        time.sleep(hold)
    if ctx.attempt <= int(options.get("failAttempts", 0)):
        raise RuntimeError(f"failing attempt {ctx.attempt}, as asked")
    _append(log, f"{ctx.job_id} {ctx.attempt} {os.getpid()} end")
    return {"attempt": ctx.attempt}


def runs(log: Path) -> Counter[tuple[str, int, str]]:
    """(jobId, attempt, "start" | "end") -> how many times."""
    counts: Counter[tuple[str, int, str]] = Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            job_id, attempt, _pid, phase = line.split()
            counts[(job_id, int(attempt), phase)] += 1
    return counts


def pids(log: Path, job_id: str, attempt: int) -> list[int]:
    found = []
    if log.exists():
        for line in log.read_text().splitlines():
            j, a, pid, phase = line.split()
            if j == job_id and int(a) == attempt and phase == "start":
                found.append(int(pid))
    return found
