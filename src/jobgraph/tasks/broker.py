"""The Dramatiq broker and the dispatcher that sends wake-ups through it.

A message carries only a queue name. Dramatiq's Redis broker has no per-message priority and
delivers at least once, so which job runs is decided by the database claim, never by message
order. Dramatiq's own retries and time limits are off: jobgraph counts attempts and enforces
each plugin's time limit itself, per job.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker

from jobgraph.settings import Settings

ACTOR_NAME = "jobgraph.wake"


def make_broker(settings: Settings) -> dramatiq.Broker:
    middleware: list[dramatiq.Middleware] = []
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(
            url=settings.redis_url, middleware=middleware, namespace=settings.redis_namespace, heartbeat_timeout=15_000
        )
    else:
        broker = StubBroker(middleware=middleware)
    return broker


class BrokerDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._lock = threading.Lock()

    def declare(self, queue: str) -> None:
        """In a worker process, declaring a queue also starts consuming it (when served)."""
        if queue not in self.broker.queues:
            with self._lock:
                self.broker.declare_queue(queue)

    def wake(self, queue: str, delay_ms: int | None = None) -> None:
        """A delayed wake-up (a job's runAt) tells the worker to make due scheduled jobs ready."""
        self.declare(queue)
        args = (queue, True) if delay_ms else (queue,)
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=queue, actor_name=ACTOR_NAME, args=args, kwargs={}, options={}
        )
        self.broker.enqueue(message, delay=delay_ms)
