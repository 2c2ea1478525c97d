"""Subscriptions: what 1,000 open subscriptions receiving events cost another user's `{ me }`.

    python bench/subscriptions.py [--subscriptions 1000] [--events-per-second 1] [--seconds 15]

One `jobgraph serve` process (PostgreSQL, Redis, no workers). User A opens `--subscriptions`
jobEvents subscriptions (`{ kind jobId job { jobId status priority } }`, 100 per WebSocket, the
per-connection default; the API runs with JOBGRAPH_MAX_SUBSCRIPTIONS_PER_USER raised to allow them
all). Job events of one of A's jobs are published to the API's Redis channel, as a worker
would, `--events-per-second`, so every subscription receives every event. User B meanwhile asks
`{ me { email } }` one request at a time; its latency is measured with 0 subscriptions open
(events published all the same) and then with all of them open. Every figure is taken over
`--seconds`; the whole run is bounded by --timeout. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import REDIS_URL, TOKEN, Cluster, gql, jobgraph_source, median, percentile, row, wait_until

PER_SOCKET = 100
STREAM = "subscription { jobEvents { kind jobId job { jobId status priority } } }"


class Publisher:
    """Publishes the job's event to the API's event channel at a steady rate, in a thread."""

    def __init__(self, channel: str, event: dict[str, Any], rate: float) -> None:
        self.client = redis.Redis.from_url(REDIS_URL)
        self.channel = channel
        self.payload = json.dumps({"origin": "bench", "events": [event]})
        self.rate = rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def publish_once(self) -> None:
        self.client.publish(self.channel, self.payload)

    def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.publish_once()
            self.sent += 1
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Publisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def _subscribe_all(url: str, token: str, count: int, received: Any, live: Any, errors: Any, stop: Any) -> None:
    from websockets.asyncio.client import connect

    seen: set[tuple[int, str]] = set()

    async def one_socket(index: int, ids: list[str]) -> None:
        async with connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                errors.value += 1
                return
            for op_id in ids:
                await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": STREAM}}))
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "next" and not message["payload"].get("errors"):
                    received.value += 1
                    if (index, message["id"]) not in seen:
                        seen.add((index, message["id"]))
                        live.value = len(seen)
                else:
                    errors.value += 1

    sockets = [
        asyncio.create_task(one_socket(i, [f"s{n}" for n in range(i * PER_SOCKET, min(count, (i + 1) * PER_SOCKET))]))
        for i in range(math.ceil(count / PER_SOCKET))
    ]
    while not stop.is_set():
        await asyncio.sleep(0.2)
    for task in sockets:
        task.cancel()


def _subscriber_process(url: str, token: str, count: int, received: Any, live: Any, errors: Any, stop: Any) -> None:
    asyncio.run(_subscribe_all(url, token, count, received, live, errors, stop))


class Subscribers:
    """`count` subscriptions over WebSockets, read in a process of their own (so that reading
    them does not compete with the `{ me }` client for this process's GIL)."""

    def __init__(self, url: str, token: str, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._received = ctx.Value("q", 0, lock=False)
        self._live = ctx.Value("q", 0, lock=False)
        self._errors = ctx.Value("q", 0, lock=False)
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_subscriber_process,
            args=(url, token, count, self._received, self._live, self._errors, self._stop),
            daemon=True,
        )

    @property
    def received(self) -> int:
        return int(self._received.value)

    @property
    def live(self) -> int:
        return int(self._live.value)

    @property
    def errors(self) -> int:
        return int(self._errors.value)

    def __enter__(self) -> Subscribers:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


def measure_me(client: Any, seconds: float) -> list[float]:
    latencies = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        body = client.post("/graphql", json={"query": "{ me { email } }"}).json()
        latencies.append((time.perf_counter() - started) * 1000)
        if body.get("errors"):
            raise SystemExit(f"{{ me }} failed: {body['errors']}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--events-per-second", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this long")
    args = parser.parse_args()
    from jobgraph.redis_bus import channel_for

    cluster = Cluster()

    def give_up() -> None:
        print(f"timed out after {args.timeout:g} s", flush=True)
        cluster.close()
        os._exit(1)

    deadline = threading.Timer(args.timeout, give_up)
    deadline.daemon = True
    deadline.start()
    try:
        cluster.run("migrate")
        cluster.start_api(JOBGRAPH_MAX_SUBSCRIPTIONS_PER_USER=str(args.subscriptions))
        admin = cluster.client()
        gql(admin, 'mutation { createUser(email: "b@example.com", privileges: []) { email } }')
        other = gql(admin, 'mutation { createApiToken(email: "b@example.com") { secret } }')["createApiToken"]
        job = gql(
            admin,
            'mutation { createJob(input: {pluginId: "jobgraph.noop", runAt: "2999-01-01T00:00:00Z"}) '
            "{ jobId number status queue pluginId } }",
        )["createJob"]
        event = {
            "kind": "updated",
            "job_id": job["jobId"],
            "number": job["number"],
            "status": job["status"],
            "queue": job["queue"],
            "plugin_id": job["pluginId"],
            "user_id": cluster.scalar("SELECT user_id FROM jobs WHERE number = :n", n=job["number"]),
        }
        channel = channel_for(REDIS_URL, cluster.namespace)
        b_client = cluster.client()
        b_client.headers["Authorization"] = f"Bearer {other['secret']}"
        measure_me(b_client, 1.0)  # warm up

        with Publisher(channel, event, args.events_per_second) as publisher:
            idle = measure_me(b_client, args.seconds)
        url = f"ws://127.0.0.1:{cluster.port}/graphql"
        with Subscribers(url, TOKEN, args.subscriptions) as subs:
            probe = Publisher(channel, event, 1)

            def all_live() -> bool:
                if subs.errors:
                    raise SystemExit(f"{subs.errors} subscription errors")
                probe.publish_once()
                return subs.live >= args.subscriptions

            wait_until(all_live, 120, "every subscription to receive an event", poll=0.5)
            with Publisher(channel, event, args.events_per_second) as publisher:
                before = subs.received
                busy = measure_me(b_client, args.seconds)
                published = publisher.sent
            delivered = subs.received - before
            owed = published * args.subscriptions
            with contextlib.suppress(SystemExit):  # a server that cannot keep up: say how far behind
                wait_until(lambda: subs.received - before >= owed, 30, "the last deliveries", poll=0.2)
            made_later = subs.received - before
            if subs.errors:
                raise SystemExit(f"{subs.errors} subscription errors")
    finally:
        deadline.cancel()
        cluster.close()
    print(
        f"Subscriptions: one `jobgraph serve` ({jobgraph_source()}), {args.events_per_second:g} events/s "
        f"of one job, {args.seconds:g} s per figure; `{{ me }}` one request at a time by another user"
    )
    label = f"{args.subscriptions} subscriptions"
    for name, figure in (("p50", median), ("p90", lambda v: percentile(v, 90)), ("p99", lambda v: percentile(v, 99))):
        print(row(f"{{ me }} {name}, 0 subscriptions", figure(idle), "ms"))
        print(row(f"{{ me }} {name}, {label}", figure(busy), "ms", figure(idle), "0 subs"))
    print(row("{ me } requests over 100 ms, 0 subscriptions", 100 * sum(v > 100 for v in idle) / len(idle), "%"))
    print(row(f"{{ me }} requests over 100 ms, {label}", 100 * sum(v > 100 for v in busy) / len(busy), "%"))
    print(row("deliveries during the measurement", delivered / args.seconds, "msg/s"))
    print(row("deliveries owed (events x subscriptions)", owed, "msg"))
    print(row("    made by the end of the measurement", delivered, "msg"))
    print(row("    made within 30 s more", made_later, "msg"))


if __name__ == "__main__":
    main()
