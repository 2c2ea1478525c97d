"""Test plugins with behaviours the built-ins do not have."""

from __future__ import annotations

import time
from typing import Any

from jobgraph.tasks.context import JobContext


def busy_loop(ctx: JobContext) -> None:
    """Pure Python that never looks at ctx.cancelled: only a forced stop ends it."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        sum(range(1000))


def crash(ctx: JobContext) -> None:
    """Dies as a segfault would: without a word."""
    import os

    os._exit(13)


def not_json(ctx: JobContext) -> Any:
    return {"when": object()}


def progress_and_outputs(ctx: JobContext) -> dict[str, int]:
    for i in range(3):
        ctx.progress((i + 1) / 3)
    (ctx.output_dir / "report.txt").write_text("hello\n")
    (ctx.output_dir / "sub").mkdir()
    (ctx.output_dir / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return {"n": 3}


def nan_result(ctx: JobContext) -> dict[str, float]:
    return {"score": float("nan")}
