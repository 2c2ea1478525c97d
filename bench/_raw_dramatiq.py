"""The ceiling: plain Dramatiq on the same Redis, with the same worker settings as jobgraph's
(a no-op actor, threads per process, worker_timeout 100 ms, prefetch = threads).

`python bench/_raw_dramatiq.py NAMESPACE THREADS` runs one worker process; the actor counts
what it ran in Redis (INCR) and, for latency, how long after its enqueue it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

REDIS_URL = os.environ.get("JOBGRAPH_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def make_broker(namespace: str) -> RedisBroker:
    broker = RedisBroker(url=REDIS_URL, namespace=namespace, middleware=[], heartbeat_timeout=15_000)
    dramatiq.set_broker(broker)
    return broker


def declare(broker: RedisBroker, namespace: str) -> dramatiq.Actor:  # type: ignore[type-arg]
    counter = redis.Redis.from_url(REDIS_URL)

    def noop(sent_ms: float) -> None:
        started = time.time() * 1000
        pipe = counter.pipeline(transaction=False)
        pipe.incr(f"{namespace}:done")
        pipe.rpush(f"{namespace}:latency", started - sent_ms)
        pipe.execute()

    return dramatiq.Actor(
        noop, broker=broker, actor_name="noop", queue_name="default", priority=0, options={"max_retries": 0}
    )


@contextlib.contextmanager
def raw_workers(threads: int, processes: int = 2) -> Iterator[tuple[str, redis.Redis, dramatiq.Actor]]:  # type: ignore[type-arg]
    """`processes` plain Dramatiq workers (this file) on a throw-away namespace; yields the
    namespace, a Redis client and the no-op actor to send to. Kills them and their keys after."""
    namespace = f"benchraw{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    procs = [
        subprocess.Popen([sys.executable, __file__, namespace, str(threads)], start_new_session=True)
        for _ in range(processes)
    ]
    try:
        deadline = time.monotonic() + 60
        while int(client.get(f"{namespace}:ready") or 0) < processes:
            if time.monotonic() > deadline:
                raise TimeoutError("the Dramatiq workers did not start")
            time.sleep(0.05)
        yield namespace, client, declare(make_broker(namespace), namespace)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        keys = list(client.scan_iter(f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def main() -> None:
    namespace, threads = sys.argv[1], int(sys.argv[2])
    broker = make_broker(namespace)
    declare(broker, namespace)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.queue_prefetch = threads
    worker.start()
    redis.Redis.from_url(REDIS_URL).incr(f"{namespace}:ready")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    worker.stop()


if __name__ == "__main__":
    main()
