"""Alteryx Server API v3: OAuth2 client credentials, jobs of a workflow, the curators' job list,
a job, its messages and its output files. A workflow is a plugin (`appId` = pluginId); a job is
named by its jobId.

Alteryx's status, disposition and priority names, its date format, its sort fields and its field
names live here and nowhere else. Errors are `{"error": ..., "message": ...}`: Alteryx's clients
read `message`, jobgraph's other clients `error` (the same text).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from jobgraph.clock import as_utc
from jobgraph.db.models import Job, Message, Output
from jobgraph.errors import BadInput, DomainError, Forbidden, NotFound, Unauthenticated
from jobgraph.ids import is_public_id
from jobgraph.resolvers import job_list, jobs, loaders, plugins, policy, users
from jobgraph.resolvers.jobs import JobSpec
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import Endpoint, enum_param, int_param, method_route, parse_json
from jobgraph.unit import Unit
from jobgraph.web.views import answer, answer_public, runtime

# ---------------------------------------------------------------- the mapping table

# jobgraph status -> Alteryx job status
STATUS: dict[str, str] = {
    "queued": "Queued",
    "running": "Running",
    "finished": "Completed",
    "failed": "Completed",
    "invalidated": "Completed",
    "cancelled": "Cancelled",
}
# jobgraph status -> disposition; None is decided by the job's messages (Success or Warning).
DISPOSITION: dict[str, str | None] = {
    "queued": None,
    "running": None,
    "finished": None,
    "failed": "Error",
    "cancelled": "Cancelled",
    "invalidated": "Warning",  # it ran to the end, and its result was then declared invalid
}
WARNING_LEVEL = 2  # messages with status 2 (warning) or 3 (error) make a finished job a Warning
# priority name -> the integer a request's name means; reading, each name covers [value, next value).
PRIORITY: dict[str, int] = {"Low": -10, "Default": 0, "Medium": 10, "High": 20, "Critical": 30}
DEFAULT_QUEUE = "default"  # shown as workerTag ""
# `status` filter of a workflow's job list (case-insensitive) -> jobgraph statuses
STATUS_FILTER: dict[str, list[str]] = {
    "queued": ["queued"],
    "running": ["running"],
    "completed": ["finished", "failed", "invalidated"],
    "complete": ["finished", "failed", "invalidated"],
    "error": ["failed"],
    "cancelled": ["cancelled"],
    "initializing": [],  # Alteryx's start-up phase of a job: jobgraph has none, so no job is in it
}
STATUS_NAMES = ["Queued", "Initializing", "Running", "Completed", "Complete", "Cancelled", "Error"]
# `sortField` of the curators' job list (case-insensitive) -> jobgraph column; CreateDate is the
# job's number order (the order of creation).
SORT_FIELDS: dict[str, str | None] = {
    "CreateDate": None,
    "AppName": "plugin_id",
    "CompletionDateTime": "finished_at",
    "Priority": "priority",
    "Status": "status",
}

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = job_list.MAX_PAGE
MAX_OFFSET = 1_000_000_000
INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")


def alteryx_date(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`: `2024-09-19T10:02:54.589Z`."""
    when = as_utc(value)
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def priority_name(priority: int) -> str:
    """Low (< 0), Default (0..9), Medium (10..19), High (20..29), Critical (>= 30)."""
    for name, floor in sorted(PRIORITY.items(), key=lambda item: -item[1]):
        if priority >= floor:
            return name
    return "Low"


def worker_tag(queue: str) -> str:
    return "" if queue == DEFAULT_QUEUE else queue


def disposition(status: str, messages: list[Message]) -> str | None:
    if status in ("queued", "running"):
        return None
    fixed = DISPOSITION[status]
    if fixed is not None:
        return fixed
    return "Warning" if any(m.status >= WARNING_LEVEL for m in messages) else "Success"


def message_object(row: Message) -> dict[str, Any]:
    return {"status": row.status, "text": row.text, "toolId": row.tool_id}


def job_object(job: Job, outputs: list[Output], messages: list[Message], include_messages: bool) -> dict[str, Any]:
    """A job as Alteryx's `GET /v3/jobs/{jobId}` answers it."""
    body: dict[str, Any] = {
        "id": job.job_id,
        "appId": job.plugin_id,
        "createDateTime": alteryx_date(job.created_at),
        "status": STATUS[job.status],
        "disposition": disposition(job.status, messages),
        "outputs": [
            {"id": o.id, "availableFormats": list(o.available_formats or []), "fileName": o.file_name} for o in outputs
        ],
    }
    if include_messages:
        body["messages"] = [message_object(m) for m in messages]
    body["priority"] = priority_name(job.priority)
    body["workerTag"] = worker_tag(job.queue)
    body["runWithE2"] = False
    return body


