"""JSON Schema checks shared by plugins (input) and feedback (data)."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from jobgraph.errors import BadInput


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
