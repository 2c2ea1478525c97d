"""The runner's side of an attempt: how it reports, how it is stopped, what it returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Outcome:
    kind: str  # finished | failed | cancelled | timeout | crash | handed_back
    result: Any = None
    error: str = ""


@dataclass
class Control:
    """Given to a runner for one attempt. The executor sets `stop_reason` to stop it."""

    payload: dict[str, Any]
    work_dir: Path
    timeout: float  # seconds, 0 = none
    grace: float  # seconds between asking a plugin to stop and killing it
    message: Callable[[str, int], None]
    progress: Callable[[float, str | None], None]
    flush_progress: Callable[[], None] = lambda: None
    env: dict[str, str] = field(default_factory=dict)  # the plugin's declared variables
    stop_event: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = ""  # "cancel" | "shutdown"
    started: float = field(default_factory=time.monotonic)

    @property
    def input_dir(self) -> Path:
        return self.work_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.work_dir / "output"

    def stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def timed_out(self) -> bool:
        return self.timeout > 0 and time.monotonic() - self.started > self.timeout

    def stopped_outcome(self) -> Outcome:
        if self.stop_reason == "shutdown":
            return Outcome("handed_back", error="the worker shut down while the job ran; handed back")
        if self.stop_reason == "fence":
            return Outcome("fenced", error="the worker fenced itself: it stopped the plugin and gave up the job")
        return Outcome("cancelled")

    def timeout_outcome(self) -> Outcome:
        return Outcome("timeout", error=f"timed out after {self.timeout:g} s (the plugin's time limit)")
