"""tastypie's query language for PluginResultJob: filters, order_by, limit/offset, format, and
the request bodies of POST, PUT and PATCH. Pure parsing: every problem is a BadInput (400)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jobgraph.errors import BadInput
from jobgraph.resolvers.job_list import Condition
from jobgraph.resolvers.limits import INT_MAX, INT_MIN
from jobgraph.resolvers.limits import parse_int as parse_integer
from jobgraph.rest.common import parse_json
from jobgraph.rest.tastypie_model import (
    DEFAULT_LIMIT,
    FIELDS,
    ION_STATES,
    MAX_LIMIT,
    RESOURCE_PATH,
    STATE_FILTER,
    Field,
    parse_ion_datetime,
)

Params = Sequence[tuple[str, str]]

# Query parameters that are not filters.
CREDENTIALS = ("username", "api_key")
RESERVED = frozenset({"format", "limit", "offset", "order_by", "username", "api_key", "always_return_data"})
LOOKUP_SEP = "__"
LOOKUP_OPS = {"exact": "eq", "in": "in", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte", "isnull": "isnull"}
MAX_INT = INT_MAX  # ids and worker ids are INTEGER columns
MAX_OFFSET = 10**12
MAX_IN_VALUES = 1000
TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")
MISMATCH = "Invalid resource lookup data provided (mismatched type)."


@dataclass
class ListQuery:
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending); empty: newest first
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _values(params: Params, name: str) -> list[str]:
    return [v for k, v in params if k == name]


def _last(params: Params, name: str) -> str | None:
    values = _values(params, name)
    return values[-1] if values else None


def check_params(params: Params) -> None:
    """What every route checks: the format (given, even empty, it must be json), and no NUL
    characters (PostgreSQL refuses them)."""
    for key, value in params:
        if "\x00" in key or "\x00" in value:
            raise BadInput("query parameters may not contain NUL characters")
    fmt = _last(params, "format")
    if fmt is not None and fmt != "json":
        raise BadInput(f"the format {fmt!r} is not supported; this server speaks only format=json")


def flag(params: Params, name: str) -> bool:
    raw = _last(params, name)
    if raw is None or raw == "":
        return False
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise BadInput(f"{name} must be true or false")


def parse_int(text: str, what: str) -> int:
    """An integer filter value; it is compared with an INTEGER column, so it must fit one."""
    try:
        return parse_integer(text.strip(), what, INT_MIN, INT_MAX)
    except BadInput as exc:
        raise BadInput(f"{what}: {MISMATCH} {exc.message}") from None


def _limit(params: Params) -> int:
    raw = _last(params, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = parse_integer(raw, "limit", INT_MIN, INT_MAX)
    except BadInput:
        raise BadInput(f"Invalid limit '{raw}' provided. Please provide a positive integer.") from None
    if limit < 0:
        raise BadInput(f"Invalid limit '{raw}' provided. Please provide a positive integer >= 0.")
    return MAX_LIMIT if limit == 0 or limit > MAX_LIMIT else limit  # tastypie's max_limit


def _offset(params: Params) -> int:
    raw = _last(params, "offset")
    if raw is None:
        return 0
    try:
        offset = parse_integer(raw, "offset", -MAX_OFFSET, MAX_OFFSET)
    except BadInput:
        raise BadInput(f"Invalid offset '{raw}' provided. Please provide an integer from 0 to {MAX_OFFSET}.") from None
    if offset < 0:
        raise BadInput(f"Invalid offset '{raw}' provided. Please provide a positive integer >= 0.")
    if offset > MAX_OFFSET:
        raise BadInput(f"Invalid offset '{raw}' provided. It must be at most {MAX_OFFSET}.")
    return offset


def _bool(text: str, what: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise BadInput(f"{what}: {MISMATCH} Give true or false.")


def _typed(f: Field, text: str, what: str) -> Any:
    if f.type == "integer":
        return parse_int(text, what)
    if f.type == "datetime":
        try:
            return parse_ion_datetime(text)
        except ValueError:
            raise BadInput(f"{what}: {text!r} is not an ISO 8601 date-time") from None
    return text


def _condition(f: Field, lookup: str, raw: list[str], what: str) -> Condition:
    assert f.column is not None
    op = LOOKUP_OPS[lookup]
    if op == "isnull":
        return Condition(f.column, "isnull", _bool(raw[-1], what))
    texts = [part for value in raw for part in value.split(",")] if op == "in" else [raw[-1]]
    if len(texts) > MAX_IN_VALUES:
        raise BadInput(f"{what}: at most {MAX_IN_VALUES} values")
    if f.name == "state":  # Ion's state names, as the schema's enum lists them
        unknown = [t for t in texts if t not in STATE_FILTER]
        if unknown:
            raise BadInput(f"{what}: {unknown[0]!r} is not a state; states: {list(ION_STATES)}")
        return Condition("status_detail", "in", [STATE_FILTER[t] for t in texts])
    if f.type == "datetime" and op == "eq" and texts[0].lower() in ("null", "none", "nil"):
        return Condition(f.column, "isnull", True)
    values = [_typed(f, t, what) for t in texts]
    if f.name == "grid_engine_jobid" and values[0] == -1:  # -1: no worker
        return Condition(f.column, "isnull", True)
    return Condition(f.column, op, values if op == "in" else values[0])


def parse_filters(params: Params) -> list[Condition]:
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        if key not in RESERVED:
            grouped.setdefault(key, []).append(value)
    conditions = []
    for key, raw in grouped.items():
        name, *lookups = key.split(LOOKUP_SEP)
        f = FIELDS.get(name)
        if f is None:
            raise BadInput(f"The filter {key!r} names no field of this resource; fields: {sorted(FIELDS)}")
        if not f.filters:
            raise BadInput(f"The '{name}' field does not allow filtering.")
        lookup = lookups[0] if lookups else "exact"
        if len(lookups) > 1 or lookup not in f.filters:
            raise BadInput(f"'{LOOKUP_SEP.join(lookups)}' is not an allowed filter on the '{name}' field.")
        conditions.append(_condition(f, lookup, raw, key))
    return conditions


def parse_order(params: Params) -> list[tuple[str, bool]]:
    order = []
    for value in _values(params, "order_by"):
        descending = value.startswith("-")
        name = value[1:] if descending else value
        f = FIELDS.get(name)
        if f is None:
            raise BadInput(f"No matching '{name}' field for ordering on.")
        if not f.orderable or f.column is None:
            raise BadInput(f"The '{name}' field does not allow ordering.")
        order.append((f.column, descending))
    return order


def parse_list_query(params: Params) -> ListQuery:
    return ListQuery(
        conditions=parse_filters(params), order=parse_order(params), limit=_limit(params), offset=_offset(params)
    )


def page_uri(params: Params, limit: int, offset: int) -> str:
    """The list URI of another page: `offset` and `limit` first, then the other parameters as given,
    but never the caller's credentials (they would travel on in every link the client follows)."""
    others = [(k, v) for k, v in params if k not in ("limit", "offset", *CREDENTIALS)]
    return f"{RESOURCE_PATH}?{urlencode([('offset', str(offset)), ('limit', str(limit)), *others])}"


