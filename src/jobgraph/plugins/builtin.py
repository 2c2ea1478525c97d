"""Built-in plugins that show the whole model: echo, a slow one with progress, a failing one."""

from __future__ import annotations

from typing import Any

from jobgraph.tasks.context import JobContext


def echo(ctx: JobContext) -> Any:
    """Returns its input as the result, and writes it to output/echo.json."""
    import json

    ctx.message(f"echoing the input of job {ctx.job_id}")
    (ctx.output_dir / "echo.json").write_text(json.dumps(ctx.input, indent=2))
    return {"input": ctx.input, "series": ctx.series}


def noop(ctx: JobContext) -> None:
    """Does nothing: for measuring the queue itself."""
    return None


def slow(ctx: JobContext) -> dict[str, Any]:
    """Runs for `seconds` (default 10) in `steps`, reporting progress and messages; honours cancel."""
    options = ctx.input if isinstance(ctx.input, dict) else {}
    seconds = float(options.get("seconds", 10))
    steps = max(1, int(options.get("steps", 10)))
    for step in range(steps):
        ctx.message(f"step {step + 1} of {steps}")
        ctx.sleep(seconds / steps)
        ctx.progress((step + 1) / steps)
    return {"steps": steps, "seconds": seconds}


def fail(ctx: JobContext) -> Any:
    """Fails when the input says so: {"fail": true, "message": "..."}; `failAttempts` fails only
    the first N attempts (to show retries). Otherwise returns {"ok": true}."""
    options = ctx.input if isinstance(ctx.input, dict) else {}
    fail_attempts = options.get("failAttempts")
    if options.get("fail", True) and (fail_attempts is None or ctx.attempt <= int(fail_attempts)):
        ctx.message("about to fail, as asked", 2)
        raise RuntimeError(str(options.get("message", "failed on request")))
    return {"ok": True, "attempt": ctx.attempt}


def stubborn(ctx: JobContext) -> None:
    """Ignores cancel and time limits (it blocks in a C call): only a kill stops it."""
    import time

    options = ctx.input if isinstance(ctx.input, dict) else {}
    time.sleep(float(options.get("seconds", 3600)))


BUILTIN_PLUGINS: list[dict[str, Any]] = [
    {
        "pluginId": "jobgraph.echo",
        "name": "echo",
        "version": "1.0",
        "description": "Returns its input as its result and writes it to echo.json.",
        "kind": "python",
        "entrypoint": "jobgraph.plugins.builtin:echo",
        "feedbackSchema": {"type": "object"},
    },
    {
        "pluginId": "jobgraph.noop",
        "name": "noop",
        "version": "1.0",
        "description": "Does nothing, in the worker's thread: measures the queue itself.",
        "kind": "python",
        "entrypoint": "jobgraph.plugins.builtin:noop",
        "isolation": "thread",
    },
    {
        "pluginId": "jobgraph.slow",
        "name": "slow",
        "version": "1.0",
        "description": "Runs for input.seconds (default 10) in input.steps, with progress and messages.",
        "kind": "python",
        "entrypoint": "jobgraph.plugins.builtin:slow",
        "inputSchema": {
            "type": ["object", "null"],
            "properties": {
                "seconds": {"type": "number", "minimum": 0, "maximum": 86400},
                "steps": {"type": "integer", "minimum": 1, "maximum": 10000},
            },
        },
    },
    {
        "pluginId": "jobgraph.fail",
        "name": "fail",
        "version": "1.0",
        "description": 'Fails on request ({"fail": true, "message": "..."}), or its first failAttempts attempts.',
        "kind": "python",
        "entrypoint": "jobgraph.plugins.builtin:fail",
    },
]
