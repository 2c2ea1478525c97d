"""Fixtures for the production-path tests: a Redis database number of the test's own (so a
FLUSHDB empties nobody else's), and a cluster of real processes that is always torn down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from jobgraph.resolvers import plugins, users
from tests.production.harness import Cluster

LOCK_KEY = "jobgraph-tests:redis-db-lock:{}"


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


@pytest.fixture
def cluster(tmp_path: Path, pg_schema_url: str, redis_db_url: str) -> Iterator[Cluster]:
    """A migrated database and nothing running yet; every process started is killed at the end."""
    running = Cluster(tmp=tmp_path, database_url=pg_schema_url, redis_url=redis_db_url)
    (tmp_path / "data").mkdir()
    try:
        running.migrate()
        users.ensure_admin(running.rt)
        plugins.register_builtin_plugins(running.rt)
        yield running
    finally:
        running.stop_all()
