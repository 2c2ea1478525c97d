"""The input limits of the GraphQL schema, in one place rather than in each resolver.

- `InputLimits`, a schema extension: before anything runs, every string of every variable the
  operation declares must be storable text (no NUL, no lone surrogate), and the variables must
  coerce; a problem is one BAD_USER_INPUT error naming the variable, and no resolver runs.
  Integers need nothing more: GraphQL's Int is 32-bit, exactly what the INTEGER columns hold.
- `InputValuesRule`, replacing graphql-core's ValuesOfCorrectTypeRule: the same check of the
  literals written in the document, with the same code for what it refuses (an Int literal out
  of range, a bad DateTime, a string literal holding a NUL).
- `DATETIME`, the DateTime scalar: an ISO 8601 date-time within the years 1..9999 in UTC,
  handed to resolvers as an aware UTC datetime.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, StringValueNode, ValuesOfCorrectTypeRule, get_operation_ast
from graphql.execution.values import get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from jobgraph.errors import BadInput
from jobgraph.resolvers import limits

BAD_USER_INPUT = BadInput.code


MAX_MESSAGE = 500


def _bad_input(message: str, nodes: Any = None) -> GraphQLError:
    """A GraphQL error that is the client's input's fault: BAD_USER_INPUT, never masked or
    logged as a fault (its original error is a BadInput). Messages quoting a huge input are cut."""
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return GraphQLError(message, nodes, original_error=BadInput(message))


# ---------------------------------------------------------------- DateTime


_PARSE_ISO: Any = DateTimeDefinition.parse_value


def parse_datetime(value: Any) -> datetime:
    """DateTime input: Strawberry's ISO 8601 parsing, then the range the database holds."""
    if isinstance(value, str) and len(value) > limits.MAX_DATETIME_CHARS:
        raise _bad_input(f"DateTime cannot represent a text of {len(value)} characters")
    parsed = _PARSE_ISO(value)
    try:
        return limits.check_datetime(parsed, "DateTime")
    except BadInput as exc:
        raise _bad_input(exc.message) from None


DATETIME: ScalarDefinition = dataclasses.replace(DateTimeDefinition, parse_value=parse_datetime, implementation=None)
SCALAR_OVERRIDES: dict[object, Any] = {datetime: DATETIME}


# ---------------------------------------------------------------- literals in the document


class InputValuesRule(ValuesOfCorrectTypeRule):
    """ValuesOfCorrectTypeRule whose errors carry BAD_USER_INPUT, and which also refuses string
    literals that cannot be stored."""

    def report_error(self, error: GraphQLError) -> None:
        if "code" not in (error.extensions or {}):
            # A value the client wrote: BAD_USER_INPUT, even when a scalar's parser failed with a
            # plain exception (int() of 5000 digits), which would otherwise be masked as a fault.
            error = _bad_input(error.message, error.nodes)
        super().report_error(error)

    def enter_string_value(self, node: StringValueNode, *args: Any) -> Any:
        problem = limits.text_problem(node.value)
        if problem:
            self.report_error(GraphQLError(f"A string literal {problem}.", node))
        return super().enter_string_value(node, *args)


def with_input_values_rule(rules: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(InputValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in rules)


# ---------------------------------------------------------------- every refusal has a code

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def code_request_error(error: GraphQLError) -> None:
    """Give a code to an error of the request itself, which graphql-core leaves without one: a
    document that does not parse (GRAPHQL_PARSE_FAILED) or does not validate against the schema
    (GRAPHQL_VALIDATION_FAILED), as Apollo names them. Errors of fields (with a path) and errors
    with a cause of their own keep what they have."""
    if "code" in (error.extensions or {}) or error.path is not None or error.original_error is not None:
        return
    code = PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else VALIDATION_FAILED
    error.extensions = {**(error.extensions or {}), "code": code}


# ---------------------------------------------------------------- variables


def text_problems(value: Any, where: str) -> Iterator[str]:
    """'<where> holds a NUL character' for each string (or key) in a JSON value that cannot be stored."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            problem = limits.text_problem(item)
            if problem:
                yield f"{at} {problem}"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and limits.text_problem(key):
                    yield f"a key in {at} {limits.text_problem(key)}"
                stack.append((child, f"{at}.{key}"))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{at}[{i}]") for i, child in enumerate(item))


class InputLimits(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = with_input_values_rule(context.validation_rules)
        yield

    def on_execute(self) -> Iterator[None]:
        self._check_variables()
        yield

    def _check_variables(self) -> None:
        context = self.execution_context
        if context.graphql_document is None:
            return
        operation = get_operation_ast(context.graphql_document, context.operation_name)
        if operation is None or not operation.variable_definitions:
            return
        given = context.variables or {}
        for definition in operation.variable_definitions:
            name = definition.variable.name.value
            if name in given:
                for problem in text_problems(given[name], f"${name}"):
                    raise _bad_input(f"Variable {problem}.", definition)
        # Coerce them once here, so that what does not fit its type (an Int beyond 32 bits, a
        # DateTime out of range) is a BAD_USER_INPUT error before anything runs.
        coerced = get_variable_values(context.schema._schema, operation.variable_definitions, given, max_errors=1)
        if isinstance(coerced, list) and coerced:
            error = coerced[0]
            raise _bad_input(error.message, error.nodes)
