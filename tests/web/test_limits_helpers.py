"""Unit tests of the shared input limits: resolvers/limits.py, db/guard.py, the strict cursor
decoding of job_list, the GraphQL DateTime scalar and the REST query helpers."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from graphql import GraphQLError

from jobgraph.db import guard
from jobgraph.db.models import Job, Plugin, Series
from jobgraph.errors import BadInput
from jobgraph.resolvers import job_list, limits
from jobgraph.schema.limits import parse_datetime, text_problems

# ---------------------------------------------------------------- JSON


def test_depth_is_measured_without_parsing_and_ignores_brackets_in_strings() -> None:
    assert limits.json_depth("1") == 0
    assert limits.json_depth('{"a": [1, {"b": []}]}') == 4
    assert limits.json_depth('["[[[[", "\\"[[[", "\\\\"]') == 1
    assert limits.json_depth('"' + "[" * 20) == 0  # an unterminated string: brackets inside do not count


def test_loads_refuses_deep_nesting_before_json_recurses() -> None:
    with pytest.raises(limits.JSONLimitError, match="nested more than 100 levels deep"):
        limits.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(limits.JSONLimitError, match="nested more than 5 levels"):
        limits.loads(b"[[[[[[1]]]]]]", max_depth=5)
    assert limits.loads("[" * 100 + "]" * 100) is not None
    # The limit is on structure: a string full of brackets is fine.
    assert limits.loads(json.dumps({"a": "[" * 10_000})) == {"a": "[" * 10_000}


def test_loads_refuses_huge_numbers_before_int_sees_them() -> None:
    for text in ('{"a": ' + "1" * 5000 + "}", "[" + "9" * 101 + "]", "1." + "5" * 200):
        with pytest.raises(limits.JSONLimitError, match="number longer than 100 characters"):
            limits.loads(text)
    assert limits.loads("[" + "9" * 100 + "]") == [int("9" * 100)]
    assert limits.loads("[1.5e3, -2]") == [1500.0, -2]


def test_loads_constants_bytes_and_errors() -> None:
    with pytest.raises(ValueError, match="NaN is not JSON"):
        limits.loads("[NaN]")
    assert limits.loads("[Infinity]", allow_constants=True) == [float("inf")]
    assert limits.loads('{"x": "\u00e9"}'.encode("utf-16")) == {"x": "\u00e9"}
    assert limits.loads(b'"\\ud800"') == "\ud800"  # a lone surrogate parses; check_text refuses it
    with pytest.raises(json.JSONDecodeError):
        limits.loads("{")
    with pytest.raises(UnicodeDecodeError):
        limits.loads(b'"\xff\xfe\xfd"')
    # JSONLimitError is a JSONDecodeError: what handles bad JSON handles a limit too.
    assert issubclass(limits.JSONLimitError, json.JSONDecodeError)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1_000_000 + "]" * 1_000_000,  # 2 MB of brackets (the body size limit)
        '\\"' * 1_000_000,  # escaped quotes outside strings
        '"' + "\\" * 2_000_000,  # an unterminated string of backslashes
    ],
)
def test_depth_takes_linear_time_on_hostile_text(text: str) -> None:
    start = time.perf_counter()
    limits.json_depth(text)
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------- integers


def test_parse_int_is_strict_and_fits_the_columns() -> None:
    assert limits.parse_int("42", "n") == 42
    assert limits.parse_int("-7", "n") == -7
    assert limits.parse_int(str(2**31 - 1), "n") == limits.INT_MAX
    assert limits.parse_int(str(-(2**31)), "n") == limits.INT_MIN
    for bad in ("", " 1", "1_000", "\u0661", "1.0", "0x10", str(2**31), "9" * 5000):
        with pytest.raises(BadInput, match=r"^n must"):
            limits.parse_int(bad, "n")
    with pytest.raises(BadInput, match="from 1 to 10"):
        limits.parse_int("11", "n", 1, 10)


def test_row_ids_are_positive_integers_the_column_holds() -> None:
    assert limits.parse_row_id("1") == 1
    assert limits.parse_row_id(str(2**31 - 1)) == 2**31 - 1
    for bad in ("0", "-1", str(2**31), "3000000000", "99999999999999999999", "1e3", "\u0661", "", "a\x00"):
        assert limits.parse_row_id(bad) is None
    assert limits.in_int_range(5) and not limits.in_int_range(True) and not limits.in_int_range(2**31)
    with pytest.raises(BadInput, match="priority must be an integer from"):
        limits.check_int(2**40, "priority")


# ---------------------------------------------------------------- text


def test_check_text() -> None:
    assert limits.check_text("fine", "name", 10) == "fine"
    with pytest.raises(BadInput, match="name holds a NUL character"):
        limits.check_text("a\x00b", "name")
    with pytest.raises(BadInput, match="lone surrogate"):
        limits.check_text("a\udc80", "name")
    with pytest.raises(BadInput, match="name is at most 3 characters"):
        limits.check_text("abcd", "name", 3)
    with pytest.raises(BadInput, match="must not be empty"):
        limits.check_text("", "name", min_length=1)
    with pytest.raises(BadInput, match="must be a string"):
        limits.check_text(5, "name")
    assert limits.storable_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"


def test_text_problems_in_variables_name_where() -> None:
    value = {"a": ["ok", "x\x00"], "b\x00": 1, "c": {"d": "\udfff"}}
    problems = sorted(text_problems(value, "$v"))
    assert problems == [
        "$v.a[1] holds a NUL character",
        "$v.c.d holds text that is not valid Unicode (a lone surrogate)",
        "a key in $v holds a NUL character",
    ]


# ---------------------------------------------------------------- date-times


def test_check_datetime_range() -> None:
    plus14 = timezone(timedelta(hours=14))
    minus14 = timezone(timedelta(hours=-14))
    assert limits.check_datetime(datetime(2024, 1, 1, 2, tzinfo=plus14), "t") == datetime(2023, 12, 31, 12, tzinfo=UTC)
    assert limits.check_datetime(datetime(2024, 1, 1), "t").tzinfo is UTC
    assert limits.check_datetime(datetime(1, 1, 1, tzinfo=UTC), "t").year == 1
    for edge in (datetime(1, 1, 1, tzinfo=plus14), datetime(9999, 12, 31, 23, 59, tzinfo=minus14)):
        with pytest.raises(BadInput, match=r"t .* is out of range"):
            limits.check_datetime(edge, "t")


def test_the_datetime_scalar_refuses_dates_out_of_range_as_bad_user_input() -> None:
    assert parse_datetime("2024-01-01T10:00:00+02:00") == datetime(2024, 1, 1, 8, tzinfo=UTC)
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2024-01-01T00:00:00" + " " * 100):
        with pytest.raises(GraphQLError) as caught:
            parse_datetime(edge)
        assert caught.value.extensions == {"code": "BAD_USER_INPUT"}


# ---------------------------------------------------------------- cursors


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


NEWEST = job_list.ORDERINGS["NEWEST"]
UPDATED = job_list.ORDERINGS["RECENTLY_UPDATED"]


def test_cursors_decode_strictly() -> None:
    assert job_list._decode_cursor(_cursor(["NEWEST", [5]]), "NEWEST", NEWEST) == [5]
    when = job_list._decode_cursor(
        _cursor(["RECENTLY_UPDATED", ["2024-01-01T00:00:00+00:00", 7]]), "RECENTLY_UPDATED", UPDATED
    )
    assert when == [datetime(2024, 1, 1, tzinfo=UTC), 7]
    newest = [
        "garbage!",
        "",
        "A" * 600,
        "\ud800",
        _cursor(["NEWEST", [3_000_000_000]]),
        _cursor(["NEWEST", [-(2**31) - 1]]),
        _cursor(["NEWEST", [True]]),
        _cursor(["NEWEST", [1.5]]),
        _cursor(["NEWEST", ["1"]]),
        _cursor(["NEWEST", [1, 2]]),
        _cursor(["OLDEST", [1]]),
        _cursor(["NEWEST", 1]),
        _cursor({"NEWEST": [1]}),
        _cursor(["NEWEST", [[1]]]),
        base64.urlsafe_b64encode(b'["NEWEST", [' + b"1" * 500 + b"]]").decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff\xfe[").decode().rstrip("="),
    ]
    updated = [
        _cursor(["RECENTLY_UPDATED", ["0001-01-01T00:00:00+14:00", 1]]),
        _cursor(["RECENTLY_UPDATED", ["9999-12-31T23:59:59-14:00", 1]]),
        _cursor(["RECENTLY_UPDATED", ["yesterday", 1]]),
        _cursor(["RECENTLY_UPDATED", [None, 1]]),
    ]
    for cursor, name, order in [
        *((c, "NEWEST", NEWEST) for c in newest),
        *((c, "RECENTLY_UPDATED", UPDATED) for c in updated),
    ]:
        with pytest.raises(BadInput, match="not a cursor of this ordering"):
            job_list._decode_cursor(cursor, name, order)


def test_filters_are_checked_before_a_query() -> None:
    for bad in (
        job_list.JobFilter(user_emails=["a\x00@b"]),
        job_list.JobFilter(error_contains="x" * 1001),
        job_list.JobFilter(conditions=[job_list.Condition("number", "gt", 3_000_000_000)]),
        job_list.JobFilter(conditions=[job_list.Condition("number", "in", [1, 2**40])]),
        job_list.JobFilter(created_after=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))),
    ):
        with pytest.raises(BadInput):
            job_list.check_filter(bad)
    job_list.check_filter(job_list.JobFilter(user_emails=["a@b"], conditions=[job_list.Condition("number", "in", [1])]))


# ---------------------------------------------------------------- the flush guard


def test_the_flush_guard_refuses_what_a_column_cannot_hold() -> None:
    guard.check_row(Plugin(plugin_id="p", name="n", kind="python", version="1.0"))
    with pytest.raises(BadInput, match="version is at most 64 characters"):
        guard.check_row(Plugin(plugin_id="p", name="n", kind="python", version="v" * 65))
    with pytest.raises(BadInput, match="description holds a NUL character"):
        guard.check_row(Series(series_uid="1.2", description="a\x00"))
    with pytest.raises(BadInput, match="runLevel is at most 64"):
        guard.check_row(Job(plugin_id="p", user_id=1, run_level="r" * 65))
    with pytest.raises(BadInput, match="priority must be from"):
        guard.check_row(Job(plugin_id="p", user_id=1, priority=2**31))


def test_an_output_of_more_than_2_gib_fits_its_column() -> None:
    from jobgraph.db.guard import check_row
    from jobgraph.db.models import Output

    check_row(Output(job_number=1, file_name="big.raw", size=3 * 2**30, path="x/big.raw"))
    with pytest.raises(BadInput, match="size must be from"):
        check_row(Output(job_number=1, file_name="big.raw", size=2**63, path="x/big.raw"))
