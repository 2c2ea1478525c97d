"""`column IN (the keys given at execution)`, as each database runs it best.

An expanding `IN` renders a new statement text per number of keys: SQLAlchemy renders it on
every execution, psycopg parses it again (its query cache skips long texts) and PostgreSQL plans
it again. On PostgreSQL, `column = ANY(%(keys)s)` with one array parameter is the same text
every time: parsed once, prepared by psycopg after a few runs. SQLite keeps the expanding IN.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InKeys(ColumnElement[bool]):
    """True where `column` is one of the list bound to `name` at execution."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: Any, name: str = "keys") -> None:
        self.column = column
        self.name = name


def in_keys(column: Any, name: str = "keys") -> ColumnElement[bool]:
    return InKeys(column, name)


@compiles(InKeys)
def _expanding_in(element: InKeys, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw))


@compiles(InKeys, "postgresql")
def _any_array(element: InKeys, compiler: Any, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return str(compiler.process(element.column == any_(array), **kw))
