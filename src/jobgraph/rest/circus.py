"""CIRCUS: the administrator's plugin job queue (`GET /api/admin/plugin-job-queue`), CIRCUS's
plugin-job routes (`/api/plugin-jobs`: create, read, search, cancel or invalidate, feedback,
attachments) and a user's own queue (`GET /api/plugin-job-queue`), as CIRCUS's circus-api
defines them (packages/circus-api/src/api/plugin-jobs, plugin-job-queue). The OpenAPI
description is in `circus_openapi`.

CIRCUS's field names, status names, date format, filter and sort language live here and nowhere
else; every route calls the same use cases as GraphQL. Where CIRCUS's status codes differ from
jobgraph's, its own routes answer as CIRCUS does: a duplicate job, or feedback refused by the job's
state, is 400; a cancel or invalidate the job's state refuses is 422. (CIRCUS answers a missing
privilege with 401; jobgraph keeps 403, so that 401 always means "no valid token".)
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from jobgraph.clock import as_utc
from jobgraph.db.models import Feedback, Job, JobSeries, Output, User
from jobgraph.errors import BadInput, Conflict, NotFound
from jobgraph.resolvers import feedback, job_list, jobs, loaders, policy
from jobgraph.resolvers.feedback import FeedbackSpec
from jobgraph.resolvers.jobs import MAX_PRIORITY, JobSpec, SeriesRef
from jobgraph.resolvers.limits import INT_MAX, MAX_DATETIME_CHARS, check_datetime
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import (
    Endpoint,
    check_request,
    enum_param,
    error_response,
    int_param,
    method_route,
    parse_json,
)
from jobgraph.unit import Unit
from jobgraph.web.views import answer

PATH = "/api/admin/plugin-job-queue"
PLUGIN_JOBS = "/api/plugin-jobs"
MY_QUEUE = "/api/plugin-job-queue"

# The one mapping table of this system: jobgraph status -> CIRCUS status.
STATUS: dict[str, str] = {
    "queued": "in_queue",
    "running": "processing",
    "finished": "finished",
    "failed": "failed",
    "cancelled": "cancelled",
    "invalidated": "invalidated",
}
STATUS_OF: dict[str, str] = {circus: ours for ours, circus in STATUS.items()}

# `state` query value -> (statuses, ordering). The queue states list in dispatch order
# (priority high first, then oldest); `all` lists newest first.
STATES: dict[str, tuple[list[str] | None, str]] = {
    "wait": (["queued"], "DISPATCH"),
    "processing": (["running"], "DISPATCH"),
    "all": (None, "NEWEST"),
}
# `state` of a user's own queue (`GET /api/plugin-job-queue`): the queue holds queued and running jobs.
MY_STATES: dict[str, list[str]] = {"wait": ["queued"], "processing": ["running"], "all": ["queued", "running"]}
DEFAULT_LIMIT = 20
MAX_LIMIT = 200
MAX_PAGE = 1_000_000_000


def circus_date(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`: `2023-01-10T00:01:00.000Z`."""
    when = as_utc(value)
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _email(users: dict[int, User | None], user_id: int) -> str | None:
    user = users.get(user_id)
    return user.email if user else None


def _series(row: JobSeries) -> dict[str, Any]:
    volume = None if row.start is None else {"start": row.start, "end": row.end, "delta": row.delta}
    return {"seriesUid": row.series_uid, "partialVolumeDescriptor": volume}


def _feedback(row: Feedback, users: dict[int, User | None]) -> dict[str, Any]:
    return {
        "feedbackId": row.id,
        "userEmail": _email(users, row.user_id),
        "isConsensual": bool(row.is_consensual),
        "data": row.data,
        "actionLog": list(row.action_log or []),
        "createdAt": circus_date(row.created_at),
    }


