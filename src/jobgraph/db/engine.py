"""The engine and its sessions.

Sessions are synchronous and short: resolvers run in worker threads (Dramatiq's, or Starlette's
thread pool for the API), so one code path serves GraphQL, REST, the CLI and the workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel

from jobgraph import fastjson
from jobgraph.db import guard


def _normalise_url(url: str) -> str:
    # psycopg 3 is the driver we ship; accept the plain postgres URLs people paste.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One engine; `session()` for reads, `session(write=True)` for read-then-write work."""

    def __init__(
        self, url: str, *, pool_size: int = 10, echo: bool = False, idle_in_transaction_timeout: float | None = None
    ) -> None:
        self.url = _normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # JSON columns read with orjson (fastjson.py: the same values as the standard library).
        kwargs: dict[str, Any] = {"echo": echo, "json_deserializer": fastjson.loads}
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: Engine = create_engine(self.url, **kwargs)
        guard.install()  # no flush sends text or integers the columns cannot hold
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_idle_connections(self.engine)
            if idle_in_transaction_timeout and self.engine.dialect.name == "postgresql":
                _end_idle_transactions(self.engine, idle_in_transaction_timeout)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        On SQLite, reads (the default) run without a transaction, each statement on its own
        snapshot; `write=True` takes the write lock at BEGIN (BEGIN IMMEDIATE): a deferred
        transaction that reads and then writes can fail at once with SQLITE_BUSY under WAL.
        """
        conn = self.engine.connect()
        if write and self.is_sqlite:
            conn = conn.execution_options(sqlite_immediate=True)
        elif self.is_sqlite:
            # Reads skip BEGIN/COMMIT on SQLite. (On PostgreSQL, switching a pooled connection to
            # autocommit and back cost more than the round trips it saves: bench/throughput.py.)
            conn = conn.execution_options(sqlite_read=True)
        try:
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            conn.close()

    def create_all(self) -> None:
        from jobgraph.db import models  # noqa: F401  (registers the tables)

        SQLModel.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        from jobgraph.db import models  # noqa: F401

        SQLModel.metadata.drop_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


IDLE_PING_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """`pool_pre_ping`, for connections idle a while only: a connection in steady use is known
    to work (and a statement that fails on a dropped one invalidates the pool anyway), while a
    ping on every checkout cost a round trip per transaction, several per job."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            dbapi_conn.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc  # the pool connects anew


def _end_idle_transactions(engine: Engine, seconds: float) -> None:
    """PostgreSQL ends a session that sits in a transaction this long: a process frozen (or cut
    off) in the middle of one must not hold its row locks for ever. jobgraph's transactions are
    short; the limit is the time after which a silent worker counts as gone."""
    milliseconds = max(1000, int(seconds * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # a SET inside a transaction that is rolled back would not stay
        try:
            dbapi_conn.execute(f"SET idle_in_transaction_session_timeout = {milliseconds}")
        finally:
            dbapi_conn.autocommit = autocommit


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("sqlite_read", False):
            return  # reads run in autocommit: each statement its own snapshot
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN")


__all__ = ["Database", "NullPool"]