def page_links(params: Params, limit: int, offset: int, total: int) -> tuple[str | None, str | None]:
    """(previous, next). Unlike tastypie, a page that starts before `limit` still links back to 0."""
    previous = page_uri(params, limit, max(0, offset - limit)) if offset > 0 else None
    following = page_uri(params, limit, offset + limit) if offset + limit < total else None
    return previous, following


# ---------------------------------------------------------------- bodies


class UnsupportedMediaType(BadInput):
    """A body that is not JSON: 415, as tastypie answers an unsupported deserialization format."""

    http_status = 415


def parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """A JSON object body, as tastypie deserializes it (no Content-Type means JSON)."""
    if content_type:
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(f"the body must be application/json, not {media!r}")
    if not raw.strip():
        raise BadInput("the request needs a JSON body")
    data = parse_json(raw, "the body")
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


CREATE_KEYS = frozenset({"plugin", "config", "run_level"})


@dataclass(frozen=True)
class CreateRequest:
    plugin: str
    config: Any
    run_level: str


def parse_create(data: dict[str, Any]) -> CreateRequest:
    for key in data:
        if key == "resource_uri":
            continue  # read-only: tastypie ignores it
        if key in FIELDS and key not in CREATE_KEYS:
            raise BadInput(f"'{key}' cannot be given when creating a job; give plugin, config and run_level")
        if key not in CREATE_KEYS:
            raise BadInput(f"unknown field {key!r}; a new job takes plugin, config and run_level")
    plugin = data.get("plugin")
    if not isinstance(plugin, str) or not 1 <= len(plugin) <= 200:
        raise BadInput("'plugin' is required: the name or id of a plugin")
    run_level = data.get("run_level", "default")
    if not isinstance(run_level, str):
        raise BadInput("'run_level' must be a string")
    return CreateRequest(plugin=plugin, config=data.get("config", {}), run_level=run_level)


UPDATE_KEYS = frozenset({*FIELDS, "plugin"})
_UPDATE_TYPES: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "grid_engine_jobid": (int, type(None)),
    "state": (str,),
    "starttime": (str, type(None)),
    "endtime": (str, type(None)),
    "run_level": (str,),
    "resource_uri": (str, type(None)),
    "plugin": (str,),
}


def parse_update(data: dict[str, Any]) -> dict[str, Any]:
    """A PUT or PATCH body, type-checked; the values are compared with the job later."""
    checked: dict[str, Any] = {}
    for key, value in data.items():
        if key not in UPDATE_KEYS:
            raise BadInput(f"unknown field {key!r}; fields: {sorted(FIELDS)}")
        types = _UPDATE_TYPES.get(key)
        if types is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise BadInput(f"'{key}' has the wrong type")
        if key == "state" and value not in ION_STATES:
            raise BadInput(f"unknown state {value!r}; states: {list(ION_STATES)}")
        if key in ("starttime", "endtime") and value is not None:
            try:
                value = parse_ion_datetime(value)
            except ValueError:
                raise BadInput(f"'{key}' is not an ISO 8601 date-time") from None
        if key != "resource_uri":  # read-only: tastypie ignores it
            checked[key] = value
    return checked
