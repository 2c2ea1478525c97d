"""Plugins run with an environment built for them: nothing of the server's settings or secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobgraph.tasks.runners import command
from jobgraph.tasks.runners.environment import allowed, plugin_environment
from tests.tasks.test_pool import ROOT, Job

SECRETS = {"JOBGRAPH_ADMIN_TOKEN": "the-admin-token", "JOBGRAPH_DATABASE_URL": "postgresql://u:pw@db/x", "AWS_SECRET_ACCESS_KEY": "k"}
JOB_VARIABLES = {"JOBGRAPH_JOB_ID", "JOBGRAPH_INPUT_DIR", "JOBGRAPH_OUTPUT_DIR"}


def test_the_environment_keeps_the_allowlist_and_adds_the_jobs_variables() -> None:
    source = {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", **SECRETS}
    env = plugin_environment(source, {"JOBGRAPH_JOB_ID": "j1"})
    assert env == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "JOBGRAPH_JOB_ID": "j1"}
    assert plugin_environment({"DOCKER_HOST": "unix:///x"}, extra=["DOCKER_HOST"]) == {"DOCKER_HOST": "unix:///x"}


def test_a_command_plugin_sees_no_secret_of_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    job = Job(tmp_path / "job")
    outcome = command.run(job.control, ["env"])
    assert outcome.kind == "finished", outcome
    seen = dict(line.split("=", 1) for line in job.messages if "=" in line)
    assert not set(SECRETS) & set(seen)
    assert all(allowed(name) or name in JOB_VARIABLES for name in seen), seen
    assert seen["PATH"] == os.environ["PATH"]
    assert seen["JOBGRAPH_OUTPUT_DIR"] == str(job.control.output_dir)


def test_a_python_plugin_in_a_process_sees_only_the_allowlist(tmp_path: Path) -> None:
    # The pool's children come from a forkserver that has the worker's whole environment.
    assert any(not allowed(name) for name in os.environ), "the test needs a variable to hide"
    outcome = Job(tmp_path / "job").run("environment")
    assert outcome.kind == "finished", outcome
    seen = outcome.result
    assert all(allowed(name) or name in JOB_VARIABLES for name in seen), sorted(seen)
    assert seen["JOBGRAPH_JOB_ID"] == "job"


WORKER = """
import json, sys
from pathlib import Path
from tests.tasks.test_pool import ROOT, Job
outcome = Job(Path(sys.argv[1])).run("initial_environment")
print(json.dumps([outcome.kind, outcome.result]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_python_plugins_process_starts_without_the_workers_secrets(tmp_path: Path) -> None:
    """Not even in /proc/self/environ: its forkserver starts with the plugins' environment."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path / "job")],
        cwd=ROOT,
        env={**os.environ, **SECRETS, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    kind, names = json.loads(done.stdout.splitlines()[-1])
    assert kind == "finished"
    assert not set(SECRETS) & set(names)
    assert all(allowed(name) for name in names), names


def test_a_plugins_declared_variables_reach_its_runs_and_no_further(tmp_path: Path) -> None:
    first = Job(tmp_path / "first")
    first.control.env = {"PLUGIN_API_KEY": "k1"}
    outcome = first.run("variables")
    assert outcome.result["environ"] == {"PLUGIN_API_KEY": "k1"}
    assert outcome.result["ctx"]["PLUGIN_API_KEY"] == "k1"
    assert outcome.result["ctx"]["JOBGRAPH_JOB_ID"] == "first"
    # The next job on the (same, warm) child does not inherit them.
    assert Job(tmp_path / "second").run("variables").result["environ"] == {}


def test_a_thread_plugin_gets_its_variables_through_its_context(tmp_path: Path) -> None:
    from jobgraph.tasks.runners import python_thread

    job = Job(tmp_path / "job")
    job.control.env = {"PLUGIN_API_KEY": "k1"}
    outcome = python_thread.run(job.control, "tests.plugins_for_tests.pool_plugins:variables")
    assert outcome.result["ctx"]["PLUGIN_API_KEY"] == "k1"
    assert "PLUGIN_API_KEY" not in os.environ  # the worker's own environment is not touched


def test_a_command_plugin_gets_its_declared_variables(tmp_path: Path) -> None:
    job = Job(tmp_path / "job")
    job.control.env = {"PLUGIN_API_KEY": "k1"}
    command.run(job.control, ["sh", "-c", "echo key=$PLUGIN_API_KEY"])
    assert "key=k1" in job.messages
