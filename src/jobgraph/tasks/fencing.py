"""Self-fencing: a worker that cannot show it is alive stops its plugins before anyone may
presume it dead, so the retry another worker makes never runs beside the old attempt.

Others presume a worker dead when its heartbeat is `worker_dead_after_seconds` old. This
worker fences itself sooner: when its own last successful heartbeat is `fence_after` old (two
heartbeats less), or when a heartbeat succeeds after such a gap (a process frozen with SIGSTOP,
or a long pause, wakes up with its plugins still running: they must stop, since their attempts
may have been given to someone else meanwhile). Monotonic time, so a frozen process sees the
gap when it wakes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def fence_after_seconds(dead_after: float, heartbeat: float) -> float:
    """Two heartbeats before others may presume this worker dead (they check no sooner than
    `dead_after`), and not less than half of that: a slow heartbeat or two must not fence."""
    return max(dead_after - 2 * heartbeat, dead_after / 2)


class Fence:
    def __init__(self, fence_after: float, on_fence: Callable[[str], None], on_unfence: Callable[[], None]) -> None:
        self.fence_after = fence_after
        self._on_fence = on_fence
        self._on_unfence = on_unfence
        self._lock = threading.Lock()
        self._last_ok = time.monotonic()
        self._fenced = False

    @property
    def fenced(self) -> bool:
        return self._fenced

    def alive(self) -> None:
        """A heartbeat reached the database. After a gap past the limit, fence first."""
        now = time.monotonic()
        with self._lock:
            gap = now - self._last_ok
            self._last_ok = now
        if gap > self.fence_after:
            self._fence(f"no heartbeat for {gap:.1f} s")
        if self._fenced:
            self._fenced = False
            log.warning("heartbeats reach the database again: claiming again")
            self._on_unfence()

    def check(self) -> None:
        """Called often (every few tens of ms): fence when the heartbeat is too old."""
        with self._lock:
            gap = time.monotonic() - self._last_ok
        if gap > self.fence_after and not self._fenced:
            self._fence(f"no heartbeat for {gap:.1f} s")

    def _fence(self, why: str) -> None:
        with self._lock:
            first = not self._fenced
            self._fenced = True
        if first:
            log.warning("fencing: %s; stopping every running plugin and claiming nothing", why)
        self._on_fence(why)
