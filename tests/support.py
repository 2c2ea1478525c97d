"""Test helpers: settings for fast tests, a client for the real app, waiting on job events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from jobgraph.app import create_app
from jobgraph.events import JobEvent
from jobgraph.runtime import Runtime
from jobgraph.settings import Settings

ADMIN_EMAIL = "admin@example.com"
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
ENDED = {"finished", "failed", "cancelled", "invalidated"}


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_email=ADMIN_EMAIL,
        admin_token=ADMIN_TOKEN,
        worker_threads=4,
        retry_backoff_base=0.05,
        retry_backoff_factor=0.0,
        cancel_poll_seconds=0.1,
        sweep_seconds=0.2,
        stale_wake_seconds=0.5,
        worker_heartbeat_seconds=0.2,
        worker_dead_after_seconds=2.0,
        # A busy CI machine can starve a thread for seconds between two statements of a healthy
        # transaction: only the fault tests (tests/production) hold this limit tight.
        idle_transaction_seconds=60.0,
        stop_grace_seconds=0.5,
        auto_migrate=True,
        # Scanning every installed distribution's entry points costs each app start about 0.1 s;
        # tests/plugins turns it on where it is the subject.
        installed_plugins=False,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Api:
    client: TestClient
    token: str = ADMIN_TOKEN

    @classmethod
    @contextmanager
    def start(cls, settings: Settings, **app_options: Any) -> Iterator[Api]:
        app = create_app(settings, announce=lambda text: None, **app_options)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield cls(client)

    @property
    def rt(self) -> Runtime:
        rt: Runtime = self.client.app.state.rt  # type: ignore[attr-defined]
        return rt

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_errors: bool = False,
    ) -> dict[str, Any]:
        """POST a GraphQL operation; fail the test on errors unless they are expected."""
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers(token)
        )
        body: dict[str, Any] = response.json()
        if not expect_errors:
            assert not body.get("errors"), body
            return body["data"]  # type: ignore[no-any-return]
        assert body.get("errors"), body
        return body

    def user(self, email: str, privileges: list[str]) -> str:
        """Create a user with these privileges; returns a token for it."""
        self.gql(
            "mutation($e: String!, $p: [Privilege!]!) { createUser(email: $e, privileges: $p) { email } }",
            {"e": email, "p": privileges},
        )
        data = self.gql('mutation($e: String) { createApiToken(email: $e, name: "test") { secret } }', {"e": email})
        return str(data["createApiToken"]["secret"])

    def create_job(self, plugin_id: str, input: Any = None, token: str | None = None, **fields: Any) -> dict[str, Any]:
        data = self.gql(
            "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId number status } }",
            {"i": {"pluginId": plugin_id, "input": input, **fields}},
            token=token,
        )
        return data["createJob"]  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        data = self.gql(
            "query($id: ID!) { job(jobId: $id) { jobId number status result errorMessage retries attempts "
            "notes worker startedAt finishedAt messages { status text } outputs { id fileName size } } }",
            {"id": job_id},
        )
        return data["job"]  # type: ignore[no-any-return]

    def wait_for(self, job_id: str, statuses: set[str] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Wait (on the event bus, not by sleeping) until the job reaches one of `statuses`."""
        wanted = statuses or ENDED
        wait_for_event(
            self.rt,
            lambda: self.job(job_id)["status"] in wanted,
            lambda e: e.job_id == job_id,
            timeout,
            f"job {job_id} to become {sorted(wanted)}",
        )
        return self.job(job_id)


def wait_for_event(
    rt: Runtime, done: Callable[[], bool], relevant: Callable[[JobEvent], bool], timeout: float, what: str
) -> None:
    """Block until `done()` holds, re-checking whenever a relevant job event is published."""
    changed = threading.Event()
    remove = rt.events.add_listener(lambda e: changed.set() if relevant(e) else None)
    deadline = time.monotonic() + timeout
    try:
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            # The timeout here bounds one wait; events from other processes are re-checked too.
            changed.wait(min(remaining, 0.5))
            changed.clear()
    finally:
        remove()


def unit_call(rt: Runtime, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(unit, *args)` in a write unit of its own, committed when it returns (a test's step)."""
    from jobgraph.unit import unit_of_work

    with unit_of_work(rt, write=True) as u:
        return fn(u, *args, **kwargs)


@dataclass
class Seen:
    """What the API's thread pool sent the database: transactions begun, statements (without
    BEGIN, COMMIT, ROLLBACK and PRAGMA)."""

    transactions: int = 0
    statements: list[str] = field(default_factory=list)


@contextmanager
def in_the_api(api: Api) -> Iterator[Seen]:
    """Transactions begun and statements sent by the API's thread pool (not the workers)."""
    seen = Seen()

    def ours() -> bool:
        return threading.current_thread().name.startswith("AnyIO worker")

    def began(conn: Any) -> None:
        if ours():
            seen.transactions += 1

    def sent(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if ours() and not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            seen.statements.append(statement)

    engine = api.rt.db.engine
    event.listen(engine, "begin", began)
    event.listen(engine, "before_cursor_execute", sent)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", began)
        event.remove(engine, "before_cursor_execute", sent)


@contextmanager
def api_statements(api: Api) -> Iterator[list[str]]:
    """The statements of `in_the_api`, alone."""
    with in_the_api(api) as seen:
        yield seen.statements
