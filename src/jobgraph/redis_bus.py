"""Job events between processes, through Redis pub/sub.

`RedisBus` has the interface of `jobgraph.events.EventBus`. Every event goes out on one channel
(`jobgraph:events`; with a Redis database other than 0, `jobgraph:<db>:events`, since pub/sub
ignores database numbers), as the JSON of `JobEvent` plus an `origin` field naming the process.

Exactly once, locally: `publish` hands the event to this process's subscribers at once and then
sends it to Redis; the listener drops messages that carry this bus's own origin. We chose this
over "deliver only what comes back from Redis" because local subscribers (a worker's cancel
listener, the embedded default, a GraphQL subscription to a job this process changed) then get
their events without a round trip and even while Redis is away, and in the order they were
published; the echo is recognised by its origin, so nothing is delivered twice.

Publishing never blocks and never raises: the event goes into a bounded outbox that a sender
thread writes in pipelined batches (a use case has committed before it publishes; a Redis
outage must not fail it). A listener thread holds the subscription and reconnects with backoff
after Redis restarts or the connection drops. Pub/sub is at most once: events published while a
process is disconnected are not replayed to it, so whatever waits on events also re-reads the
database (GraphQL subscriptions read the job on each event; waits poll with a deadline).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import redis

from jobgraph.events import JobEvent, LocalFanout, Subscription, resync_event

log = logging.getLogger(__name__)

_EVENT_FIELDS = frozenset(f.name for f in fields(JobEvent))
_STOP = object()


def channel_for(url: str, namespace: str = "jobgraph") -> str:
    db = int(redis.ConnectionPool.from_url(url).connection_kwargs.get("db", 0) or 0)
    return f"{namespace}:events" if db == 0 else f"{namespace}:{db}:events"


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        namespace: str = "jobgraph",
        channel: str | None = None,
        max_pending: int = 10_000,
        ready_timeout: float = 2.0,
        retry_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.channel = channel or channel_for(url, namespace)
        self.origin = uuid.uuid4().hex
        self.retry_seconds = retry_seconds  # how long an unsent batch is retried before it is dropped
        self.dropped = 0  # events not sent to Redis (outbox full or Redis away too long)
        self.connected = threading.Event()  # the subscription is active
        self._subscribed_before = False  # a later subscription is a reconnect: tell subscribers
        self._fanout = LocalFanout()
        self.client_name = f"{namespace}:events:{self.origin[:12]}"  # CLIENT LIST shows whose connection
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=5,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=5,
            client_name=self.client_name,
        )
        self._outbox: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._stop = threading.Event()
        self._pubsub: Any = None
        self._last_warning = 0.0
        self._sender = threading.Thread(target=self._send_loop, name="jobgraph-events-send", daemon=True)
        self._listener = threading.Thread(target=self._listen_loop, name="jobgraph-events-listen", daemon=True)
        self._sender.start()
        self._listener.start()
        # Usually a few milliseconds; without Redis the process still starts (and /healthz says so).
        self.connected.wait(ready_timeout)

    # -- EventBus
    def publish(self, event: JobEvent) -> None:
        self._deliver(event)
        try:
            self._outbox.put_nowait(event.__dict__)
        except queue.Full:
            self.dropped += 1
            self._warn("the event outbox is full: events are not reaching other processes")

    def subscribe(self) -> Subscription:
        return self._fanout.subscribe()

    def add_listener(self, listener: Callable[[JobEvent], None]) -> Callable[[], None]:
        return self._fanout.add_listener(listener)

    def close(self) -> None:
        if self._stop.is_set():
            return
        with contextlib.suppress(queue.Full):
            self._outbox.put(_STOP, timeout=1)
        self._sender.join(timeout=2)  # what was published before close() still goes out
        self._stop.set()
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()
        self._listener.join(timeout=2)
        self._client.close()

    # -- sending
    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is _STOP:
                return
            batch = [item]
            stop_after = False
            while len(batch) < 500:
                try:
                    more = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                batch.append(more)
            self._send(batch)
            if stop_after:
                return

    def _send(self, batch: list[dict[str, Any]]) -> None:
        # One message for the batch: a receiver parses one Redis reply and one JSON document
        # for up to 500 events (per event, that cost the workers more than their jobs did).
        payload = json.dumps({"origin": self.origin, "events": batch})
        give_up = time.monotonic() + self.retry_seconds
        delay = 0.05
        while True:
            try:
                self._client.publish(self.channel, payload)
                return
            except (redis.RedisError, OSError) as exc:
                if self._stop.is_set() or time.monotonic() + delay > give_up:
                    self.dropped += len(batch)
                    self._warn(f"cannot publish events to Redis ({type(exc).__name__}); {len(batch)} dropped")
                    return
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    # -- receiving
    def _listen_loop(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            try:
                pubsub = self._pubsub = self._client.pubsub()
                pubsub.subscribe(self.channel)
                # Wait for the server's confirmation: from then on nothing published is missed.
                confirmed = False
                deadline = time.monotonic() + 5
                while not confirmed and not self._stop.is_set() and time.monotonic() < deadline:
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message["type"] == "subscribe":
                        confirmed = True
                    elif message is not None:
                        self._receive(message)
                if not confirmed:
                    raise redis.ConnectionError("no subscription confirmation")
                again = self._subscribed_before
                self._subscribed_before = True
                if again:
                    log.info("event bus: subscribed to %s again", self.channel)
                self.connected.set()
                if again:
                    self._deliver(resync_event())
                delay = 0.05
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._receive(message)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._warn(f"event bus: lost the Redis subscription ({type(exc).__name__}: {exc}); reconnecting")
            finally:
                self.connected.clear()
                pubsub, self._pubsub = self._pubsub, None
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def _receive(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            data = json.loads(message["data"])
            if data.get("origin") == self.origin:
                return  # our own, already delivered here when it was published
            # A batch ({"origin", "events": [...]}); a lone event is what older processes send.
            items = data.get("events", [data])
            events = [JobEvent(**{k: v for k, v in item.items() if k in _EVENT_FIELDS}) for item in items]
        except Exception:
            log.warning("event bus: ignoring a malformed event %r", message.get("data"))
            return
        for event in events:
            self._deliver(event)

    def _deliver(self, event: JobEvent) -> None:
        try:
            self._fanout.deliver(event)
        except Exception:  # a listener's bug must not stop the others, nor the publisher
            log.exception("event bus: a listener failed on %s", event)

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 5:
            self._last_warning = now
            log.warning(text)