def job_summary(job: Job) -> dict[str, Any]:
    """A job in a workflow's job list (Alteryx's short form)."""
    return {
        "id": job.job_id,
        "createDate": alteryx_date(job.created_at),
        "status": STATUS[job.status],
        "priority": priority_name(job.priority),
        "workerTag": worker_tag(job.queue),
        "runWithE2": False,
    }


def job_list_item(job: Job) -> dict[str, Any]:
    """A job in the curators' job list (`GET /v3/jobs`): the short form, with its workflow and
    when it completed."""
    return {
        **job_summary(job),
        "appId": job.plugin_id,
        "completionDateTime": alteryx_date(job.finished_at),
    }


# ---------------------------------------------------------------- use of the use cases


def _object_of(u: Unit, job: Job, include_messages: bool) -> dict[str, Any]:
    assert job.number is not None
    outputs = loaders.outputs(u, [job.number])[0]
    messages = loaders.messages(u, [job.number])[0]
    return job_object(job, outputs, messages, include_messages)


def load_job(u: Unit, viewer: Viewer, job_id: str, include_messages: bool) -> dict[str, Any]:
    return _object_of(u, jobs.require_job(u, viewer, job_id), include_messages)


def cancel_job(u: Unit, viewer: Viewer, job_id: str) -> dict[str, Any]:
    return _object_of(u, jobs.cancel_job(u, viewer, job_id), True)


def load_messages(u: Unit, viewer: Viewer, job_id: str) -> list[dict[str, Any]]:
    policy.require_manage_jobs(viewer)
    job = jobs.require_job(u, viewer, job_id)
    assert job.number is not None
    return [message_object(m) for m in loaders.messages(u, [job.number])[0]]


