"""Latency: creation to start, p50 and p99, on an idle queue, beside raw Dramatiq's enqueue to
start on the same Redis (same worker settings: the idle consumer polls Redis with a backoff of
up to worker_timeout = 100 ms in both).

    python bench/latency.py [--samples 200]

jobgraph: the API and two `jobgraph worker` processes; one jobgraph.noop job at a time through
GraphQL createJob, the next once it finished; latency = startedAt - createdAt (both stamped by
the database's clients on this machine). Dramatiq: one message at a time to two worker
processes; latency = the actor's start - the send time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import Cluster, gql, median, percentile, row, wait_until
from _raw_dramatiq import raw_workers


def raw_dramatiq(samples: int, threads: int) -> list[float]:
    with raw_workers(threads) as (namespace, client, actor):
        time.sleep(0.5)  # idle: the consumers back off to their longest poll
        for n in range(1, samples + 1):
            actor.send(time.time() * 1000)
            wait_until(lambda n=n: int(client.get(f"{namespace}:done") or 0) >= n, 30, "the message", poll=0.001)
            time.sleep(0.2)  # idle again
        return [float(x) for x in client.lrange(f"{namespace}:latency", 0, -1)]


def jobgraph(samples: int, threads: int) -> list[float]:
    cluster = Cluster()
    try:
        cluster.run("migrate")
        cluster.start_api()
        cluster.start_workers(2, threads)
        client = cluster.client()
        create = 'mutation { createJob(input: {pluginId: "jobgraph.noop"}) { number } }'
        time.sleep(0.5)
        for _ in range(samples):
            number = gql(client, create)["createJob"]["number"]
            wait_until(
                lambda number=number: (
                    cluster.scalar("SELECT status FROM jobs WHERE number = :n", n=number) == "finished"
                ),
                30,
                "the job",
                poll=0.002,
            )
            time.sleep(0.2)  # idle again
        rows = cluster.scalar(
            "SELECT array_agg(extract(epoch FROM started_at - created_at) * 1000) FROM jobs WHERE status = 'finished'"
        )
        return [float(x) for x in rows]
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    base = raw_dramatiq(args.samples, args.threads)
    ours = jobgraph(args.samples, args.threads)
    print(f"latency on an idle queue: {args.samples} samples, 2 worker processes x {args.threads} threads")
    print(row("raw Dramatiq enqueue to start, p50 (baseline)", median(base), "ms"))
    print(row("raw Dramatiq enqueue to start, p99 (baseline)", percentile(base, 99), "ms"))
    print(row("jobgraph creation to start, p50", median(ours), "ms", median(base), "raw Dramatiq p50"))
    print(row("jobgraph creation to start, p99", percentile(ours, 99), "ms", percentile(base, 99), "raw Dramatiq p99"))


if __name__ == "__main__":
    main()
