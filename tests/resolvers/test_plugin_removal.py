"""Removing a plugin while a job for it is being made, on PostgreSQL (SQLite has one writer at a
time): the job either waits and then finds no plugin, or is counted and refuses the removal.
Never a foreign-key error."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from jobgraph.errors import Conflict, DomainError, NotFound
from jobgraph.resolvers import jobs, plugins, users
from jobgraph.resolvers.jobs import JobSpec
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from jobgraph.unit import unit_of_work
from tests.resolvers.conftest import use_case_runtime
from tests.support import ADMIN_EMAIL, unit_call

PLUGIN = "jobgraph.noop"
WAIT_SECONDS = 30  # a busy machine: generous


@pytest.fixture
def pg_rt(tmp_path: Path, pg_schema_url: str) -> Iterator[Runtime]:
    yield from use_case_runtime(tmp_path, pg_schema_url)


def wait_until_blocked(rt: Runtime, pid: int) -> None:
    """Until backend `pid` waits for a lock another session holds (an event polled, bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    with rt.db.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(text("SELECT cardinality(pg_blocking_pids(:pid))"), {"pid": pid}).scalar():
                return
            conn.rollback()
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


def in_thread(rt: Runtime, action: object) -> tuple[threading.Thread, queue.Queue[object]]:
    """Run `action(unit)` in a write unit on another thread; its backend pid, then its outcome
    (a value or the exception), arrive on the queue."""
    results: queue.Queue[object] = queue.Queue()

    def run() -> None:
        try:
            with unit_of_work(rt, write=True) as u:
                results.put(u.session.execute(text("SELECT pg_backend_pid()")).scalar())
                results.put(action(u))  # type: ignore[operator]
        except Exception as exc:
            results.put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


def test_a_job_made_while_its_plugin_is_removed_finds_no_plugin(pg_rt: Runtime) -> None:
    admin: Viewer = unit_call(pg_rt, users.viewer_for_email, ADMIN_EMAIL)
    with unit_of_work(pg_rt, write=True) as remover:
        plugins.remove_plugin(remover, admin, PLUGIN)  # deleted, not yet committed
        thread, results = in_thread(pg_rt, lambda u: jobs.create_jobs(u, admin, [JobSpec(plugin_id=PLUGIN)]))
        pid = results.get(timeout=WAIT_SECONDS)
        assert isinstance(pid, int), pid
        wait_until_blocked(pg_rt, pid)
    thread.join(WAIT_SECONDS)
    outcome = results.get(timeout=WAIT_SECONDS)
    assert isinstance(outcome, NotFound), outcome
    assert f"no plugin {PLUGIN!r}" in outcome.message


def test_a_plugin_removed_while_a_job_for_it_is_made_is_kept(pg_rt: Runtime) -> None:
    admin: Viewer = unit_call(pg_rt, users.viewer_for_email, ADMIN_EMAIL)
    with unit_of_work(pg_rt, write=True) as maker:
        jobs.create_jobs(maker, admin, [JobSpec(plugin_id=PLUGIN)])  # inserted, not yet committed
        thread, results = in_thread(pg_rt, lambda u: plugins.remove_plugin(u, admin, PLUGIN))
        pid = results.get(timeout=WAIT_SECONDS)
        assert isinstance(pid, int), pid
        wait_until_blocked(pg_rt, pid)
    thread.join(WAIT_SECONDS)
    outcome = results.get(timeout=WAIT_SECONDS)
    assert isinstance(outcome, Conflict), outcome
    assert isinstance(outcome, DomainError) and "has 1 job" in outcome.message
