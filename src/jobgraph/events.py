"""Job events: what changed, published after the change is committed.

`InProcessBus` serves one process (the embedded default); `RedisBus` (in `jobgraph.redis_bus`)
carries the same events between processes. Publishing is synchronous and thread-safe, since
workers publish from their own threads; subscribing is async, for GraphQL subscriptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    kind: str  # created | updated | message | progress | deleted | resync (see resync_event)
    job_id: str
    number: int
    status: str
    queue: str
    plugin_id: str
    user_id: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobEvent:
        return cls(**json.loads(raw))


RESYNC = "resync"


def resync_event() -> JobEvent:
    """Told to this process's subscribers when the bus reconnects after an outage: events may
    have been missed meanwhile, so whoever follows a job should read it again."""
    return JobEvent(kind=RESYNC, job_id="", number=0, status="", queue="", plugin_id="", user_id=0)


class EventBus(Protocol):
    def publish(self, event: JobEvent) -> None: ...

    def subscribe(self) -> Subscription: ...

    def add_listener(self, listener: Callable[[JobEvent], None]) -> Callable[[], None]: ...

    def close(self) -> None: ...


class LocalFanout:
    """Delivers events to this process's subscribers (asyncio queues) and listeners (callables)."""

    def __init__(self, max_queue: int = 10_000) -> None:
        self.lock = threading.Lock()
        self.queues: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[JobEvent]]] = set()
        self._listeners: list[Callable[[JobEvent], None]] = []
        self.max_queue = max_queue

    def deliver(self, event: JobEvent) -> None:
        with self.lock:
            queues = list(self.queues)
            listeners = list(self._listeners)
        for loop, queue in queues:
            try:
                loop.call_soon_threadsafe(_put_dropping_oldest, queue, event)
            except RuntimeError:  # loop closed: its subscriber is gone
                with self.lock:
                    self.queues.discard((loop, queue))
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # one listener's bug must not stop the others, nor the publisher
                log.exception("a job event listener failed on %s", event)

    def subscribe(self) -> Subscription:
        """Registered at once (not at first iteration), so no event after this call is missed."""
        return Subscription(self)

    def add_listener(self, listener: Callable[[JobEvent], None]) -> Callable[[], None]:
        with self.lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove


def _put_dropping_oldest(queue: asyncio.Queue[JobEvent], event: JobEvent) -> None:
    # A slow subscriber loses its oldest events rather than stalling every publisher.
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)


class Subscription:
    """An async iterator of events; `close()` (or leaving `with`) unregisters it."""

    def __init__(self, fanout: LocalFanout) -> None:
        self._fanout = fanout
        self._entry = (asyncio.get_running_loop(), asyncio.Queue[JobEvent](fanout.max_queue))
        with fanout.lock:
            fanout.queues.add(self._entry)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobEvent:
        return await self._entry[1].get()

    def pending(self, limit: int) -> list[JobEvent]:
        """Up to `limit` events that have arrived already, without waiting."""
        queue = self._entry[1]
        return [queue.get_nowait() for _ in range(min(limit, queue.qsize()))]

    def close(self) -> None:
        with self._fanout.lock:
            self._fanout.queues.discard(self._entry)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessBus:
    def __init__(self) -> None:
        self._fanout = LocalFanout()

    def publish(self, event: JobEvent) -> None:
        self._fanout.deliver(event)

    def subscribe(self) -> Subscription:
        return self._fanout.subscribe()

    def add_listener(self, listener: Callable[[JobEvent], None]) -> Callable[[], None]:
        return self._fanout.add_listener(listener)

    def close(self) -> None:
        pass


def event_for(kind: str, job: Any) -> JobEvent:
    return JobEvent(
        kind=kind,
        job_id=job.job_id,
        number=job.number,
        status=job.status,
        queue=job.queue,
        plugin_id=job.plugin_id,
        user_id=job.user_id,
    )
