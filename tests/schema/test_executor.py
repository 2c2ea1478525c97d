"""The fast executor (schema/executor.py) answers exactly as graphql-core does: the same data,
the same errors at the same paths, for plain fields, resolvers, nulls where none may be, failing
coercions, lists, interfaces, unions, fragments and directives; and for any query generated
from the schema."""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, datetime
from typing import Any

import hypothesis_graphql
import pytest
import strawberry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.scalars import JSON
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from jobgraph.schema.executor import FastExecutionContext


@strawberry.enum
class Colour(enum.Enum):
    red = "red"
    blue = "blue"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Leaf:
    text: str
    count: int | None
    ratio: float
    flag: bool
    colour: Colour
    when: datetime
    data: JSON | None
    ident: strawberry.ID
    broken_int: int  # holds a value that is not an Int: a coercion error
    missing: str  # holds None: a null where none may be
    huge: int | None  # beyond 32 bits: a coercion error
    int_of_bool: int  # True: coerced to 1

    @strawberry.field
    def shout(self) -> str:
        return self.text.upper()

    @strawberry.field
    def with_info(self, info: strawberry.Info) -> str:
        return f"{info.field_name}:{info.context['who']}:{info.path.key}"

    @strawberry.field
    def fails(self) -> str | None:
        raise ValueError("this resolver fails")

    @strawberry.field
    def fails_non_null(self) -> str:
        raise ValueError("this one may not be null")

    @strawberry.field
    def times(self, n: int = 2) -> str:
        return self.text * n

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return f"later {self.text}"


@strawberry.type
class Pet(Named):
    legs: int


@strawberry.type
class Robot(Named):
    model: str


@strawberry.type
class Box:
    label: str
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None
    strict_leaves: list[Leaf]  # one item is None: the error nulls the list's parent
    tags: list[str]
    numbers: list[int | None]
    inner: Box | None
    friends: list[Named]
    thing: Pet | Robot | None

    @strawberry.field
    def resolved_leaves(self, info: strawberry.Info) -> list[Leaf]:
        return self.leaves[:1]

    @strawberry.field
    def no_inner(self) -> Box | None:
        return None

    @strawberry.field
    async def async_inner(self) -> Box | None:
        return self.inner


def _leaf(i: int) -> Leaf:
    return Leaf(
        text=f"t{i}",
        count=None if i % 2 else i,
        ratio=i / 3,
        flag=bool(i % 2),
        colour=Colour.red if i % 2 else Colour.blue,
        when=datetime(2026, 1, 1 + i, tzinfo=UTC),
        data={"i": i, "list": [1, 2]} if i % 3 else None,
        ident=strawberry.ID(f"id-{i}"),
        broken_int="not an int",  # type: ignore[arg-type]
        missing=None,  # type: ignore[arg-type]
        huge=2**40 if i else 2**31 - 1,
        int_of_bool=True,
    )


def _box(depth: int = 2) -> Box:
    leaves = [_leaf(i) for i in range(3)]
    return Box(
        label=f"box{depth}",
        leaves=leaves,
        maybe_leaves=[leaves[0], None],
        strict_leaves=[leaves[0], None],  # type: ignore[list-item]
        tags=["a", "b"],
        numbers=[1, None, 3],
        inner=_box(depth - 1) if depth else None,
        friends=[Pet(name="rex", legs=4), Robot(name="r2", model="astromech")],
        thing=Robot(name="r2", model="astromech") if depth % 2 else Pet(name="tom", legs=4),
    )


@strawberry.type
class Query:
    @strawberry.field
    def box(self) -> Box:
        return _box()

    @strawberry.field
    async def async_box(self) -> Box | None:
        return _box()

    @strawberry.field
    def boxes(self) -> list[Box]:
        return [_box(1), _box(0)]


def _schema(executor: type[StrawberryGraphQLCoreExecutionContext]) -> strawberry.Schema:
    return strawberry.Schema(query=Query, types=[Pet, Robot], execution_context_class=executor)


STANDARD = _schema(StrawberryGraphQLCoreExecutionContext)
FAST = _schema(FastExecutionContext)


def _answer(schema: strawberry.Schema, document: str) -> tuple[Any, list[tuple[str, list[Any] | None]]]:
    async def execute() -> Any:
        result = await schema.execute(document, context_value={"who": "me"})
        # After a null where none may be, graphql-core settles the abandoned fields in the background
        others = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.gather(*others, return_exceptions=True)
        return result

    result = asyncio.run(execute())
    errors = sorted((e.message, e.path) for e in result.errors or [])
    return result.data, errors  # type: ignore[return-value]


def _same(document: str) -> tuple[Any, list[tuple[str, list[Any] | None]]]:
    fast = _answer(FAST, document)
    assert fast == _answer(STANDARD, document), document
    return fast


LEAF_FIELDS = "text count ratio flag colour when data ident shout withInfo times(n: 3) later"

DOCUMENTS = [
    f"{{ box {{ label tags numbers leaves {{ {LEAF_FIELDS} }} }} }}",
    f"{{ asyncBox {{ label leaves {{ {LEAF_FIELDS} }} asyncInner {{ label }} }} }}",
    "{ box { leaves { text brokenInt } } }",  # a failing coercion of a non-null Int
    "{ box { leaves { huge intOfBool } } }",
    "{ box { label leaves { missing } } }",  # null in non-null: the error nulls box, then data
    "{ asyncBox { label leaves { text missing } } }",
    "{ box { leaves { count fails } } }",
    "{ asyncBox { leaves { failsNonNull } } }",
    "{ box { maybeLeaves { text } strictLeaves { text } } }",
    "{ asyncBox { label strictLeaves { text } } }",
    "{ box { resolvedLeaves { text withInfo } noInner { label } inner { inner { label inner { label } } } } }",
    "{ boxes { label inner { label } } }",
    "{ box { friends { __typename name ... on Pet { legs } ... on Robot { model } } } }",
    "{ box { thing { __typename ... on Pet { name legs } ... on Robot { model } } } }",
    "{ box { a: label b: label leaves { x: text y: text text } } }",
    "query($s: Boolean!) { box { label @skip(if: $s) tags @include(if: $s) leaves { text @include(if: true) } } }",
    "{ box { ...B inner { ...B } } } fragment B on Box { label leaves { ...L } } fragment L on Leaf { text when }",
    "{ __typename box { __typename leaves { __typename } } }",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_fast_executor_answers_as_graphql_core(document: str) -> None:
    if "$s" in document:
        for value in ("true", "false"):
            _same(document.replace("query($s: Boolean!)", "query").replace("$s", value))
        return
    _same(document)


def test_the_errors_compared_are_real_ones() -> None:
    data, errors = _same("{ box { leaves { missing } } }")
    assert data is None
    assert errors == [("Cannot return null for non-nullable field Leaf.missing.", ["box", "leaves", 0, "missing"])]
    data, errors = _same("{ box { leaves { count fails } } }")
    assert data["box"]["leaves"][0] == {"count": 0, "fails": None}
    assert len(errors) == 3 and errors[0][0] == "this resolver fails"
    data, _ = _same(f"{{ box {{ leaves {{ {LEAF_FIELDS} }} }} }}")
    leaf = data["box"]["leaves"][1]
    assert leaf["colour"] == "RED" or leaf["colour"] == "red"
    assert leaf["when"] == "2026-01-02T00:00:00+00:00" and leaf["withInfo"] == "withInfo:me:withInfo"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_generated_query_gets_the_same_answer(data: st.DataObject) -> None:
    document = data.draw(hypothesis_graphql.queries(str(STANDARD)))
    _same(document)
