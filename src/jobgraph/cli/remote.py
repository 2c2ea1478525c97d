"""Job commands: they talk to a running jobgraph over GraphQL, with an API token, as any
client would (JOBGRAPH_URL, JOBGRAPH_TOKEN)."""

from __future__ import annotations

import json
import re
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from jobgraph.cli.errors import fail

job_app = typer.Typer(help="Jobs, through the API (JOBGRAPH_URL, JOBGRAPH_TOKEN).", no_args_is_help=True)

Url = Annotated[str, typer.Option(envvar="JOBGRAPH_URL", help="The jobgraph API.")]
Token = Annotated[str, typer.Option(envvar="JOBGRAPH_TOKEN", help="Your API token.")]

JOB_FIELDS = """jobId number status priority queue plugin { pluginId name } user { email } input result
errorMessage attempts retries progress notes createdAt startedAt finishedAt
series { seriesUid partialVolumeDescriptor { start end delta } }
messages { status text createdAt } outputs { id fileName size url } feedbacks { feedbackId isConsensual data }"""
ENDED = {"finished", "failed", "cancelled", "invalidated"}


class JobStatus(StrEnum):
    """What --status accepts: typer names the allowed values when given another."""

    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"
    cancelled = "cancelled"
    invalidated = "invalidated"


Statuses = Annotated[list[JobStatus] | None, typer.Option(help="Only jobs in this status; repeat.")]
# graphql-core's "Variable '$f' got invalid value 'x' at 'f.status[0]'; <why>": the variable
# names are this command's own business, the reason is the user's.
VARIABLE_ERROR = re.compile(r"^Variable '\$\w+' got invalid value .*?; (?P<why>.+)$", re.DOTALL)


def _plain(message: str) -> str:
    match = VARIABLE_ERROR.match(message)
    return match.group("why") if match else message


LEVELS = {1: "info", 2: "warning", 3: "error"}