def list_workflow_jobs(
    u: Unit,
    viewer: Viewer,
    workflow_id: str,
    statuses: list[str] | None,
    newest_first: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    if plugins.get_plugin(u, viewer, workflow_id) is None:
        raise NotFound(f"no workflow {workflow_id!r}")
    page = job_list.list_jobs(
        u,
        viewer,
        job_list.JobFilter(plugin_ids=[workflow_id], statuses=statuses),
        order="NEWEST" if newest_first else "OLDEST",
        first=limit,
        offset=offset,
        with_total=False,
    )
    return [job_summary(j) for j in page.jobs]


@dataclass
class JobQuery:
    """The curators' job list query (`GET /v3/jobs`), parsed."""

    workflow_ids: list[str] | None = None
    statuses: list[str] | None = None
    sort_column: str | None = None  # None: creation order
    newest_first: bool = True
    offset: int = 0
    limit: int = DEFAULT_LIST_LIMIT
    all_users: bool = False
    user_emails: list[str] | None = None


def list_all_jobs(u: Unit, viewer: Viewer, query: JobQuery) -> list[dict[str, Any]]:
    """Alteryx's `GET /v3/jobs`: for curators (manageJobs) only, as Alteryx documents it; their
    own jobs unless `allUsers=true` (then everyone's, or those of `users`)."""
    policy.require_manage_jobs(viewer)
    if query.statuses == []:
        return []  # only states jobgraph has no job in (Initializing)
    conditions = [] if query.all_users else [job_list.Condition("user_id", "eq", viewer.user_id)]
    page = job_list.list_jobs(
        u,
        viewer,
        job_list.JobFilter(
            plugin_ids=query.workflow_ids,
            statuses=query.statuses,
            user_emails=query.user_emails if query.all_users else None,
            conditions=conditions,
        ),
        order="NEWEST" if query.newest_first else "OLDEST",
        custom_order=None if query.sort_column is None else [(query.sort_column, query.newest_first)],
        first=query.limit,
        offset=query.offset,
        with_total=False,
    )
    return [job_list_item(j) for j in page.jobs]


def create_job(u: Unit, viewer: Viewer, spec: JobSpec) -> dict[str, Any]:
    return _object_of(u, jobs.create_job(u, viewer, spec), True)


def output_file(u: Unit, viewer: Viewer, job_id: str, output_id: str) -> tuple[Path, Output]:
    """The file of an output of a job the viewer may see; never a path outside the outputs folder."""
    job = jobs.require_job(u, viewer, job_id)
    assert job.number is not None
    output = loaders.output(u, job.number, output_id) if is_public_id(output_id) else None
    if output is None:
        raise NotFound(f"job {job.job_id} has no output {output_id}")
    root = u.settings.outputs_dir.resolve()
    path = (root / output.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"the file of output {output_id} is gone")
    return path, output


# ---------------------------------------------------------------- parsing requests


def parse_priority(value: Any) -> int:
    """A priority name (Low, Default, Medium, High, Critical; any case) or an integer."""
    if value is None:
        return PRIORITY["Default"]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        by_name = {name.lower(): number for name, number in PRIORITY.items()}
        text = value.strip()
        if text.lower() in by_name:
            return by_name[text.lower()]
        if INTEGER.match(text):
            return int(text)
    raise BadInput(f"priority must be one of {list(PRIORITY)} or an integer")


def parse_questions(value: Any) -> dict[str, Any]:
    """Alteryx's `questions: [{name, value}]` as the job's input object. Alteryx's own client also
    sends them as an object of name -> value, taken as it is."""
    if value is None:
        return {}
    if isinstance(value, dict):
        for name in value:
            if not name:
                raise BadInput("questions: a question's name must not be empty")
        return dict(value)
    if not isinstance(value, list):
        raise BadInput("questions must be an array of {name, value} or an object of name -> value")
    answers: dict[str, Any] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise BadInput(f"questions[{index}] must be an object with a non-empty string name")
        if item["name"] in answers:
            raise BadInput(f"questions[{index}]: question {item['name']!r} is answered twice")
        answers[item["name"]] = item.get("value")
    return answers


def parse_create(workflow_id: str, body: Any) -> JobSpec:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object {workerTag, credentialId, questions, priority}")
    tag = body.get("workerTag")
    if tag is not None and not isinstance(tag, str):
        raise BadInput("workerTag must be a string")
    credential = body.get("credentialId")
    if credential is not None and not isinstance(credential, str):
        raise BadInput("credentialId must be a string")
    return JobSpec(
        plugin_id=workflow_id,
        input=parse_questions(body.get("questions")),
        priority=parse_priority(body.get("priority")),
        queue=tag or None,  # "" or none: the plugin's queue
    )


def bool_param(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default  # Alteryx: "can be left without a value"
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise BadInput(f"{name} must be true or false")


def list_params(request: Request) -> tuple[list[str] | None, bool, int, int]:
    # Documented as enums: absent, the default; given (even empty), one of the values, any case.
    status_names = ["Queued", "Running", "Completed", "Complete", "Cancelled", "Error"]
    raw_status = enum_param(request, "status", "", status_names, fold_case=True)
    statuses = STATUS_FILTER[raw_status.lower()] if raw_status else None
    enum_param(request, "sortField", "createDate", ["createDate"], fold_case=True)
    direction = enum_param(request, "direction", "desc", ["asc", "desc"], fold_case=True).lower()
    offset = int_param(request, "offset", 0, low=0, high=MAX_OFFSET)
    limit = int_param(request, "limit", DEFAULT_LIST_LIMIT, low=0, high=MAX_LIST_LIMIT)
    return statuses, direction == "desc", offset, limit


def _names(raw: str | None) -> list[str] | None:
    """A comma-separated list parameter (empty items dropped); None when absent."""
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def job_query(request: Request) -> JobQuery:
    """The parameters of `GET /v3/jobs`: `workflowId` (one or several, comma-separated),
    `status` or `statuses` (comma-separated; any case), `sortField`, `direction`, `offset`,
    `limit`, `allUsers` and `users` (emails, with allUsers=true)."""
    params = request.query_params
    statuses: list[str] | None = None
    for name in ("status", "statuses"):
        given = _names(params.get(name))
        if given is None:
            continue
        by_name = {n.lower(): n for n in STATUS_NAMES}
        for item in given:
            if item.lower() not in by_name:
                raise BadInput(f"{name} must name some of {STATUS_NAMES}, not {item[:40]!r}")
        wanted = {s for item in given for s in STATUS_FILTER[item.lower()]}
        statuses = sorted(wanted) if statuses is None else sorted(wanted & set(statuses))
    sort_field = enum_param(request, "sortField", "CreateDate", list(SORT_FIELDS), fold_case=True)
    sort_column = {k.lower(): v for k, v in SORT_FIELDS.items()}[sort_field.lower()]
    direction = enum_param(request, "direction", "desc", ["asc", "desc"], fold_case=True).lower()
    workflows = _names(params.get("workflowId"))
    users_given = _names(params.get("users"))
    return JobQuery(
        workflow_ids=workflows or None,
        statuses=statuses,
        sort_column=sort_column,
        newest_first=direction == "desc",
        offset=int_param(request, "offset", 0, low=0, high=MAX_OFFSET),
        limit=int_param(request, "limit", DEFAULT_LIST_LIMIT, low=0, high=MAX_LIST_LIMIT),
        all_users=bool_param(request, "allUsers", False),
        user_emails=users_given or None,
    )


# ---------------------------------------------------------------- OAuth2


def _oauth_error(status: int, code: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="jobgraph"'
    return JSONResponse({"error": code, "error_description": description}, status_code=status, headers=headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (client_id, secret) if sep else None


async def oauth2_token(request: Request) -> Response:
    """RFC 6749 client credentials: client_id and client_secret are the API token `<id>.<secret>`
    split at its first dot; the answer is a short-lived access token of the same user, which
    lives only while that API token does and cannot itself serve as client credentials."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return _oauth_error(400, "invalid_request", "send grant_type, client_id and client_secret as a form")
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    grant_type = fields.get("grant_type", "")
    if not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    client_id, client_secret = _basic_credentials(request) or (fields.get("client_id"), fields.get("client_secret"))
    if not client_id or not client_secret:
        return _oauth_error(401, "invalid_client", "client_id and client_secret are required")
    rt = runtime(request)
    lifetime = rt.settings.access_token_seconds
    try:
        new = await answer_public(
            request,
            users.exchange_client_credentials,
            client_id,
            client_secret,
            timedelta(seconds=lifetime),
            write=True,
        )
    except Unauthenticated:
        return _oauth_error(401, "invalid_client", "client_id and client_secret do not name a valid API token")
    except Forbidden:
        return _oauth_error(
            401, "invalid_client", "client_id and client_secret name an access token: give an API token instead"
        )
    expires_in = lifetime if new.expires_in is None else new.expires_in
    return JSONResponse(
        {"access_token": new.secret, "token_type": "bearer", "expires_in": expires_in},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


# ---------------------------------------------------------------- views


def _job(u: Unit, viewer: Viewer, request: Request) -> dict[str, Any]:
    include = bool_param(request, "includeMessages", True)
    return load_job(u, viewer, request.path_params["jobId"], include)


async def get_job(request: Request) -> Response:
    return JSONResponse(await answer(request, _job, request))


async def delete_job(request: Request) -> Response:
    return JSONResponse(await answer(request, cancel_job, request.path_params["jobId"], write=True))


async def get_messages(request: Request) -> Response:
    return JSONResponse(await answer(request, load_messages, request.path_params["jobId"]))


async def get_output(request: Request) -> Response:
    wanted = request.query_params.get("format")
    path, output = await answer(request, output_file, request.path_params["jobId"], request.path_params["outputId"])
    formats = [f.lower() for f in output.available_formats or []]
    if wanted and wanted.lower() not in formats:
        raise BadInput(f"format must be one of {output.available_formats}")
    return FileResponse(path, media_type=output.content_type, filename=PurePosixPath(output.file_name).name)


def _all_jobs(u: Unit, viewer: Viewer, request: Request) -> list[dict[str, Any]]:
    # Who is no curator hears so before anything of their parameters.
    policy.require_manage_jobs(viewer)
    return list_all_jobs(u, viewer, job_query(request))


async def get_jobs(request: Request) -> Response:
    return JSONResponse(await answer(request, _all_jobs, request))


def _workflow_jobs(u: Unit, viewer: Viewer, request: Request) -> list[dict[str, Any]]:
    statuses, newest_first, offset, limit = list_params(request)
    workflow_id = request.path_params["workflowId"]
    return list_workflow_jobs(u, viewer, workflow_id, statuses, newest_first, offset, limit)


async def get_workflow_jobs(request: Request) -> Response:
    return JSONResponse(await answer(request, _workflow_jobs, request))


def _create(u: Unit, viewer: Viewer, workflow_id: str, body: bytes) -> dict[str, Any]:
    # Who may not run plugins hears so before anything of their body (the policy; create_jobs
    # holds the rule).
    policy.require_run_plugins(viewer)
    spec = parse_create(workflow_id, parse_json(body, "the body") if body.strip() else None)
    return create_job(u, viewer, spec)


async def post_workflow_job(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(await answer(request, _create, request.path_params["workflowId"], body, write=True))


def error_response(exc: DomainError) -> JSONResponse:
    """An error as Alteryx's clients read it (`message`), keeping jobgraph's `error` key."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse({"error": exc.message, "message": exc.message}, status_code=exc.http_status, headers=headers)


def _route(path: str, handlers: dict[str, Endpoint]) -> Route:
    return method_route(path, handlers, error_response)


def routes() -> list[BaseRoute]:
    return [
        _route("/webapi/oauth2/token", {"POST": oauth2_token}),
        _route("/webapi/v3/jobs", {"GET": get_jobs}),
        _route("/webapi/v3/jobs/{jobId}", {"GET": get_job, "DELETE": delete_job}),
        _route("/webapi/v3/jobs/{jobId}/messages", {"GET": get_messages}),
        _route("/webapi/v3/jobs/{jobId}/output/{outputId}", {"GET": get_output}),
        _route("/webapi/v3/workflows/{workflowId}/jobs", {"GET": get_workflow_jobs, "POST": post_workflow_job}),
    ]
