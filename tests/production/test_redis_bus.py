"""RedisBus: the EventBus of events.py across processes (here: two buses, as two processes)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import redis

from jobgraph.events import JobEvent, resync_event
from jobgraph.redis_bus import RedisBus, channel_for
from tests.production.harness import wait_until

pytestmark = pytest.mark.redis


def event(number: int, kind: str = "updated") -> JobEvent:
    return JobEvent(
        kind=kind, job_id=f"job{number}", number=number, status="running", queue="q", plugin_id="p", user_id=1
    )


@pytest.fixture
def buses(redis_url: str) -> list[RedisBus]:
    namespace = f"t{uuid.uuid4().hex[:8]}"
    made = [RedisBus(redis_url, namespace=namespace) for _ in range(2)]
    yield made
    for bus in made:
        bus.close()


def test_channel_names_the_namespace_and_database() -> None:
    assert channel_for("redis://127.0.0.1:6379/0") == "jobgraph:events"
    assert channel_for("redis://127.0.0.1:6379/3", "ns") == "ns:3:events"


def test_events_reach_other_processes_and_local_subscribers_exactly_once(buses: list[RedisBus]) -> None:
    here, there = buses
    assert here.connected.is_set() and there.connected.is_set()
    got_here: list[JobEvent] = []
    got_there: list[JobEvent] = []
    here.add_listener(got_here.append)
    there.add_listener(got_there.append)
    sent = [event(n) for n in range(200)]
    for e in sent:
        here.publish(e)
    wait_until(lambda: len(got_there) >= 200, 10, "the other bus to receive every event", poll=0.02)
    assert got_there == sent  # in order
    # Published here: delivered here at once, and the echo from Redis is dropped.
    there.publish(event(999))
    wait_until(lambda: any(e.number == 999 for e in got_here), 10, "an event from the other bus", poll=0.02)
    assert got_here == [*sent, event(999)]
    assert got_there.count(event(999)) == 1


def test_async_subscription_across_buses(buses: list[RedisBus]) -> None:
    here, there = buses

    async def main() -> list[int]:
        with there.subscribe() as events:  # registered at once: nothing after this is missed
            threading.Thread(target=lambda: [here.publish(event(n)) for n in range(5)]).start()
            got = []
            async for e in events:
                got.append(e.number)
                if len(got) == 5:
                    return got
        return []

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [0, 1, 2, 3, 4]


def test_reconnects_after_its_connections_are_dropped(buses: list[RedisBus], redis_url: str) -> None:
    here, there = buses
    got: list[JobEvent] = []
    there.add_listener(got.append)
    admin = redis.Redis.from_url(redis_url)
    # What a Redis restart does to a client: every connection closes under it.
    mine = [info for info in admin.client_list() if info.get("name") == there.client_name]
    assert mine
    for info in mine:
        admin.client_kill_filter(_id=info["id"])
    wait_until(lambda: not there.connected.is_set() or bool(got), 5, "the listener to notice", poll=0.01)
    wait_until(there.connected.is_set, 10, "the listener to subscribe again", poll=0.02)
    here.publish(event(7))
    wait_until(lambda: event(7) in got, 10, "an event after the reconnect", poll=0.02)
    # Subscribers are told to read again what they follow: events may have been missed meanwhile.
    assert got == [resync_event(), event(7)]
    admin.close()


def test_publish_never_blocks_or_raises_without_redis() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", ready_timeout=0.2, retry_seconds=0.2)
    got: list[JobEvent] = []
    bus.add_listener(got.append)
    try:
        bus.publish(event(1))  # Redis is not there: local subscribers still get it
        assert got == [event(1)]
        assert not bus.connected.is_set()
        wait_until(lambda: bus.dropped == 1, 5, "the unsendable event to be dropped", poll=0.05)
    finally:
        bus.close()


def test_a_failing_listener_does_not_stop_the_others(buses: list[RedisBus]) -> None:
    here, there = buses
    got: list[JobEvent] = []

    def broken(e: JobEvent) -> None:
        raise RuntimeError("a listener's bug")

    there.add_listener(broken)
    there.add_listener(got.append)
    here.publish(event(1))
    here.publish(event(2))
    wait_until(lambda: len(got) == 2, 10, "both events despite the broken listener", poll=0.02)
