"""Runners, driven directly: what a plugin sees, what it reports, how it is stopped."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from jobgraph.tasks.runners import command, docker, python_process, python_thread
from jobgraph.tasks.runners.base import Control


def control(tmp_path: Path, payload: dict | None = None, timeout: float = 0) -> tuple[Control, list]:  # type: ignore[type-arg]
    messages: list[tuple[str, int]] = []
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    payload = payload or {"jobId": "j" * 26, "number": 1, "input": {"x": 1}, "series": [], "attempt": 1}
    (tmp_path / "input" / "job.json").write_text(json.dumps(payload))
    ctl = Control(
        payload=payload,
        work_dir=tmp_path,
        timeout=timeout,
        grace=0.5,
        message=lambda text, status: messages.append((text, status)),
        progress=lambda f, t: None,
    )
    return ctl, messages


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path.parent / f"{tmp_path.name}-plugin.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def test_command_lines_become_messages_and_results_json_the_result(tmp_path: Path) -> None:
    ctl, messages = control(tmp_path)
    argv = script(
        tmp_path,
        """
import json, sys
data = json.load(sys.stdin)
print("got", data["x"])
print("careful", file=sys.stderr)
open("output/results.json", "w").write(json.dumps({"double": data["x"] * 2}))
open("output/report.txt", "w").write("r")
""",
    )
    outcome = command.run(ctl, argv)
    assert (outcome.kind, outcome.result) == ("finished", {"double": 2})
    assert sorted(messages) == [("careful", 2), ("got 1", 1)]


def test_a_command_that_exits_non_zero_fails(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path)
    outcome = command.run(ctl, script(tmp_path, "import sys; sys.exit(3)"))
    assert (outcome.kind, outcome.error) == ("failed", "the command failed (exit code 3)")


def test_a_missing_program_fails_with_its_name(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path)
    outcome = command.run(ctl, ["/no/such/program"])
    assert outcome.kind == "failed" and "cannot start '/no/such/program'" in outcome.error


def test_bad_results_json_fails(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path)
    outcome = command.run(ctl, script(tmp_path, "open('output/results.json', 'w').write('{nope')"))
    assert outcome.kind == "failed" and "results.json is not valid JSON" in outcome.error


def test_a_stop_reaches_the_children_a_command_started(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path)
    marker = tmp_path / "child-alive"
    argv = script(
        tmp_path,
        f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()"])
print("started", flush=True)
time.sleep(60)
""",
    )
    threading.Timer(0.5, ctl.stop, args=("cancel",)).start()
    started = time.monotonic()
    outcome = command.run(ctl, argv)
    assert outcome.kind == "cancelled" and time.monotonic() - started < 2.5
    time.sleep(3.5)  # the grandchild would have written its marker by now had it survived
    assert not marker.exists()


def test_the_time_limit_stops_a_python_plugin_in_a_process(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path, timeout=0.5)
    started = time.monotonic()
    outcome = python_process.run(ctl, "jobgraph.plugins.builtin:stubborn")
    assert outcome.kind == "timeout" and time.monotonic() - started < 3


def test_a_python_plugin_in_a_thread_reports_and_returns(tmp_path: Path) -> None:
    ctl, messages = control(tmp_path)
    outcome = python_thread.run(ctl, "jobgraph.plugins.builtin:echo")
    assert outcome.kind == "finished" and outcome.result == {"input": {"x": 1}, "series": []}
    assert messages == [("echoing the input of job " + "j" * 26, 1)]
    assert json.loads((tmp_path / "output" / "echo.json").read_text()) == {"x": 1}


def test_an_unknown_entrypoint_fails_the_attempt(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path)
    outcome = python_process.run(ctl, "jobgraph.plugins.builtin:nothing_here")
    assert outcome.kind == "failed" and "is not a callable" in outcome.error


def test_docker_without_docker_fails_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker.shutil, "which", lambda name: None)  # a worker machine without Docker
    ctl, _ = control(tmp_path)
    outcome = docker.run(ctl, "example/plugin:1")
    assert (outcome.kind, outcome.error) == ("failed", "docker is not installed on this worker")


def test_docker_runs_the_image_with_circus_folders(tmp_path: Path) -> None:
    ctl, _ = control(tmp_path)
    argv = docker.docker_argv(ctl, "example/plugin:1")
    assert argv[-1] == "example/plugin:1"
    assert argv[argv.index("--name") + 1] == "jobgraph-" + "j" * 26 + "-1"
    assert f"{(tmp_path / 'input').resolve()}:/circus/in:ro" in argv
    assert f"{(tmp_path / 'output').resolve()}:/circus/out" in argv
