"""What the README says of Ctrl-C on `jobgraph serve`: a running job is handed back to the
queue, not counted as an attempt, and runs again from the start at the next start."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx

from tests.cli.test_cli import TOKEN, env, free_port, start_serve  # noqa: F401  (env is a fixture)


def gql(port: int, query: str) -> dict:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def test_ctrl_c_hands_a_running_job_back_uncounted(env: dict[str, str]) -> None:  # noqa: F811
    port = free_port()
    process, _ = start_serve(env, port)
    try:
        # One attempt only: were the interruption counted, the job would end failed.
        made = gql(
            port,
            'mutation { createJob(input: {pluginId: "jobgraph.slow", input: {seconds: 600}, attempts: 1}) { jobId number } }',
        )
        job_id = made["createJob"]["jobId"]
        deadline = time.monotonic() + 60
        while gql(port, f'{{ job(jobId: "{job_id}") {{ status }} }}')["job"]["status"] != "running":
            assert time.monotonic() < deadline, "the job never started"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    db = sqlite3.connect(Path(env["JOBGRAPH_TEST_CWD"]) / ".jobgraph" / "jobgraph.db")
    status, retries, worker = db.execute(
        "SELECT status, retries, worker_id FROM jobs WHERE job_id = ?", (job_id,)
    ).fetchone()
    texts = [
        row[0] for row in db.execute("SELECT text FROM messages WHERE job_number = ?", (made["createJob"]["number"],))
    ]
    assert (status, retries, worker) == ("queued", 0, None)
    assert "the worker shut down while the job ran; handed back" in texts