def job_record(
    job: Job, users: dict[int, User | None], series: list[JobSeries], feedback: list[Feedback]
) -> dict[str, Any]:
    """One job as CIRCUS's admin queue shows it, with exactly the documented keys."""
    return {
        "jobId": job.job_id,
        "pluginId": job.plugin_id,
        "userEmail": _email(users, job.user_id),
        "status": STATUS[job.status],
        "series": [_series(s) for s in series],
        "errorMessage": job.error_message,
        "startedAt": circus_date(job.started_at),
        "finishedAt": circus_date(job.finished_at),
        "feedbacks": [_feedback(f, users) for f in feedback],
        "results": job.result,
        "createdAt": circus_date(job.created_at),
        "updatedAt": circus_date(job.updated_at),
    }


def search_record(record: dict[str, Any]) -> dict[str, Any]:
    """A job as CIRCUS's search (`GET /api/plugin-jobs`) lists it: without its results."""
    return {k: v for k, v in record.items() if k != "results"}


def records_of(u: Unit, found: list[Job]) -> list[dict[str, Any]]:
    """The records of these jobs in a fixed number of statements (their feedback, the users of
    both, their series)."""
    if not found:
        return []
    numbers = [j.number for j in found if j.number is not None]
    feedbacks = loaders.feedback(u, numbers)
    user_ids = sorted({j.user_id for j in found} | {f.user_id for items in feedbacks for f in items})
    users = dict(zip(user_ids, loaders.users(u, user_ids), strict=True))
    series = loaders.job_series(u, numbers)
    return [job_record(j, users, s, f) for j, s, f in zip(found, series, feedbacks, strict=True)]


@dataclass
class QueuePage:
    records: list[dict[str, Any]]
    total: int


