"""Use cases against a real database (SQLite, then PostgreSQL), without the app or workers:
a Runtime that records wake-ups instead of sending them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobgraph.db import migrate
from jobgraph.resolvers import plugins, users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime, build_runtime
from tests.support import ADMIN_EMAIL, make_settings, unit_call


@dataclass
class RecordingDispatcher:
    wakes: list[tuple[str, int | None]] = field(default_factory=list)

    def wake(self, queue: str, delay_ms: int | None = None) -> None:
        self.wakes.append((queue, delay_ms))


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    yield from use_case_runtime(tmp_path, database_url)


def use_case_runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    """A migrated database with the admin and the built-in plugins, for the span of a fixture."""
    runtime = build_runtime(make_settings(tmp_path, database_url), dispatcher=RecordingDispatcher())
    migrate.upgrade(runtime.db)
    unit_call(runtime, users.ensure_admin)
    unit_call(runtime, plugins.register_builtin_plugins)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def admin(rt: Runtime) -> Viewer:
    return unit_call(rt, users.viewer_for_email, ADMIN_EMAIL)


def wakes(rt: Runtime) -> list[tuple[str, int | None]]:
    dispatcher = rt.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    return dispatcher.wakes