def gql(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    if not token:
        raise fail("give an API token: --token or JOBGRAPH_TOKEN")
    import httpx  # here, not at the top: `jobgraph --help` stays fast

    try:
        response = httpx.post(
            url.rstrip("/") + "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach jobgraph at {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        raise fail(f"{url} answered {response.status_code}, not GraphQL") from None
    if body.get("errors"):
        raise fail("; ".join(_plain(str(e.get("message", "?"))) for e in body["errors"]))
    return body["data"]  # type: ignore[no-any-return]


def _json_arg(value: str | None, what: str) -> Any:
    """JSON, or @file.json. A missing file or bad JSON is the user's mistake: one line, exit 2."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as exc:
            raise fail(f"{what} {value}: cannot read {value[1:]!r}: {exc.strerror or exc}", 2) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{what} is not valid JSON: {exc}", 2) from None


def _series_arg(values: list[str]) -> list[dict[str, Any]]:
    """UID or UID:start:end[:delta]."""
    parsed = []
    for value in values:
        uid, *volume = value.split(":")
        item: dict[str, Any] = {"seriesUid": uid}
        if volume:
            try:
                numbers = [int(v) for v in volume]
            except ValueError:
                raise fail(f"--series {value}: use UID or UID:start:end[:delta]") from None
            if len(numbers) not in (2, 3):
                raise fail(f"--series {value}: use UID or UID:start:end[:delta]")
            item["partialVolumeDescriptor"] = {
                "start": numbers[0],
                "end": numbers[1],
                "delta": numbers[2] if len(numbers) == 3 else 1,
            }
        parsed.append(item)
    return parsed


def _print_job(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(job, indent=2))
        return
    typer.echo(f"job {job['jobId']} (#{job['number']})  {job['status']}")
    typer.echo(
        f"  plugin   {job['plugin']['pluginId'] if job.get('plugin') else '?'}   queue {job['queue']}   "
        f"priority {job['priority']}   attempt {job['retries'] + 1} of {job['attempts']}"
    )
    if job.get("progress") is not None:
        typer.echo(f"  progress {job['progress']:.0%}")
    for key in ("createdAt", "startedAt", "finishedAt"):
        if job.get(key):
            typer.echo(f"  {key[:-2]:<8} {job[key]}")
    if job.get("errorMessage"):
        typer.echo(f"  error    {job['errorMessage']}")
    if job.get("result") is not None:
        typer.echo(f"  result   {json.dumps(job['result'])}")
    for output in job.get("outputs") or []:
        typer.echo(f"  output   {output['fileName']} ({output['size']} bytes) {output['url']}")
    for message in job.get("messages") or []:
        typer.echo(f"  [{LEVELS.get(message['status'], message['status'])}] {message['text']}")


@job_app.command("submit")
def submit(
    plugin: Annotated[str, typer.Argument(help="The pluginId.")],
    input: Annotated[str | None, typer.Option("--input", "-i", help="JSON, or @file.json.")] = None,
    series: Annotated[list[str] | None, typer.Option(help="UID or UID:start:end[:delta]; repeat.")] = None,
    priority: int = 0,
    queue: str | None = None,
    attempts: int | None = None,
    wait: Annotated[bool, typer.Option(help="Wait for it to end, showing progress.")] = False,
    url: Url = "http://127.0.0.1:8000",
    token: Token = "",
) -> None:
    """Queue a job; prints its jobId."""
    spec: dict[str, Any] = {
        "pluginId": plugin,
        "input": _json_arg(input, "--input"),
        "priority": priority,
        "series": _series_arg(series or []),
    }
    if queue is not None:
        spec["queue"] = queue
    if attempts is not None:
        spec["attempts"] = attempts
    data = gql(
        url, token, "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId number status } }", {"i": spec}
    )
    job_id = data["createJob"]["jobId"]
    typer.echo(job_id)
    if wait:
        _wait(url, token, job_id, timeout=0)


@job_app.command("list")
def list_jobs(
    status: Statuses = None,
    plugin: Annotated[list[str] | None, typer.Option(help="pluginId; repeat.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    url: Url = "http://127.0.0.1:8000",
    token: Token = "",
) -> None:
    """List jobs you may see, newest first."""
    data = gql(
        url,
        token,
        """query($f: JobFilter, $n: Int) { jobs(filter: $f, first: $n) { totalCount
        edges { node { jobId number status plugin { pluginId } progress createdAt errorMessage } } } }""",
        {"f": {"status": [s.value for s in status] if status else None, "pluginId": plugin}, "n": limit},
    )
    page = data["jobs"]
    for edge in page["edges"]:
        job = edge["node"]
        progress = f" {job['progress']:.0%}" if job.get("progress") is not None and job["status"] == "running" else ""
        error = f"  {job['errorMessage']}" if job.get("errorMessage") else ""
        typer.echo(
            f"{job['jobId']}  #{job['number']:<6} {job['status']:<11}{progress} {job['plugin']['pluginId']}"
            f"  {job['createdAt']}{error}"
        )
    typer.echo(f"{len(page['edges'])} of {page['totalCount']}", err=True)


@job_app.command("show")
def show(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: Url = "http://127.0.0.1:8000",
    token: Token = "",
) -> None:
    """Everything about a job: state, result, outputs, messages."""
    data = gql(url, token, f"query($id: ID!) {{ job(jobId: $id) {{ {JOB_FIELDS} }} }}", {"id": job_id})
    if data["job"] is None:
        raise fail(f"no job {job_id}")
    _print_job(data["job"], as_json)


@job_app.command("cancel")
def cancel(job_id: str, url: Url = "http://127.0.0.1:8000", token: Token = "") -> None:
    """Cancel a job (a running one stops within seconds)."""
    data = gql(
        url, token, "mutation($id: ID!) { cancelJob(jobId: $id) { jobId status cancelRequested } }", {"id": job_id}
    )
    job = data["cancelJob"]
    typer.echo(f"{job['jobId']} {'cancel requested' if job['status'] == 'running' else job['status']}")


@job_app.command("retry")
def retry(job_id: str, url: Url = "http://127.0.0.1:8000", token: Token = "") -> None:
    """Queue a failed job again."""
    data = gql(url, token, "mutation($id: ID!) { retryJob(jobId: $id) { jobId status } }", {"id": job_id})
    typer.echo(f"{data['retryJob']['jobId']} {data['retryJob']['status']}")


@job_app.command("wait")
def wait(
    job_id: str,
    timeout: Annotated[float, typer.Option(help="Seconds; 0 waits for ever.")] = 0,
    url: Url = "http://127.0.0.1:8000",
    token: Token = "",
) -> None:
    """Wait for a job to end, showing its progress and messages; exit 0 only if it finished."""
    _wait(url, token, job_id, timeout)


def _wait(url: str, token: str, job_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout if timeout else None
    seen_messages = 0
    last_line = ""
    while True:
        data = gql(url, token, f"query($id: ID!) {{ job(jobId: $id) {{ {JOB_FIELDS} }} }}", {"id": job_id})
        job = data["job"]
        if job is None:
            raise fail(f"no job {job_id}")
        for message in job["messages"][seen_messages:]:
            typer.echo(f"[{LEVELS.get(message['status'], message['status'])}] {message['text']}", err=True)
        seen_messages = len(job["messages"])
        progress = f" {job['progress']:.0%}" if job.get("progress") is not None else ""
        line = f"{job['status']}{progress}"
        if line != last_line:
            typer.echo(f"{job_id}: {line}", err=True)
            last_line = line
        if job["status"] in ENDED:
            _print_job(job, as_json=False)
            raise typer.Exit(0 if job["status"] == "finished" else 1)
        if deadline is not None and time.monotonic() > deadline:
            raise fail(f"job {job_id} is still {job['status']} after {timeout:g} s", 3)
        time.sleep(0.5)


__all__ = ["job_app"]
