"""A user's mistake at the command line: one line saying what is wrong and what is allowed,
exit code 2, never a traceback nor the names the command uses inside its GraphQL requests.
And `jobgraph --help` answers without loading the server's libraries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobgraph.cli.remote import _plain

ROOT = Path(__file__).resolve().parents[2]


def jobgraph(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBGRAPH_")}
    # No server on this port: each mistake must be caught before anything is asked of one.
    env |= {"JOBGRAPH_URL": "http://127.0.0.1:9", "JOBGRAPH_TOKEN": "a-token", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "jobgraph", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_a_missing_input_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = jobgraph(tmp_path, "job", "submit", "jobgraph.echo", "-i", "@missing.json")
    assert done.returncode == 2, done.stderr
    assert done.stderr == "error: --input @missing.json: cannot read 'missing.json': No such file or directory\n"
    assert done.stdout == ""


def test_bad_json_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    done = jobgraph(tmp_path, "job", "submit", "jobgraph.echo", "-i", "@bad.json")
    assert done.returncode == 2 and done.stderr.startswith("error: --input is not valid JSON: ")
    assert len(done.stderr.splitlines()) == 1


def test_an_unknown_status_names_the_allowed_ones(tmp_path: Path) -> None:
    for args in (["job", "list"], ["job", "bulk", "retry"]):
        done = jobgraph(tmp_path, *args, "--status", "bogus")
        assert done.returncode == 2, done.stderr
        assert "'bogus' is not one of 'queued', 'running', 'finished', 'failed', 'cancelled', 'invalidated'" in (
            done.stderr
        )
        assert "Traceback" not in done.stderr and "$f" not in done.stderr and "JobFilter" not in done.stderr


def test_graphql_variable_errors_are_told_without_the_variable_names() -> None:
    message = (
        "Variable '$f' got invalid value 'bogus' at 'f.status[0]'; Value 'bogus' does not exist in 'JobStatus' enum."
    )
    assert _plain(message) == "Value 'bogus' does not exist in 'JobStatus' enum."
    assert _plain("no job 'x'") == "no job 'x'"


def test_help_loads_none_of_the_server_s_libraries(tmp_path: Path) -> None:
    """What made `jobgraph --help` take 2 s: it now imports the CLI framework only."""
    heavy = ["sqlalchemy", "sqlmodel", "strawberry", "dramatiq", "uvicorn", "starlette", "pydantic", "httpx", "rich"]
    probe = (
        "import sys\n"
        "sys.argv = ['jobgraph', '--help']\n"
        "from jobgraph.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Commands:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
