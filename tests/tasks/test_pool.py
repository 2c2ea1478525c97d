"""The warm process pool of python plugins, and the reaper: what a user would notice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobgraph.tasks.runners import pool, python_process
from jobgraph.tasks.runners.base import Control

PLUGINS = "tests.plugins_for_tests.pool_plugins"
ROOT = Path(__file__).resolve().parents[2]


class Job:
    """A Control for one attempt, with what the plugin said and an event per message."""

    def __init__(self, work_dir: Path, timeout: float = 0, input: Any = None) -> None:
        (work_dir / "input").mkdir(parents=True)
        (work_dir / "output").mkdir()
        self.messages: list[str] = []
        self.said = threading.Event()
        payload = {"jobId": work_dir.name, "number": 1, "input": input, "series": [], "attempt": 1}
        self.control = Control(
            payload=payload,
            work_dir=work_dir,
            timeout=timeout,
            grace=0.5,
            message=self._message,
            progress=lambda f, t: None,
        )

    def _message(self, text: str, status: int) -> None:
        self.messages.append(text)
        self.said.set()

    def run(self, function: str) -> Any:
        return python_process.run(self.control, f"{PLUGINS}:{function}")

    def stop_when_it_speaks(self, reason: str = "cancel") -> list[float]:
        """Stop the job once the plugin said its first message; returns [time of the stop]."""
        stopped_at: list[float] = []

        def stop() -> None:
            assert self.said.wait(30), "the plugin never started"
            stopped_at.append(time.monotonic())
            self.control.stop(reason)

        threading.Thread(target=stop, daemon=True).start()
        return stopped_at

    def pid(self) -> int:
        return int(self.messages[0].split()[1])


def whoami(tmp_path: Path, name: str) -> dict[str, Any]:
    outcome = Job(tmp_path / name).run("whoami")
    assert outcome.kind == "finished", outcome
    result: dict[str, Any] = outcome.result
    return result


def test_a_warm_child_serves_jobs_in_a_row_each_in_its_own_folder(tmp_path: Path) -> None:
    results = [whoami(tmp_path, f"job{i}") for i in range(4)]
    assert len({r["pid"] for r in results}) == 1  # one process
    assert len({r["importId"] for r in results}) == 1  # the plugin's module imported once
    assert [r["calls"] for r in results] == list(range(results[0]["calls"], results[0]["calls"] + 4))
    for i, r in enumerate(results):
        assert r["cwd"] == str(tmp_path / f"job{i}")
        assert r["leaked"] is None  # the former job's environment did not reach it
        assert (tmp_path / f"job{i}" / "output" / "who.txt").read_text() == f"job{i}"


def test_a_plugin_exception_fails_only_that_attempt(tmp_path: Path) -> None:
    before = whoami(tmp_path, "before")
    outcome = Job(tmp_path / "bad").run("raises")
    assert (outcome.kind, outcome.error) == ("failed", "ValueError: the plugin's own bug")
    assert whoami(tmp_path, "after")["pid"] == before["pid"]


def test_a_cancel_kills_a_plugin_that_ignores_it_and_the_next_job_runs(tmp_path: Path) -> None:
    job = Job(tmp_path / "busy")
    stopped_at = job.stop_when_it_speaks()
    outcome = job.run("busy_announced")
    assert outcome.kind == "cancelled"
    assert time.monotonic() - stopped_at[0] < 2
    after = whoami(tmp_path, "after")
    assert after["pid"] != job.pid()  # that child was killed; a fresh one took the next job


def test_a_plugin_that_honours_a_cancel_keeps_its_child(tmp_path: Path) -> None:
    job = Job(tmp_path / "polite")
    stopped_at = job.stop_when_it_speaks()
    outcome = job.run("polite_announced")
    assert outcome.kind == "cancelled" and time.monotonic() - stopped_at[0] < 2
    assert whoami(tmp_path, "after")["pid"] == job.pid()


def test_a_fence_stops_the_plugin_as_a_fence(tmp_path: Path) -> None:
    job = Job(tmp_path / "fenced")
    job.stop_when_it_speaks("fence")
    outcome = job.run("busy_announced")
    assert outcome.kind == "fenced" and outcome.error.startswith("the worker fenced itself")


def test_the_time_limit_stops_a_plugin_and_the_next_job_runs(tmp_path: Path) -> None:
    job = Job(tmp_path / "slow", timeout=0.5)
    started = time.monotonic()
    outcome = python_process.run(job.control, "jobgraph.plugins.builtin:stubborn")
    assert outcome.kind == "timeout" and time.monotonic() - started < 4
    assert whoami(tmp_path, "after")["calls"] >= 1


def test_a_crash_gives_a_crash_outcome_and_the_next_job_a_fresh_child(tmp_path: Path) -> None:
    job = Job(tmp_path / "crash")
    outcome = job.run("crash_announced")
    assert (outcome.kind, outcome.error) == ("crash", "the plugin process died (exit code 13)")
    assert whoami(tmp_path, "after")["pid"] != job.pid()


def test_a_child_whose_plugin_left_a_thread_running_is_not_reused(tmp_path: Path) -> None:
    outcome = Job(tmp_path / "threads").run("leaves_a_thread")
    assert outcome.kind == "finished"
    assert whoami(tmp_path, "after")["pid"] != outcome.result


def test_concurrent_jobs_each_get_their_own_child(tmp_path: Path) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    outcomes: list[Any] = []

    def one(i: int) -> None:
        outcomes.append(Job(tmp_path / f"job{i}", input={"dir": str(meeting), "n": 3}).run("rendezvous"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [o.kind for o in outcomes] == ["finished"] * 3, outcomes
    assert len({o.result for o in outcomes}) == 3
    assert pool._pool.counts()[0] >= 3  # all three kept, idle, for the next jobs


def test_shutdown_kills_the_idle_children(tmp_path: Path) -> None:
    pid = whoami(tmp_path, "one")["pid"]
    python_process.shutdown_pool()
    assert pool._pool.counts() == (0, 0)
    assert wait_until(lambda: not alive(pid))
    assert whoami(tmp_path, "two")["pid"] != pid  # the pool starts again on demand


# -- a plugin's processes do not outlive their worker


WORKER = """
import sys
from pathlib import Path
from jobgraph.tasks.runners import command, python_process, reaper
from jobgraph.tasks.runners.base import Control

