"""The services a use case needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from jobgraph.db import Database
from jobgraph.events import EventBus, InProcessBus
from jobgraph.resolvers.viewer import ViewerCache
from jobgraph.settings import Settings


class Dispatcher(Protocol):
    """Sends a wake-up for a queue: 'there may be work'. The database says which work."""

    def wake(self, queue: str, delay_ms: int | None = None) -> None: ...


class NoDispatch:
    """For processes that never send work (migrations, tests of pure rules)."""

    def wake(self, queue: str, delay_ms: int | None = None) -> None:
        pass


@dataclass
class Runtime:
    settings: Settings
    db: Database
    events: EventBus
    dispatcher: Dispatcher
    viewers: ViewerCache = field(default_factory=lambda: ViewerCache(0))

    def close(self) -> None:
        self.events.close()
        self.db.dispose()


def build_runtime(settings: Settings | None = None, *, dispatcher: Dispatcher | None = None) -> Runtime:
    settings = settings or Settings()
    # A transaction left open longer than a worker may stay silent is ended by the server.
    idle = settings.idle_transaction_seconds or settings.worker_dead_after_seconds
    db = Database(settings.resolved_database_url, idle_in_transaction_timeout=idle)
    events: EventBus
    if settings.redis_url:
        from jobgraph.redis_bus import RedisBus

        events = RedisBus(settings.redis_url, namespace=settings.redis_namespace)
    else:
        events = InProcessBus()
    return Runtime(
        settings=settings,
        db=db,
        events=events,
        dispatcher=dispatcher or NoDispatch(),
        viewers=ViewerCache(settings.viewer_cache_seconds),
    )
