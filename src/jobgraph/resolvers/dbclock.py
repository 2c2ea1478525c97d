"""The database's clock: every process that stamps a job or judges a heartbeat reads the same
one, so workers on machines whose clocks drift still agree on "due", "stale" and "dead".

`db_now()` is an SQL expression: `now()` on PostgreSQL (the transaction's start), and on SQLite,
which is embedded in the one process that uses it, the same clock in SQLAlchemy's text format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from jobgraph.clock import as_utc
from jobgraph.db.types import UTCDateTime


class db_now(FunctionElement[Any]):
    type = UTCDateTime()
    inherit_cache = True
    name = "db_now"


@compiles(db_now)
def _now_default(element: db_now, compiler: Any, **kw: Any) -> str:
    return "now()"


@compiles(db_now, "sqlite")
def _now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy's own text format for SQLite datetimes (microseconds, six digits), so stored
    # values compare equal to the ones it binds; SQLite's clock has milliseconds.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def current_time(s: Any) -> datetime:
    """The database's time, read in session `s` (for the rarer paths that build rows in Python)."""
    value = as_utc(s.execute(select(db_now())).scalar_one())
    assert value is not None
    return value
