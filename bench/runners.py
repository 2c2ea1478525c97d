"""Runners: what each way of running a plugin costs per job, over running a no-op function in
the worker's thread, without the queue (no database, no Redis, no worker).

    python bench/runners.py [--runs 100] [--warmup 5] [--only thread,process,command]

In this one process, each runner's `run` is called directly, one job after another, as the
executor calls it: python_thread.run(control, entrypoint), python_process.run(control,
entrypoint) and command.run(control, argv), with a Control built like the executor's (a work
folder with input/job.json and an empty output/, no time limit, messages and progress dropped).
Plugins: jobgraph.plugins.builtin:noop and :echo (a message, an output file, a result) for the
python runners; `true` and `sh -c 'cat >/dev/null'` (reads its input) for the command runner.
Each case: `--warmup` runs first (not counted; the first, cold, is shown apart: a process pool
or forkserver starts there), then `--runs` timed ones; median and p99 ms per job, and the
overhead over python_thread noop (the baseline) as a ratio and in ms. Only the runner's call is
timed: the work folder is prepared before it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import jobgraph_source, median, percentile

NOOP = "jobgraph.plugins.builtin:noop"
ECHO = "jobgraph.plugins.builtin:echo"


def control_for(work_dir: Path, number: int) -> Any:
    """A fresh work folder and a Control for one job, as the executor makes them."""
    from jobgraph.tasks.runners.base import Control

    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "input").mkdir(parents=True)
    (work_dir / "output").mkdir(parents=True)
    payload = {
        "jobId": f"bench{number:021d}",
        "number": number,
        "pluginId": "bench",
        "input": {"n": number, "text": "x" * 200},
        "series": [],
        "attempt": 1,
        "queue": "default",
    }
    (work_dir / "input" / "job.json").write_text(json.dumps(payload, indent=2))
    return Control(
        payload=payload,
        work_dir=work_dir,
        timeout=0.0,
        grace=1.0,
        message=lambda text, status: None,
        progress=lambda fraction, text: None,
    )


def cases(only: set[str]) -> list[tuple[str, str, Callable[[Any], Any]]]:
    """(group, name, run(control) -> Outcome); the first is the baseline."""
    from jobgraph.tasks.runners import command, python_process, python_thread

    found: list[tuple[str, str, Callable[[Any], Any]]] = [
        ("thread", "python_thread noop (baseline)", lambda c: python_thread.run(c, NOOP)),
        ("thread", "python_thread echo", lambda c: python_thread.run(c, ECHO)),
        ("process", "python_process noop", lambda c: python_process.run(c, NOOP)),
        ("process", "python_process echo", lambda c: python_process.run(c, ECHO)),
        ("command", "command ['true']", lambda c: command.run(c, ["true"])),
        ("command", "command ['sh', '-c', 'cat >/dev/null']", lambda c: command.run(c, ["sh", "-c", "cat >/dev/null"])),
    ]
    return [case for i, case in enumerate(found) if i == 0 or case[0] in only]


def measure(run: Callable[[Any], Any], tmp: Path, runs: int, warmup: int) -> tuple[float, list[float]]:
    """(the first call's ms, the timed calls' ms); every outcome must be `finished`."""
    times = []
    first = 0.0
    for n in range(warmup + runs):
        control = control_for(tmp / f"job{n % 2}", n + 1)
        started = time.perf_counter()
        outcome = run(control)
        elapsed = (time.perf_counter() - started) * 1000
        if outcome.kind != "finished":
            raise SystemExit(f"the runner said {outcome.kind}: {outcome.error}")
        if n == 0:
            first = elapsed
        if n >= warmup:
            times.append(elapsed)
    return first, times


def shut_down_pools() -> None:
    """A warm process pool, if the python_process runner keeps one, is stopped at the end."""
    from jobgraph.tasks.runners import python_process

    for name in ("shutdown", "close", "stop_pool", "shutdown_pool"):
        stop = getattr(python_process, name, None)
        if callable(stop):
            try:
                stop()
            except TypeError:
                continue
            return


def descendants(pid: int) -> list[int]:
    """This process's children, their children...: what the runners started and left."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_leftovers() -> None:
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100, help="timed runs per case (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="runs before the timed ones (default 5)")
    parser.add_argument("--only", default="thread,process,command", help="groups besides the baseline")
    args = parser.parse_args()
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    # A multiprocessing child imports its parent's __main__ again, unless that is a package's
    # __main__ (the worker runs as `python -m jobgraph`, so its children do not): look like one,
    # or python_process would count importing this script (and _cluster) in every child.
    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("jobgraph_bench.__main__", None)
    tmp = Path(tempfile.mkdtemp(prefix="jobgraph-bench-runners-"))
    results: dict[str, tuple[float, list[float]]] = {}
    try:
        for _, name, run in cases(only):
            results[name] = measure(run, tmp, args.runs, max(1, args.warmup))
    finally:
        shut_down_pools()
        kill_leftovers()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"runners: {args.runs} jobs per case after {max(1, args.warmup)} not counted, one at a time, in one process")
    print(f"  jobgraph: {jobgraph_source()}")
    base_name = next(iter(results))
    base50, base99 = median(results[base_name][1]), percentile(results[base_name][1], 99)
    print(f"  {'':<42} {'p50 ms':>8} {'p99 ms':>8} {'x base':>8} {'+ms p50':>8} {'first ms':>9}")
    for name, (first, times) in results.items():
        p50, p99 = median(times), percentile(times, 99)
        ratio = "" if name == base_name else f"{p50 / base50:8.1f}"
        extra = "" if name == base_name else f"{p50 - base50:+8.2f}"
        print(f"  {name:<42} {p50:>8.2f} {p99:>8.2f} {ratio:>8} {extra:>8} {first:>9.1f}")
    print(f"  (x base and +ms: p50 against python_thread noop's {base50:.2f} ms; its p99 {base99:.2f} ms)")


if __name__ == "__main__":
    main()
