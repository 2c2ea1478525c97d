"""Fixtures: a real app (embedded workers) on SQLite or on the local PostgreSQL.

PostgreSQL tests get a schema of their own per test (search_path), dropped afterwards, so
suites stay isolated without creating databases. Where PostgreSQL is not there they skip,
except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, Api, make_settings

PG_URL = os.environ.get("JOBGRAPH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JOBGRAPH_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {type(exc).__name__}: {exc}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a new, empty schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        _unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both databases: lifecycle tests run once on each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobgraph.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app on SQLite, embedded workers running, as the admin."""
    with Api.start(make_settings(tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}")) as running:
        yield running


@pytest.fixture
def any_api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    """The app on each database in turn (SQLite, PostgreSQL), embedded workers running."""
    with Api.start(make_settings(tmp_path, database_url)) as running:
        yield running


__all__ = ["ADMIN_EMAIL", "ADMIN_TOKEN"]
