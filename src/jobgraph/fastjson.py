"""JSON on the read path, with orjson where it gives the same answer as the standard library.

A page of 100 nested jobs is about 120 kB of JSON out and 400 JSON documents in (each job's
input, notes and result, decoded by psycopg): orjson does both several times faster. It differs
from `json` in two ways, both covered here: it cannot write an integer beyond 64 bits (`dumps`
falls back to `json`), and it reads one as a float, silently (`loads` leaves any text with a run
of 19 or more digits to `json`, which keeps big integers exact).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{19}")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as `json.dumps(value, separators=(",", ":"))` would write it."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, a key that is not a string
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(text: str | bytes) -> Any:
    """The value of a JSON text the database stored (so valid JSON)."""
    raw = text.encode() if isinstance(text, str) else text
    if _LONG_DIGITS.search(raw):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # what orjson refuses and json reads (lone surrogates, huge exponents)
        return json.loads(raw)
