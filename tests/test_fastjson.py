"""fastjson gives the same values as the standard library: big integers stay exact both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobgraph import fastjson

VALUES: list[Any] = [
    {"n": 1, "text": "é ✓ \u2028", "list": [1.5, None, True, {"x": -0.0}]},
    {"big": 123456789012345678901234567890, "negative": -(2**70), "u64": 2**64 - 1},
    {"uid": "1.2.840.10008.5.1.4.1.1.2", "float": 1e300, "digits": "12345678901234567890"},
    [],
    "plain",
]


@pytest.mark.parametrize("value", VALUES)
def test_values_read_back_as_the_standard_library_reads_them(value: Any) -> None:
    text = json.dumps(value)
    assert fastjson.loads(text) == json.loads(text)
    assert fastjson.loads(text.encode()) == json.loads(text)
    assert json.loads(fastjson.dumps(value)) == value


def test_a_big_integer_is_never_a_float() -> None:
    value = fastjson.loads('{"id": 123456789012345678901234567890}')["id"]
    assert isinstance(value, int) and value == 123456789012345678901234567890
    assert fastjson.dumps({"id": 2**80}) == b'{"id":1208925819614629174706176}'


def test_what_orjson_refuses_the_standard_library_still_answers() -> None:
    assert fastjson.loads('"\\ud800"') == "\ud800"  # a lone surrogate, as PostgreSQL's json type keeps it
    assert fastjson.loads("1e400") == float("inf")
    assert json.loads(fastjson.dumps({1: "a"})) == {"1": "a"}
