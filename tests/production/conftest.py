"""Fixtures for the production-path tests: a Redis database number of the test's own (so a
FLUSHDB empties nobody else's), and a cluster of real processes that is always torn down.

Fault tests that restart, stop or kill a server use servers of their own (`own_postgres`,
`own_redis`, `own_cluster`: tests/production/own_services.py), never the machine's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from jobgraph.resolvers import plugins, users
from tests.conftest import IN_CI
from tests.production import own_services
from tests.production.harness import Cluster
from tests.support import unit_call

LOCK_KEY = "jobgraph-tests:redis-db-lock:{}"
Server = TypeVar("Server", own_services.PostgresServer, own_services.RedisServer)


@pytest.fixture
def redis_db_url(redis_url: str) -> Iterator[str]:
    """`redis_url` (the conftest's: skips, or fails in CI, without Redis) on a database number
    1-15 that this test holds a lock on, emptied before and after."""
    base = redis.Redis.from_url(redis_url)
    token = uuid.uuid4().hex
    db = None
    for candidate in range(15, 0, -1):
        if base.set(LOCK_KEY.format(candidate), token, nx=True, ex=900):
            db = candidate
            break
    if db is None:
        base.close()
        pytest.fail("every Redis database 1-15 is held by another test run")
    kwargs = base.connection_pool.connection_kwargs
    url = f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{db}"
    own = redis.Redis.from_url(url)
    own.flushdb()
    try:
        yield url
    finally:
        own.flushdb()
        own.close()
        if base.get(LOCK_KEY.format(db)) == token.encode():
            base.delete(LOCK_KEY.format(db))
        base.close()


def _running_cluster(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Cluster]:
    running = Cluster(tmp=tmp_path, database_url=database_url, redis_url=redis_url)
    (tmp_path / "data").mkdir()
    try:
        running.migrate()
        unit_call(running.rt, users.ensure_admin)
        unit_call(running.rt, plugins.register_builtin_plugins)
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def cluster(tmp_path: Path, pg_schema_url: str, redis_db_url: str) -> Iterator[Cluster]:
    """A migrated database and nothing running yet; every process started is killed at the end."""
    yield from _running_cluster(tmp_path, pg_schema_url, redis_db_url)


def _unavailable(exc: Exception) -> None:
    if IN_CI:
        pytest.fail(f"{exc} (in CI these tests must run)")
    pytest.skip(str(exc))


def _own_server(start: Callable[[], Server]) -> Iterator[Server]:
    """A server started for the tests (skipped locally, failed in CI, when it cannot start)."""
    try:
        server = start()
    except own_services.ServiceUnavailable as exc:
        _unavailable(exc)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def own_postgres_server() -> Iterator[own_services.PostgresServer]:
    """One private PostgreSQL cluster for the session (initdb + pg_ctl into /tmp, a port of its
    own); tests use it through `own_postgres`, a database each."""
    yield from _own_server(own_services.start_postgres)


@pytest.fixture
def own_postgres(own_postgres_server: own_services.PostgresServer) -> Iterator[own_services.OwnPostgres]:
    """A new database on the private cluster, with the cluster's restart(), stop(), start(),
    kill() (SIGKILL of the postmaster and its backends); `url` is the database's. Whatever the
    test did to the server, it runs again afterwards, and the database is dropped."""
    own_postgres_server.ensure_running()
    own = own_services.OwnPostgres(own_postgres_server, own_postgres_server.create_database())
    try:
        yield own
    finally:
        own_postgres_server.ensure_running()
        own_postgres_server.drop_database(own.database)


@pytest.fixture
def own_redis() -> Iterator[own_services.RedisServer]:
    """A redis-server of this test's own (a free port, a temporary folder, no persistence),
    with restart(), stop(), start(), flushall(), kill(); `url` is its database 0."""
    yield from _own_server(own_services.start_redis)


@pytest.fixture
def own_cluster(
    tmp_path: Path, own_postgres: own_services.OwnPostgres, own_redis: own_services.RedisServer
) -> Iterator[Cluster]:
    """`cluster` on the test's own PostgreSQL database and Redis server, which it may restart."""
    yield from _running_cluster(tmp_path, own_postgres.url, own_redis.url)
