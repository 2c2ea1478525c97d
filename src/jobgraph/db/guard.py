"""The last line of the input limits: no ORM write sends the database text it would refuse.

Use cases check what they are given (resolvers/limits.py) with messages of their own; this
`before_flush` hook catches whatever one of them missed, for every table at once: a string
longer than its VARCHAR column (PostgreSQL refuses it, SQLite would store it), a NUL character
(PostgreSQL refuses it in any text), a lone surrogate (not UTF-8), or an integer outside the
INTEGER columns. It raises BadInput, so a miss is a 400 with a message, never a 500 from the
driver. (Core statements, such as the batch insert of jobs, are checked by their use cases.)
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, String, event
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.types import TypeDecorator

from jobgraph.errors import BadInput
from jobgraph.resolvers.limits import INT_MAX, INT_MIN, text_problem


@cache
def _checked_columns(table: Any) -> tuple[tuple[str, str, int | None], ...]:
    """(attribute, kind, length) of the table's String and Integer columns (BIGINT: 8 bytes)."""
    columns = []
    for column in table.columns:
        sql_type = column.type
        if isinstance(sql_type, TypeDecorator):  # SQLModel's AutoString, for one
            sql_type = sql_type.impl_instance
        if isinstance(sql_type, String):
            columns.append((column.key, "text", sql_type.length))
        elif isinstance(sql_type, BigInteger):
            columns.append((column.key, "bigint", None))
        elif isinstance(sql_type, Integer):
            columns.append((column.key, "integer", None))
    return tuple(columns)


def check_row(obj: Any) -> None:
    table = getattr(type(obj), "__table__", None)
    if table is None:
        return
    for key, kind, length in _checked_columns(table):
        value = obj.__dict__.get(key)
        if value is None:
            continue
        if kind == "text" and isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise BadInput(f"{_name(key)} {problem}")
            if length is not None and len(value) > length:
                raise BadInput(f"{_name(key)} is at most {length} characters (it has {len(value)})")
        elif kind in ("integer", "bigint") and isinstance(value, int):
            low, high = (INT_MIN, INT_MAX) if kind == "integer" else (-(2**63), 2**63 - 1)
            if not low <= value <= high:
                raise BadInput(f"{_name(key)} must be from {low} to {high}")


def _name(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.capitalize() for word in rest)  # the API's spelling: run_level -> runLevel


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        check_row(obj)


def install() -> None:
    """Check every flush of every session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
