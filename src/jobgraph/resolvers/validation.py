"""JSON Schema checks shared by plugins (input) and feedback (data)."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from jobgraph.errors import BadInput
from jobgraph.resolvers.limits import check_text


def check_schema(schema: Any, what: str) -> dict[str, Any] | None:
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise BadInput(f"{what} must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise BadInput(f"{what} is not a valid JSON Schema: {exc.message}") from None
    return schema


def validate_against(schema: dict[str, Any] | None, value: Any, what: str) -> None:
    if not schema:
        return
    error = jsonschema.exceptions.best_match(Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise BadInput(f"{what} does not match the schema at {where}: {error.message}")


MAX_JSON_DEPTH = 64


def check_json_value(value: Any, what: str) -> Any:
    """A JSON value jobgraph can store and serve: nested at most MAX_JSON_DEPTH levels, finite
    numbers (no NaN or Infinity), and text PostgreSQL's jsonb takes (no NUL, no lone surrogates).
    Every use case that stores a caller's (or a plugin's) JSON checks it here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadInput(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, str):
            check_text(item, what)
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadInput(f"{what} holds {item!r}, which is not a JSON number")
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise BadInput(f"{what} has a key that is not a string")
                check_text(key, what)
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif not (item is None or isinstance(item, bool | int | float)):
            raise BadInput(f"{what} holds a {type(item).__name__}, which is not JSON")
    return value
