"""JSON containment (`document @> value`), PostgreSQL's jsonb rule, on both databases and in
memory: an object contains an object whose every key it has with a contained value; an array
contains an array whose every element some element of it contains, in any order; a scalar
contains an equal scalar (1 and 1.0 are equal, true is not 1); and, at the top level only, an
array contains a scalar that is one of its elements.

PostgreSQL answers with `@>` (and a GIN index); SQLite with json_each() subqueries, one per
key or element of `value`; `contains` is the same rule in Python, for what is already read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, and_, cast, exists, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles

_SQLITE_TYPES = {bool: ("true", "false"), str: ("text",), int: ("integer", "real"), float: ("integer", "real")}


def contains(document: Any, value: Any) -> bool:
    if isinstance(document, list) and not isinstance(value, dict | list):
        return any(_contains(d, value) for d in document)
    return _contains(document, value)


def _contains(document: Any, value: Any) -> bool:
    if isinstance(value, dict):
        return isinstance(document, dict) and all(
            key in document and _contains(document[key], item) for key, item in value.items()
        )
    if isinstance(value, list):
        return isinstance(document, list) and all(any(_contains(d, item) for d in document) for item in value)
    if value is None or isinstance(value, bool) or isinstance(document, bool):
        return document is value
    if isinstance(value, int | float):
        return isinstance(document, int | float) and document == value
    return bool(document == value)


class JsonContains(ColumnElement[bool]):
    """`column @> value`, rendered for the dialect the statement runs on."""

    type = Boolean()
    inherit_cache = False  # the value is part of the rendering

    def __init__(self, column: Any, value: Any) -> None:
        self.column = column
        self.value = value


@compiles(JsonContains, "postgresql")
def _on_postgresql(element: JsonContains, compiler: Any, **kw: Any) -> str:
    # `@>` on jsonb: what a GIN index (jsonb_path_ops) answers.
    return str(compiler.process(element.column.op("@>")(cast(literal(element.value, JSONB), JSONB)), **kw))


@compiles(JsonContains)
def _on_sqlite(element: JsonContains, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(_sqlite_contains(element.column, element.value), **kw))


def sql_contains(column: Any, value: Any) -> ColumnElement[bool]:
    """`column @> value` for a JSON column, on either database."""
    return JsonContains(column, value)


def _sqlite_contains(column: Any, value: Any) -> ColumnElement[bool]:
    doc, doc_type = func.json(column), func.json_type(column)
    if isinstance(value, dict | list):
        return _sqlite(doc, doc_type, value, top=True)
    each = func.json_each(doc).table_valued("key", "value", "type").alias()
    element = exists(select(1).select_from(each).where(_sqlite(each.c.value, each.c.type, value)))
    return or_(_sqlite(doc, doc_type, value, top=True), and_(doc_type == "array", element))


def _sqlite(doc: Any, doc_type: Any, value: Any, *, top: bool = False) -> ColumnElement[bool]:
    """`doc` is JSON text for objects and arrays; for scalars, the SQL value json_each gives
    (or, at the top, the column, read with json_extract)."""
    if isinstance(value, dict):
        checks = [doc_type == "object"]
        for key, item in value.items():
            each = func.json_each(doc).table_valued("key", "value", "type").alias()
            match = _sqlite(each.c.value, each.c.type, item)
            checks.append(exists(select(1).select_from(each).where(each.c.key == key, match)))
        return and_(*checks)
    if isinstance(value, list):
        checks = [doc_type == "array"]
        for item in value:
            each = func.json_each(doc).table_valued("key", "value", "type").alias()
            checks.append(exists(select(1).select_from(each).where(_sqlite(each.c.value, each.c.type, item))))
        return and_(*checks)
    if value is None:
        return doc_type == "null"  # type: ignore[no-any-return]
    scalar = func.json_extract(doc, "$") if top else doc
    if isinstance(value, bool):
        return doc_type == ("true" if value else "false")  # type: ignore[no-any-return]
    kinds = _SQLITE_TYPES[type(value)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return and_(doc_type.in_(kinds), scalar == value)
    if isinstance(value, str):
        return and_(doc_type == "text", scalar == value)
    return false()


__all__ = ["contains", "sql_contains"]
