"""Ion Torrent's PluginResultJob (django-tastypie): its field names, state names and date format.

This is the one mapping table of the Ion view; `tastypie.py` serves it, `tastypie_query.py`
parses its list queries and bodies, `tastypie_openapi.py` documents it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobgraph.clock import as_utc
from jobgraph.db.models import Job

API_ROOT = "/rundb/api/v1/"
RESOURCE_NAME = "PluginResultJob"
RESOURCE_PATH = f"{API_ROOT}{RESOURCE_NAME}/"

# jobgraph status -> Ion state. A failed job whose failure was the plugin's time limit is TIMED_OUT.
STATE: dict[str, str] = {
    "queued": "Queued",
    "running": "Started",
    "finished": "Completed",
    "failed": "Error",
    "cancelled": "Cancelled",
    "invalidated": "Archived",
}
TIMED_OUT = "Timed Out"
CANCELLED = STATE["cancelled"]
# Ion state -> value of job_list's derived `status_detail` column (the status, or timed_out).
STATE_FILTER: dict[str, str] = {**{ion: status for status, ion in STATE.items()}, TIMED_OUT: "timed_out"}
ION_STATES: tuple[str, ...] = (*STATE.values(), TIMED_OUT)

NO_DEFAULT = "No default provided."  # what tastypie's schema says of a field without a default
INTEGER_HELP = "Integer data. Ex: 2673"
STRING_HELP = 'Unicode string data. Ex: "Hello World"'
DATETIME_HELP = 'A date & time as a string. Ex: "2010-11-10T03:07:43"'


@dataclass(frozen=True)
class Field:
    """One resource field, with the attributes of the seed's table and how to query it."""

    name: str
    type: str  # integer | string | datetime (tastypie's dehydrated types)
    help_text: str
    default: str = NO_DEFAULT
    nullable: bool = False
    readonly: bool = False
    blank: bool = False
    unique: bool = False
    column: str | None = None  # job_list column it filters and orders on
    filters: tuple[str, ...] = ()  # allowed tastypie lookups
    orderable: bool = False


_COMPARE = ("exact", "in", "gt", "gte", "lt", "lte")
_TIMES = ("exact", "gt", "gte", "lt", "lte", "isnull")

# The seed's table, in its order.
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field(
            "grid_engine_jobid",
            "integer",
            INTEGER_HELP,
            nullable=True,
            column="worker_id",
            filters=("exact", "isnull"),
            orderable=True,
        ),
        Field(
            "id",
            "integer",
            INTEGER_HELP,
            default="",
            blank=True,
            unique=True,
            column="number",
            filters=_COMPARE,
            orderable=True,
        ),
        Field("state", "string", STRING_HELP, column="status", filters=("exact", "in"), orderable=True),
        Field(
            "starttime", "datetime", DATETIME_HELP, nullable=True, column="started_at", filters=_TIMES, orderable=True
        ),
        Field(
            "endtime", "datetime", DATETIME_HELP, nullable=True, column="finished_at", filters=_TIMES, orderable=True
        ),
        Field("config", "string", STRING_HELP, default="", blank=True),
        Field("run_level", "string", STRING_HELP, column="run_level", filters=("exact", "in"), orderable=True),
        Field("resource_uri", "string", STRING_HELP, readonly=True),
    )
}
LIST_METHODS = ("get", "post")
DETAIL_METHODS = ("get", "put", "delete", "patch")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def ion_state(status: str, failure_kind: str | None) -> str:
    if status == "failed" and failure_kind == "timeout":
        return TIMED_OUT
    return STATE[status]


def ion_datetime(value: datetime | None) -> str | None:
    """ISO 8601 with microseconds and offset: `2017-08-09T20:26:03.000549+00:00`."""
    when = as_utc(value)
    return None if when is None else when.isoformat(timespec="microseconds")


def parse_ion_datetime(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC. Raises ValueError."""
    text = text.strip()
    if len(text) > 19 and text[-6] == " " and text[-3] == ":":
        text = f"{text[:-6]}+{text[-5:]}"  # a `+` that a query string turned into a space
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def resource_uri(number: int | None) -> str:
    return f"{RESOURCE_PATH}{number}/"


def grid_engine_jobid(worker_id: int | None) -> int:
    return -1 if worker_id is None else worker_id


def job_resource(job: Job) -> dict[str, Any]:
    """One job as a PluginResultJob, with exactly the seed's keys in the seed's order."""
    return {
        "grid_engine_jobid": grid_engine_jobid(job.worker_id),
        "id": job.number,
        "state": ion_state(job.status, job.failure_kind),
        "starttime": ion_datetime(job.started_at),
        "endtime": ion_datetime(job.finished_at),
        "config": job.input,
        "run_level": job.run_level,
        "resource_uri": resource_uri(job.number),
    }


def top_level() -> dict[str, dict[str, str]]:
    """The API root as tastypie's `Api.top_level` answers it: each resource's list and schema URLs."""
    return {RESOURCE_NAME: {"list_endpoint": RESOURCE_PATH, "schema": f"{RESOURCE_PATH}schema/"}}


def schema_document() -> dict[str, Any]:
    """tastypie's `schema/` answer for this resource."""
    return {
        "allowed_detail_http_methods": list(DETAIL_METHODS),
        "allowed_list_http_methods": list(LIST_METHODS),
        "default_format": "application/json",
        "default_limit": DEFAULT_LIMIT,
        "fields": {
            f.name: {
                "blank": f.blank,
                "default": f.default,
                "help_text": f.help_text,
                "nullable": f.nullable,
                "primary_key": f.name == "id",
                "readonly": f.readonly,
                "type": f.type,
                "unique": f.unique,
                "verbose_name": f.name.replace("_", " "),
            }
            for f in FIELDS.values()
        },
        "filtering": {f.name: list(f.filters) for f in FIELDS.values() if f.filters},
        "ordering": [f.name for f in FIELDS.values() if f.orderable],
    }
