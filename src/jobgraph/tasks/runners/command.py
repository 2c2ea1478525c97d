"""Run a command plugin: the input as JSON on stdin and in input/job.json, an output/ folder
beside it; stdout lines are info messages, stderr lines warnings; exit 0 succeeds;
output/results.json, if present, is the result.

The command runs in its own process group, so a stop reaches everything it started: SIGTERM
first, SIGKILL after the grace period. Should the worker die instead, or freeze past its fence
deadline, the reaper kills that group. (Not PR_SET_PDEATHSIG: it needs a function between fork
and exec, which makes Popen fork instead of vfork, 3 ms or more per start, and it reaches only
the first process of the group.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from jobgraph.tasks.runners import reaper
from jobgraph.tasks.runners.base import Control, Outcome
from jobgraph.tasks.runners.environment import job_variables, plugin_environment

MAX_LINE = 10_000


def _pump(stream: IO[bytes], status: int, control: Control) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line:
            control.message(line[:MAX_LINE], status)
    stream.close()


def _kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def run(
    control: Control, argv: list[str], *, also_allow: Iterable[str] = (), on_stop: Callable[[], None] | None = None
) -> Outcome:
    """Run `argv` with the environment built for plugins (and the worker's variables named in
    `also_allow`); `on_stop` also runs when it is stopped (for what lives outside its group)."""
    job_json = json.dumps(control.payload.get("input"))
    job = {**control.env, **job_variables(control.payload.get("jobId"), control.input_dir, control.output_dir)}
    try:
        process = subprocess.Popen(
            argv,
            cwd=control.work_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=plugin_environment(os.environ, job, extra=also_allow),
        )
    except OSError as exc:
        return Outcome("failed", error=f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    reaper.watch(process.pid)  # its group (start_new_session: the group id is its pid)
    try:
        return _supervise(control, process, job_json, on_stop)
    finally:
        reaper.unwatch(process.pid)


def _supervise(
    control: Control, process: subprocess.Popen[bytes], job_json: str, on_stop: Callable[[], None] | None
) -> Outcome:
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, 1, control), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, 2, control), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    threading.Thread(target=_feed, args=(process.stdin, job_json), daemon=True).start()

    asked_at: float | None = None
    timed_out = False
    while process.poll() is None:
        if asked_at is None and (control.stop_event.is_set() or control.timed_out()):
            timed_out = not control.stop_event.is_set()
            asked_at = time.monotonic()
            _kill_group(process, signal.SIGTERM)
            if on_stop is not None:
                threading.Thread(target=on_stop, daemon=True).start()
        elif asked_at is not None and time.monotonic() - asked_at > control.grace:
            _kill_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.05)  # returns as soon as it ends: a short command costs no extra tick
    _kill_group(process, signal.SIGKILL)  # anything it left behind in its group
    for pump in pumps:
        pump.join(timeout=2)

    if timed_out:
        return control.timeout_outcome()
    if asked_at is not None:
        return control.stopped_outcome()
    if process.returncode != 0:
        how = f"signal {-process.returncode}" if process.returncode < 0 else f"exit code {process.returncode}"
        return Outcome("failed", error=f"the command failed ({how})")
    return _result(control)


def _feed(stdin: IO[bytes] | None, text: str) -> None:
    if stdin is None:
        return
    try:
        stdin.write(text.encode())
        stdin.close()
    except (BrokenPipeError, OSError):
        pass  # a command that does not read its input is fine


def _result(control: Control) -> Outcome:
    path = control.output_dir / "results.json"
    if not path.exists():
        return Outcome("finished", result=None)
    try:
        result: Any = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        return Outcome("failed", error=f"output/results.json is not valid JSON: {exc}")
    return Outcome("finished", result=result)