def say(text, status):
    print(text, flush=True)

work = Path(sys.argv[2])
(work / "output").mkdir(parents=True)
control = Control(payload={"jobId": "j", "number": 1}, work_dir=work, timeout=0, grace=0.5, message=say, progress=lambda f, t: None)
if sys.argv[1] == "command":
    command.run(control, ["sh", "-c", "echo pids $$; sleep 300 & sleep 300"])
elif sys.argv[1] == "python":
    python_process.run(control, "tests.plugins_for_tests.pool_plugins:spawns_and_blocks")
elif sys.argv[1] == "on_death":
    reaper.on_death("marker", ["touch", str(work / "marker")])
    print("pids 0", flush=True)
    sys.stdin.read()
elif sys.argv[1] == "exit":
    command.run(control, ["true"])
    print("pids", reaper._reaper._process.pid, flush=True)
"""


def start_worker(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    """A worker-like process running one plugin; returns it and the first pid the plugin said."""
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, mode, str(tmp_path / "work")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    line = worker.stdout.readline()
    assert line.startswith("pids "), line
    return worker, int(line.split()[1])


def members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("kind", ["command", "python"])
def test_a_plugins_processes_die_with_a_killed_worker(tmp_path: Path, kind: str) -> None:
    worker, pgid = start_worker(tmp_path, kind)
    try:
        assert wait_until(lambda: len(members(pgid)) >= 2, 10)  # the plugin and its subprocess
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert wait_until(lambda: not members(pgid), 5), f"left running: {members(pgid)}"
    finally:
        worker.kill()
        worker.wait(10)
        if members(pgid):
            os.killpg(pgid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_reaper_runs_the_cleanup_commands_of_a_killed_worker(tmp_path: Path) -> None:
    worker, _ = start_worker(tmp_path, "on_death")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert wait_until((tmp_path / "work" / "marker").exists, 5)  # e.g. `docker kill NAME`


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_that_exits_is_not_held_up_and_its_reaper_leaves_too(tmp_path: Path) -> None:
    worker, reaper_pid = start_worker(tmp_path, "exit")
    assert worker.wait(10) == 0
    assert wait_until(lambda: not alive(reaper_pid), 5)
    assert not (tmp_path / "work" / "marker").exists()
