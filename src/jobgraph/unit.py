"""One unit of work: the session a use case runs in, and what must wait for its commit.

The view owns it (a GraphQL operation or mutation, a REST request, a CLI command, a worker
step): it opens one with `unit_of_work(rt, write=...)`, passes it to every use case the answer
needs, and the unit commits once at the end, so one answer is one transaction and a check that
fails after a write leaves nothing written. Use cases never open sessions of their own.

What others may see only once the data is committed waits in the unit: job events (a
subscriber would read rows not yet there), wake-ups (a worker would claim nothing), and
after-commit actions (removing files of deleted rows). A unit that fails sends none of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from sqlmodel import Session

from jobgraph.events import JobEvent
from jobgraph.runtime import Runtime
from jobgraph.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unit:
    def __init__(self, rt: Runtime, *, write: bool) -> None:
        self.rt = rt
        self._session: Session | None = None
        self._stack = ExitStack()
        self.write = write
        # Async views (GraphQL) reach the one session from thread-pool threads: one at a time.
        self.lock = threading.Lock()
        self._events: list[JobEvent] = []
        self._wakes: list[tuple[str, int | None]] = []
        self._after: list[Callable[[], None]] = []

    @property
    def session(self) -> Session:
        """The unit's session, opened on first use: a unit that reads nothing (a view that
        refuses before reading, a worker step with nothing to do) takes no connection."""
        if self._session is None:
            self._session = self._stack.enter_context(self.rt.db.session(write=self.write))
        return self._session

    @property
    def opened(self) -> bool:
        return self._session is not None

    def close(self, exc: BaseException | None = None) -> None:
        """End the unit: commit (or, given the exception it failed with, roll back), then send
        what waited for the commit. `unit_of_work` calls this; views that cannot use a `with`
        block (a GraphQL operation's extension) call it themselves."""
        if exc is None:
            self._stack.close()  # commits, if a session was opened
            self._committed()
        else:
            self.discard()
            self._stack.__exit__(type(exc), exc, exc.__traceback__)

    def discard(self) -> None:
        self._events.clear()
        self._wakes.clear()
        self._after.clear()

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    def publish(self, event: JobEvent) -> None:
        """Send `event` to subscribers and other processes once the unit commits."""
        self._events.append(event)

    def wake(self, queue: str, delay_ms: int | None = None) -> None:
        """Wake the workers of `queue` once the unit commits (one wake-up per queue and delay)."""
        if (queue, delay_ms) not in self._wakes:
            self._wakes.append((queue, delay_ms))

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after.append(action)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(self, *args)` with the session to itself (for views that call from threads)."""
        with self.lock:
            return fn(self, *args, **kwargs)

    def _committed(self) -> None:
        events, self._events = self._events, []
        wakes, self._wakes = self._wakes, []
        after, self._after = self._after, []
        for event in events:
            self.rt.events.publish(event)
        for queue, delay_ms in wakes:
            try:
                self.rt.dispatcher.wake(queue, delay_ms)
            except Exception:  # the jobs are committed; the workers' polling finds them
                log.warning("could not send a wake-up for queue %s", queue, exc_info=True)
        for action in after:
            try:
                action()
            except Exception:
                log.warning("an after-commit action failed", exc_info=True)


@contextmanager
def unit_of_work(rt: Runtime, *, write: bool = False) -> Iterator[Unit]:
    """A unit on a new session: commits (then publishes, wakes, runs after-commit actions) when
    the block ends, rolls back and sends nothing when it raises."""
    unit = Unit(rt, write=write)
    try:
        yield unit
    except BaseException as exc:
        unit.close(exc)
        raise
    unit.close()


def in_unit(rt: Runtime, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
    """`fn(unit, *args)` in a unit of its own: a worker step, a CLI command, a startup task."""
    with unit_of_work(rt, write=write) as u:
        return fn(u, *args, **kwargs)
