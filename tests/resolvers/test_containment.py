"""JSON containment: SQLite's json_each() rendering and the in-memory rule answer as
PostgreSQL's `@>` does, on generated documents and values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.engine import Engine

from jobgraph.db.types import JSONValue
from jobgraph.resolvers.containment import contains, sql_contains

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([1.0, 2.5, -0.5]), st.sampled_from(["a", "b", "", "1"])
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c d", "é"]), inner, max_size=3)
    ),
    max_leaves=8,
)
_table = Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSONValue))

DOCUMENTS: list[Any] = [
    None,
    1,
    "a",
    True,
    [1, 2, [3]],
    {"a": 1, "b": [1, 2, {"c d": None}]},
    {"a": {"b": {"a": 1.0}}, "c d": True},
    {"a": [True, False, 0, 1]},
    [{"a": 1}, {"b": 2}],
    {"é": "a", "a": "1"},
    {},
    [],
]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = "sqlite://" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    engine = create_engine(url)
    _table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(_table), [{"id": i, "doc": d} for i, d in enumerate(DOCUMENTS)])
    yield engine
    engine.dispose()


def _sql_matches(engine: Engine, value: Any) -> set[int]:
    with engine.connect() as conn:
        where = sql_contains(_table.c.doc, value)
        return set(conn.scalars(select(_table.c.id).where(where)))


@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(value=_json)
def test_the_database_and_memory_agree_with_postgresql_rule(engine: Engine, value: Any) -> None:
    expected = {i for i, d in enumerate(DOCUMENTS) if d is not None and contains(d, value)}
    assert _sql_matches(engine, value) == expected


@pytest.mark.parametrize(
    ("document", "value", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": [1, 2, 3]}, {"a": [3, 1]}, True),
        ({"a": [1, 2]}, {"a": [4]}, False),
        ({"a": {"b": 1}}, {"a": {}}, True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": True}, {"a": 1}, False),
        ({"a": None}, {"a": None}, True),
        ({"a": 1}, {"b": None}, False),
        ([{"a": 1, "b": 2}], [{"a": 1}], True),
        ("a", "a", True),
    ],
)
def test_postgresql_rule(document: Any, value: Any, expected: bool) -> None:
    assert contains(document, value) is expected
