"""Queue control from the command line, through the API as any client (JOBGRAPH_URL,
JOBGRAPH_TOKEN): `jobgraph queue pause|resume|list`, `jobgraph job bulk` and `jobgraph job rerun`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from jobgraph.cli.errors import fail
from jobgraph.cli.remote import Statuses, Token, Url, _json_arg, gql

queue_app = typer.Typer(help="Queues, through the API: pause, resume, list (manageServer).", no_args_is_help=True)

STATE = "name paused pausedAt pausedBy queued running"
ACTIONS = {"retry": "RETRY", "cancel": "CANCEL", "delete": "DELETE", "set-priority": "SET_PRIORITY"}
DONE = {"RETRY": "retried", "CANCEL": "cancelled", "DELETE": "deleted", "SET_PRIORITY": "reprioritised"}


def _print_state(state: dict[str, Any]) -> None:
    if state["paused"]:
        typer.echo(f"{state['name']} paused (by {state['pausedBy'] or '?'} at {state['pausedAt']})")
    else:
        typer.echo(f"{state['name']} running")


@queue_app.command("pause")
def pause(name: str, url: Url = "http://127.0.0.1:8000", token: Token = "") -> None:
    """Stop workers claiming jobs of queue NAME; running jobs go on."""
    data = gql(url, token, f"mutation($q: String!) {{ pauseQueue(queue: $q) {{ {STATE} }} }}", {"q": name})
    _print_state(data["pauseQueue"])


@queue_app.command("resume")
def resume(name: str, url: Url = "http://127.0.0.1:8000", token: Token = "") -> None:
    """Let workers claim jobs of queue NAME again."""
    data = gql(url, token, f"mutation($q: String!) {{ resumeQueue(queue: $q) {{ {STATE} }} }}", {"q": name})
    _print_state(data["resumeQueue"])


@queue_app.command("list")
def list_queues(url: Url = "http://127.0.0.1:8000", token: Token = "") -> None:
    """Every queue with jobs queued or running, paused, or a plugin's: its state and counts."""
    data = gql(url, token, f"{{ queues {{ {STATE} }} }}")
    rows = [("QUEUE", "STATE", "QUEUED", "RUNNING", "PAUSED-BY", "PAUSED-AT")]
    for q in data["queues"]:
        rows.append(
            (
                q["name"],
                "paused" if q["paused"] else "running",
                str(q["queued"]),
                str(q["running"]),
                q["pausedBy"] or "-",
                q["pausedAt"] or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _when(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        raise fail(f"{what}: not an ISO 8601 date-time ({value!r})") from None


def bulk(
    action: Annotated[str, typer.Argument(help="retry, cancel, delete or set-priority.")],
    status: Statuses = None,
    plugin: Annotated[list[str] | None, typer.Option(help="pluginId; repeat.")] = None,
    user: Annotated[list[str] | None, typer.Option(help="The owner's email; repeat.")] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Queue name; repeat.")] = None,
    series: Annotated[str | None, typer.Option(help="Jobs that name this series UID.")] = None,
    error_contains: Annotated[str | None, typer.Option(help="Text in the error message.")] = None,
    input_contains: Annotated[str | None, typer.Option(help="JSON the input contains (or @file.json).")] = None,
    created_after: Annotated[str | None, typer.Option(help="ISO 8601 date-time.")] = None,
    created_before: Annotated[str | None, typer.Option(help="ISO 8601 date-time.")] = None,
    priority: Annotated[int | None, typer.Option(help="The new priority (set-priority).")] = None,
    limit: Annotated[int | None, typer.Option(help="Act on the first N only (oldest first).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the preview only; change nothing.")] = False,
    url: Url = "http://127.0.0.1:8000",
    token: Token = "",
) -> None:
    """Retry, cancel, delete or re-prioritise the jobs a filter selects; preview first.

    Acts on the jobs you may change (all of them with manageJobs), each as its single-job command
    would, and records it in the audit log. --dry-run shows the preview only."""
    name = ACTIONS.get(action.lower().replace("_", "-"))
    if name is None:
        raise fail(f"unknown action {action!r}: use {', '.join(ACTIONS)}")
    job_filter: dict[str, Any] = {
        "status": [s.value for s in status] if status else None,
        "pluginId": plugin,
        "userEmail": user,
        "queue": queue,
        "seriesUid": series,
        "errorContains": error_contains,
        "inputContains": _json_arg(input_contains, "--input-contains"),
        "createdAfter": _when(created_after, "--created-after"),
        "createdBefore": _when(created_before, "--created-before"),
    }
    job_filter = {k: v for k, v in job_filter.items() if v is not None}
    preview = gql(
        url,
        token,
        "query($a: BulkAction!, $f: JobFilter!) { bulkPreview(action: $a, filter: $f) { matching applicable cap } }",
        {"a": name, "f": job_filter},
    )["bulkPreview"]
    typer.echo(
        f"{name}: the filter selects {preview['matching']} jobs; it applies to {preview['applicable']} "
        f"(at most {preview['cap']} per action)"
    )
    if dry_run:
        return
    result = gql(
        url,
        token,
        """mutation($a: BulkAction!, $f: JobFilter!, $p: Int, $l: Int) {
        bulkAction(action: $a, filter: $f, priority: $p, limit: $l) { applied skipped auditId } }""",
        {"a": name, "f": job_filter, "p": priority, "l": limit},
    )["bulkAction"]
    typer.echo(
        f"{DONE[name]} {result['applied']} jobs ({result['skipped']} left as they were); "
        f"audit entry {result['auditId']}"
    )


def rerun(job_id: str, url: Url = "http://127.0.0.1:8000", token: Token = "") -> None:
    """Queue a new job with the same plugin, input, series, queue and priority; prints its jobId."""
    data = gql(url, token, "mutation($id: ID!) { rerunJob(jobId: $id) { jobId } }", {"id": job_id})
    typer.echo(data["rerunJob"]["jobId"])


__all__ = ["bulk", "queue_app", "rerun"]
