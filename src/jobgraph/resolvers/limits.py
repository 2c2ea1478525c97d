"""Input limits every view shares, checked before anything reaches the database.

What a client sends is held to what jobgraph can parse cheaply and store on both databases:
- JSON is parsed with a nesting and a number-size limit enforced while parsing (`loads`), so
  neither `json.loads` recursion nor `int()` of a huge literal is ever reached;
- integers fit the 4-byte INTEGER columns (`INT_MIN`..`INT_MAX`) they are compared with;
- text holds no NUL and no lone surrogate (PostgreSQL refuses the first, UTF-8 the second),
  and stays within the length of the column it goes to;
- date-times lie within the years 1..9999 in UTC (what Python and the database both hold).
Every problem is a BadInput (400 / BAD_USER_INPUT) with a message naming what was wrong.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from jobgraph.errors import BadInput

# Every integer column (job numbers, priorities, worker ids, counts) is a 4-byte INTEGER.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

# JSON from a client: how deep it may nest and how long one number literal may be. Stored JSON
# values are held to validation.MAX_JSON_DEPTH; a request body needs a few levels more around them.
MAX_PARSE_DEPTH = 100
MAX_NUMBER_CHARS = 100

# Lengths of free text that goes to a TEXT column (VARCHAR columns have their own length).
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_FILTER_TEXT = 1_000
MAX_NOTE_KEY = 200
MAX_DATETIME_CHARS = 64


class JSONLimitError(json.JSONDecodeError):
    """JSON that breaks a limit; its message is a predicate ("is nested more than ..."). A
    JSONDecodeError, so that whatever handles bad JSON (Strawberry's WebSocket loop) handles it too."""

    def __init__(self, message: str, doc: str = "", pos: int = 0) -> None:
        super().__init__(message, doc, pos)
        self.msg = message

    def __str__(self) -> str:
        return self.msg


# ---------------------------------------------------------------- JSON


_ESCAPE = re.compile(r"\\.", re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, found without parsing it: linear
    time, no recursion, whatever the text (valid JSON or not)."""
    # Escapes out, then every other run between quotes is a string: brackets there do not nest.
    outside = "".join(_ESCAPE.sub("", text).split('"')[::2])
    brackets = _NOT_BRACKET.sub("", outside)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number_parser(convert: Any) -> Any:
    def parse(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            raise JSONLimitError(f"has a number longer than {MAX_NUMBER_CHARS} characters")
        return convert(literal)

    return parse


_PARSE_INT = _number_parser(int)
_PARSE_FLOAT = _number_parser(float)


def loads(raw: str | bytes, *, max_depth: int = MAX_PARSE_DEPTH, allow_constants: bool = False) -> Any:
    """`json.loads` with the limits checked first (depth) or as each number is read (size).
    Raises JSONLimitError for a limit, ValueError (JSONDecodeError) for bad JSON,
    UnicodeDecodeError for bytes that are not text. NaN and Infinity only with allow_constants."""
    text = raw.decode(json.detect_encoding(raw), "surrogatepass") if isinstance(raw, bytes | bytearray) else raw
    # Depth is at most the number of opening brackets: most texts need no closer look.
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise JSONLimitError(f"is nested more than {max_depth} levels deep")
    try:
        return json.loads(
            text,
            parse_int=_PARSE_INT,
            parse_float=_PARSE_FLOAT,
            **({} if allow_constants else {"parse_constant": _no_constant}),
        )
    except RecursionError:  # cannot happen below the depth limit; never let it through
        raise JSONLimitError(f"is nested more than {max_depth} levels deep") from None


# ---------------------------------------------------------------- integers


_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")


def in_int_range(value: int, low: int = INT_MIN, high: int = INT_MAX) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def check_int(value: Any, what: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    if not in_int_range(value, low, high):
        raise BadInput(f"{what} must be an integer from {low} to {high}")
    return int(value)


def parse_int(text: str, what: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """An integer from a URL (path or query): ASCII digits with an optional sign, from `low` to
    `high` (by default what an INTEGER column holds). No empty value, no `1_000`, no other
    script's digits; the length is checked before `int()` sees it."""
    if not isinstance(text, str) or not _INTEGER.fullmatch(text):
        if low >= 0:
            raise BadInput(f"{what} must be an integer from {low} to {high}, not {_shown(text)}")
        raise BadInput(f"{what} must be an integer, not {_shown(text)}")
    value = int(text)
    if not low <= value <= high:
        raise BadInput(f"{what} must be from {low} to {high}, not {_shown(text)}")
    return value


def parse_row_id(text: str) -> int | None:
    """A row id from a URL (a job number): a positive integer an INTEGER column can hold, else
    None (such a text names nothing: callers answer it as a missing row)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= INT_MAX else None


def _shown(text: Any) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


# ---------------------------------------------------------------- text


def text_problem(text: str) -> str | None:
    """Why this text cannot be stored, or None."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds text that is not valid Unicode (a lone surrogate)"
    return None


def check_text(value: Any, what: str, max_length: int | None = None, *, min_length: int = 0) -> str:
    """A string that can be stored: no NUL, no lone surrogate, `min_length`..`max_length` characters."""
    if not isinstance(value, str):
        raise BadInput(f"{what} must be a string")
    problem = text_problem(value)
    if problem:
        raise BadInput(f"{what} {problem}")
    if max_length is not None and len(value) > max_length:
        raise BadInput(f"{what} is at most {max_length} characters (it has {len(value)})")
    if len(value) < min_length:
        raise BadInput(f"{what} must not be empty" if min_length == 1 else f"{what} needs {min_length} characters")
    return value


def storable_text(text: str) -> str:
    """Text from a plugin (messages, errors), made storable rather than refused: a NUL or a lone
    surrogate becomes U+FFFD."""
    text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


# ---------------------------------------------------------------- date-times

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def check_datetime(value: Any, what: str) -> datetime:
    """An aware UTC date-time within the years 1..9999 (a naive one is UTC). Year 1 at +14:00 or
    year 9999 at -14:00 lie outside: BadInput, not an OverflowError deep in a query."""
    if not isinstance(value, datetime):
        raise BadInput(f"{what} must be a date-time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise BadInput(
            f"{what} {value.isoformat()} is out of range: date-times must lie between "
            f"{EARLIEST.isoformat()} and {LATEST.isoformat()} in UTC"
        ) from None
