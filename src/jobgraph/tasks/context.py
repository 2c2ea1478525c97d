"""What a python plugin receives: the job's data and a way to report and to learn of a cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class JobCancelled(Exception):
    """Raised inside a plugin when the job was cancelled; let it propagate."""


class JobContext:
    """The job as a plugin sees it (the same object in a worker thread or a child process)."""

    def __init__(
        self,
        payload: dict[str, Any],
        output_dir: Path,
        send: Callable[[tuple[Any, ...]], None],
        cancel_event: threading.Event,
        env: dict[str, str] | None = None,
    ) -> None:
        self.payload = payload
        self.env = dict(env or {})  # the plugin's declared variables and the job's own
        self.output_dir = output_dir
        self._send = send
        self._cancel = cancel_event

    @property
    def input(self) -> Any:
        return self.payload.get("input")

    @property
    def series(self) -> list[dict[str, Any]]:
        return list(self.payload.get("series") or [])

    @property
    def job_id(self) -> str:
        return str(self.payload["jobId"])

    @property
    def number(self) -> int:
        return int(self.payload["number"])

    @property
    def attempt(self) -> int:
        return int(self.payload.get("attempt", 1))

    def message(self, text: str, status: int = 1) -> None:
        """Log a line on the job: status 1 info, 2 warning, 3 error."""
        self._send(("message", str(text), int(status)))

    def progress(self, fraction: float, text: str | None = None) -> None:
        """Report progress in 0..1 (the worker stores a few a second, and always the last)."""
        self._send(("progress", min(1.0, max(0.0, float(fraction))), text))

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once (with JobCancelled) if the job is cancelled meanwhile."""
        if self._cancel.wait(seconds):
            raise JobCancelled()