def load_page(
    u: Unit,
    viewer: Viewer,
    state: str = "all",
    limit: int = DEFAULT_LIMIT,
    page: int = 1,
    *,
    request: Request | None = None,
) -> QueuePage:
    """One page of the queue: a fixed number of statements whatever the page size (the jobs,
    their count, their feedback, the users of both, their series). Given the `request`, its
    parameters are read after the privilege is checked: a guest learns nothing of them."""
    policy.require_manage_server(viewer)
    if request is not None:
        state = enum_param(request, "state", "all", STATES)
        limit = int_param(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        page = int_param(request, "page", 1, low=1, high=MAX_PAGE)
    statuses, order = STATES[state]
    found = job_list.list_jobs(
        u, viewer, job_list.JobFilter(statuses=statuses), order=order, first=limit, offset=(page - 1) * limit
    )
    return QueuePage(records_of(u, found.jobs), found.total)


async def plugin_job_queue(request: Request) -> JSONResponse:
    check_request(request)
    result = await answer(request, load_page, request=request)
    return JSONResponse(result.records, headers={"X-Total-Count": str(result.total)})


# ---------------------------------------------------------------- CIRCUS's plugin-job routes

DEFAULT_LIMIT_SEARCH = 20
MAX_SORT_KEYS = 5  # as CIRCUS's performSearch
MAX_FILTER_TERMS = 50
MAX_BODY_SERIES = jobs.MAX_SERIES
AUTO = "auto"  # CIRCUS's partialVolumeDescriptor "auto": the whole series (jobgraph's null)

# CIRCUS field -> (jobgraph column, kind) for `filter` and `sort`; kind says how values are read.
FIELDS: dict[str, tuple[str, str]] = {
    "jobId": ("job_id", "text"),
    "pluginId": ("plugin_id", "text"),
    "status": ("status", "status"),
    "createdAt": ("created_at", "date"),
    "updatedAt": ("updated_at", "date"),
    "startedAt": ("started_at", "date"),
    "finishedAt": ("finished_at", "date"),
    "priority": ("priority", "int"),
}
FILTER_FIELDS = [*FIELDS, "seriesUid"]
OPERATORS: dict[str, str] = {"$eq": "eq", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$in": "in"}
MAX_IN = 100


def _body_object(body: Any, allowed: set[str], what: str) -> dict[str, Any]:
    """A JSON object body with no key outside `allowed` (CIRCUS's `additionalProperties: false`)."""
    if not isinstance(body, dict):
        raise BadInput(f"{what} must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadInput(f"{what}: unknown key(s) {unknown[:5]}; allowed: {sorted(allowed)}")
    return body


def _int_field(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"{what} must be an integer from {low} to {high}")
    return value


def parse_series(value: Any) -> list[SeriesRef]:
    """CIRCUS's `series`: at least one `{seriesUid, partialVolumeDescriptor}`, the descriptor
    `{start, end, delta}` or "auto" (or null: the whole series)."""
    if not isinstance(value, list) or not value:
        raise BadInput("series must be a non-empty array of {seriesUid, partialVolumeDescriptor}")
    if len(value) > MAX_BODY_SERIES:
        raise BadInput(f"at most {MAX_BODY_SERIES} series per job")
    refs = []
    for i, item in enumerate(value):
        entry = _body_object(item, {"seriesUid", "partialVolumeDescriptor", "requiredPrivateTags"}, f"series[{i}]")
        uid = entry.get("seriesUid")
        if not isinstance(uid, str):
            raise BadInput(f"series[{i}].seriesUid must be a string")
        if "partialVolumeDescriptor" not in entry:
            raise BadInput(f'series[{i}] needs a partialVolumeDescriptor ({{start, end, delta}} or "auto")')
        tags = entry.get("requiredPrivateTags")
        if tags is not None and not isinstance(tags, str):
            raise BadInput(f"series[{i}].requiredPrivateTags must be a string")
        pvd = entry["partialVolumeDescriptor"]
        if pvd is None or pvd == AUTO:
            refs.append(SeriesRef(series_uid=uid))
            continue
        volume = _body_object(pvd, {"start", "end", "delta"}, f"series[{i}].partialVolumeDescriptor")
        numbers = [
            _int_field(volume.get(k), f"series[{i}].partialVolumeDescriptor.{k}", 1, INT_MAX)
            for k in ("start", "end", "delta")
        ]
        refs.append(SeriesRef(series_uid=uid, start=numbers[0], end=numbers[1], delta=numbers[2]))
    return refs


def parse_new_job(body: Any) -> JobSpec:
    """CIRCUS's `{pluginId, series, priority, force}`: the duplicate guard applies unless force."""
    body = _body_object(body, {"pluginId", "series", "priority", "force"}, "the body")
    plugin_id = body.get("pluginId")
    if not isinstance(plugin_id, str):
        raise BadInput("pluginId must be a string")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise BadInput("force must be true or false")
    priority = body.get("priority")
    return JobSpec(
        plugin_id=plugin_id,
        series=parse_series(body.get("series")),
        priority=0 if priority is None else _int_field(priority, "priority", -MAX_PRIORITY, MAX_PRIORITY),
        unique=not force,
    )


def _date(value: Any, what: str) -> datetime:
    """A date in a filter: EJSON's `{"$date": "<ISO 8601>"}` (CIRCUS's clients) or the ISO text."""
    if isinstance(value, dict) and set(value) == {"$date"}:
        value = value["$date"]
    if not isinstance(value, str) or len(value) > MAX_DATETIME_CHARS:
        raise BadInput(f'{what} must be a date: {{"$date": "<ISO 8601>"}} or the ISO 8601 text')
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f'{what} must be a date: {{"$date": "<ISO 8601>"}} or the ISO 8601 text') from None
    return check_datetime(when, what)


def _value(kind: str, value: Any, what: str) -> Any:
    if kind == "date":
        return _date(value, what)
    if kind == "int":
        return _int_field(value, what, -MAX_PRIORITY, MAX_PRIORITY)
    if not isinstance(value, str):
        raise BadInput(f"{what} must be a string")
    if kind == "status":
        if value not in STATUS_OF:
            raise BadInput(f"{what} must be one of {sorted(STATUS_OF)}")
        return STATUS_OF[value]
    return value


@dataclass
class _Terms:
    conditions: list[job_list.Condition] = field(default_factory=list)
    series_uid: str | None = None
    count: int = 0


def _add_terms(terms: _Terms, node: Any, depth: int = 0) -> None:
    if not isinstance(node, dict) or depth > 4:
        raise BadInput("Bad filter: a filter is a JSON object of field conditions (and $and)")
    for key, value in node.items():
        terms.count += 1
        if terms.count > MAX_FILTER_TERMS:
            raise BadInput(f"Bad filter: at most {MAX_FILTER_TERMS} conditions")
        if key == "$and":
            if not isinstance(value, list):
                raise BadInput("Bad filter: $and takes an array of filters")
            for item in value:
                _add_terms(terms, item, depth + 1)
            continue
        if key == "$or":
            raise BadInput("Bad filter: $or is not supported by jobgraph; send one search per alternative")
        if key == "seriesUid":
            if not isinstance(value, str) or (terms.series_uid is not None and terms.series_uid != value):
                raise BadInput("Bad filter: seriesUid takes one series UID (text)")
            terms.series_uid = value
            continue
        if key not in FIELDS:
            raise BadInput(f"Bad filter: {key[:40]!r} is not searchable; searchable: {FILTER_FIELDS}")
        column, kind = FIELDS[key]
        ops = value if isinstance(value, dict) and set(value) != {"$date"} else {"$eq": value}
        for op, operand in ops.items():
            what = f"filter {key}.{op}"
            if op == "$ne" and kind == "status":
                excluded = _value(kind, operand, what)
                terms.conditions.append(job_list.Condition(column, "in", sorted(set(STATUS) - {excluded})))
                continue
            if op == "$in":
                if not isinstance(operand, list) or len(operand) > MAX_IN:
                    raise BadInput(f"Bad filter: {what} takes an array of at most {MAX_IN} values")
                values = [_value(kind, v, what) for v in operand]
                terms.conditions.append(job_list.Condition(column, "in", values))
                continue
            if op not in OPERATORS:
                raise BadInput(f"Bad filter: {op[:20]!r} on {key} is not supported; use {sorted(OPERATORS)}")
            terms.conditions.append(job_list.Condition(column, OPERATORS[op], _value(kind, operand, what)))


def parse_filter(raw: str | None) -> job_list.JobFilter:
    """CIRCUS's `filter`: a JSON object of `field: value` or `field: {$gt, $gte, $lt, $lte, $ne
    (status), $in}` conditions, combined with `$and`; dates as EJSON `{"$date": ...}`."""
    if raw is None or raw == "":
        return job_list.JobFilter()
    terms = _Terms()
    _add_terms(terms, parse_json(raw, "filter"))
    return job_list.JobFilter(conditions=terms.conditions, series_uid=terms.series_uid)


def parse_sort(raw: str | None) -> list[tuple[str, bool]] | None:
    """CIRCUS's `sort`: a JSON object `{field: 1 | -1}` of at most five keys; None: newest first."""
    if raw is None:
        return None
    sort = parse_json(raw, "sort") if raw else None
    if not isinstance(sort, dict):
        raise BadInput("Bad sort parameter. Non-object passed.")
    if len(sort) > MAX_SORT_KEYS:
        raise BadInput("Bad sort parameter. Too many sort keys.")
    order = []
    for key, direction in sort.items():
        if key not in FIELDS or isinstance(direction, bool) or direction not in (1, -1):
            raise BadInput(f"Bad sort parameter. Invalid key/value pair; keys: {sorted(FIELDS)}, values 1 or -1.")
        order.append((FIELDS[key][0], direction == -1))
    return order or None


@dataclass
class SearchPage:
    items: list[dict[str, Any]]
    total: int
    page: int

    def body(self) -> dict[str, Any]:
        return {"items": self.items, "totalItems": self.total, "page": self.page}


def search(u: Unit, viewer: Viewer, request: Request) -> SearchPage:
    """`GET /api/plugin-jobs`: the jobs the viewer may see (their own; every job with manageJobs)."""
    job_filter = parse_filter(request.query_params.get("filter"))
    order = parse_sort(request.query_params.get("sort"))
    limit = int_param(request, "limit", DEFAULT_LIMIT_SEARCH, low=1, high=MAX_LIMIT)
    page = int_param(request, "page", 1, low=1, high=MAX_PAGE)
    found = job_list.list_jobs(
        u, viewer, job_filter, order="NEWEST", custom_order=order, first=limit, offset=(page - 1) * limit
    )
    return SearchPage([search_record(r) for r in records_of(u, found.jobs)], found.total, page)


def my_queue(u: Unit, viewer: Viewer, request: Request) -> SearchPage:
    """`GET /api/plugin-job-queue`: the queued and running jobs the viewer may see (an ordinary
    user: their own), in dispatch order."""
    state = enum_param(request, "state", "all", MY_STATES)
    limit = int_param(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    page = int_param(request, "page", 1, low=1, high=MAX_PAGE)
    found = job_list.list_jobs(
        u,
        viewer,
        job_list.JobFilter(statuses=MY_STATES[state]),
        order="DISPATCH",
        first=limit,
        offset=(page - 1) * limit,
    )
    return SearchPage(records_of(u, found.jobs), found.total, page)


def create(u: Unit, viewer: Viewer, body: bytes) -> str:
    # Who may not run plugins hears so before anything of their body (create_jobs holds the rule).
    policy.require_run_plugins(viewer)
    spec = parse_new_job(_parsed(body))
    return jobs.create_job(u, viewer, spec).job_id


def read(u: Unit, viewer: Viewer, job_id: str) -> dict[str, Any]:
    return records_of(u, [jobs.require_job(u, viewer, job_id)])[0]


def _parsed(raw: bytes, *, allow_empty: bool = False) -> Any:
    """A request's JSON body, read inside the answer: who is asking is known before it is parsed."""
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadInput("the request needs a JSON body")
    return parse_json(raw, "the body")


def change(u: Unit, viewer: Viewer, job_id: str, raw: bytes) -> None:
    """CIRCUS's PATCH: `{status: "cancelled"}` cancels (a running job once its plugin stopped),
    `{status: "invalidated"}` invalidates a finished job (manageJobs)."""
    body = _body_object(_parsed(raw), {"status"}, "the body")
    wanted = body.get("status")
    if wanted == "cancelled":
        jobs.cancel_job(u, viewer, job_id)
    elif wanted == "invalidated":
        jobs.invalidate_job(u, viewer, job_id)
    else:
        raise BadInput('status must be "cancelled" or "invalidated"')


def list_feedback(u: Unit, viewer: Viewer, job_id: str) -> list[dict[str, Any]]:
    job = jobs.require_job(u, viewer, job_id)
    assert job.number is not None
    rows = loaders.feedback(u, [job.number])[0]
    user_ids = sorted({f.user_id for f in rows})
    users = dict(zip(user_ids, loaders.users(u, user_ids), strict=True))
    return [_feedback(f, users) for f in rows]


def give_feedback(u: Unit, viewer: Viewer, job_id: str, consensual: bool, raw: bytes) -> str:
    # Who may not give this feedback hears so before anything of their body.
    policy.require_give_feedback(viewer, consensual)
    body = _body_object(_parsed(raw, allow_empty=True), {"data", "actionLog"}, "the body")
    action_log = body.get("actionLog", [])
    if not isinstance(action_log, list):
        raise BadInput("actionLog must be a JSON array")
    spec = FeedbackSpec(is_consensual=consensual, data=body.get("data"), action_log=action_log)
    return feedback.add_feedback(u, viewer, job_id, spec).id


def remove_feedback(u: Unit, viewer: Viewer, job_id: str, feedback_id: str) -> int:
    return feedback.remove_job_feedback(u, viewer, job_id, None if feedback_id == "all" else feedback_id)


def list_attachments(u: Unit, viewer: Viewer, job_id: str) -> list[str]:
    """The job's output files, by their paths in its output folder."""
    job = jobs.require_job(u, viewer, job_id)
    assert job.number is not None
    return [o.file_name for o in loaders.outputs(u, [job.number])[0]]


def attachment(u: Unit, viewer: Viewer, job_id: str, path: str) -> tuple[Path, Output]:
    """An output file of the job by its path; never a file outside the outputs folder."""
    if ".." in PurePosixPath(path).parts or path.startswith("/") or "\\" in path:
        raise BadInput("Invalid path parameter.")
    job = jobs.require_job(u, viewer, job_id)
    assert job.number is not None
    output = next((o for o in loaders.outputs(u, [job.number])[0] if o.file_name == path), None)
    if output is None:
        raise NotFound(f"job {job.job_id} has no attachment {path[:200]!r}")
    root = u.settings.outputs_dir.resolve()
    file = (root / output.path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise NotFound(f"the file of attachment {path[:200]!r} is gone")
    return file, output


# ---------------------------------------------------------------- views


def _conflict_as(status: int, view: Endpoint) -> Endpoint:
    """CIRCUS answers a request the job's state refuses with `status` (400 or 422), not 409."""

    async def endpoint(request: Request) -> Response:
        try:
            return await view(request)
        except Conflict as exc:
            return error_response(status, exc.message)

    return endpoint


async def search_view(request: Request) -> Response:
    return JSONResponse((await answer(request, search, request)).body())


async def my_queue_view(request: Request) -> Response:
    return JSONResponse((await answer(request, my_queue, request)).body())


async def create_view(request: Request) -> Response:
    body = await request.body()
    job_id = await answer(request, create, body, write=True)
    return JSONResponse({"jobId": job_id}, status_code=201)


async def read_view(request: Request) -> Response:
    return JSONResponse(await answer(request, read, request.path_params["jobId"]))


async def change_view(request: Request) -> Response:
    await answer(request, change, request.path_params["jobId"], await request.body(), write=True)
    return Response(status_code=204)


def _feedback_view(consensual: bool) -> Endpoint:
    async def view(request: Request) -> Response:
        raw = await request.body()
        feedback_id = await answer(request, give_feedback, request.path_params["jobId"], consensual, raw, write=True)
        return JSONResponse({"feedbackId": feedback_id})

    return view


async def list_feedback_view(request: Request) -> Response:
    return JSONResponse(await answer(request, list_feedback, request.path_params["jobId"]))


async def delete_feedback_view(request: Request) -> Response:
    params = request.path_params
    await answer(request, remove_feedback, params["jobId"], params["feedbackId"], write=True)
    return Response(status_code=204)


async def attachments_view(request: Request) -> Response:
    return JSONResponse(await answer(request, list_attachments, request.path_params["jobId"]))


async def attachment_view(request: Request) -> Response:
    file, output = await answer(request, attachment, request.path_params["jobId"], request.path_params["path"])
    media_type = output.content_type or mimetypes.guess_type(output.file_name)[0] or "application/octet-stream"
    return FileResponse(file, media_type=media_type, filename=PurePosixPath(output.file_name).name)


def routes() -> list[BaseRoute]:
    job = PLUGIN_JOBS + "/{jobId}"
    return [
        Route(PATH, plugin_job_queue, methods=["GET"]),
        method_route(MY_QUEUE, {"GET": my_queue_view}),
        method_route(PLUGIN_JOBS, {"GET": search_view, "POST": _conflict_as(400, create_view)}),
        method_route(job, {"GET": read_view, "PATCH": _conflict_as(422, change_view)}),
        method_route(job + "/feedback", {"GET": list_feedback_view}),
        method_route(job + "/feedback/personal", {"POST": _conflict_as(400, _feedback_view(False))}),
        method_route(job + "/feedback/consensual", {"POST": _conflict_as(400, _feedback_view(True))}),
        method_route(job + "/feedback/{feedbackId}", {"DELETE": _conflict_as(400, delete_feedback_view)}),
        method_route(job + "/attachment", {"GET": attachments_view}),
        method_route(job + "/attachment/{path:path}", {"GET": attachment_view}),
    ]
