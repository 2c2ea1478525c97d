"""Throughput: no-op jobs per second, creation to finished, with two worker processes, beside
raw Dramatiq no-op messages per second on the same Redis with two worker processes (the ceiling).

    python bench/throughput.py [--jobs 2000] [--threads 4]

jobgraph: the API and two `jobgraph worker` processes on PostgreSQL and Redis; the jobs
(jobgraph.noop, which runs in the worker's thread) are created through GraphQL in batches of
500; the clock runs from the first createJobs request to the last job's finishedAt.
Dramatiq: two processes with the same threads, timeout and prefetch; the clock runs from the
first enqueue to the last message's run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import Cluster, gql, row, wait_until
from _raw_dramatiq import raw_workers


def raw_dramatiq(messages: int, threads: int) -> float:
    with raw_workers(threads) as (namespace, client, actor):
        started = time.perf_counter()
        for _ in range(messages):
            actor.send(time.time() * 1000)
        wait_until(lambda: int(client.get(f"{namespace}:done") or 0) >= messages, 300, "Dramatiq to run every message")
        return messages / (time.perf_counter() - started)


def jobgraph(jobs: int, threads: int) -> tuple[float, float]:
    cluster = Cluster()
    try:
        cluster.run("migrate")
        cluster.start_api()
        cluster.start_workers(2, threads)
        client = cluster.client()
        query = "mutation($i: [CreateJobInput!]!) { createJobs(inputs: $i) { number } }"
        started_wall = time.time()
        started = time.perf_counter()
        for offset in range(0, jobs, 500):
            gql(client, query, {"i": [{"pluginId": "jobgraph.noop"}] * min(500, jobs - offset)})
        created = time.perf_counter() - started
        wait_until(
            lambda: cluster.scalar("SELECT count(*) FROM jobs WHERE status = 'finished'") >= jobs,
            300,
            "every job to finish",
            poll=0.05,
        )
        last = cluster.scalar("SELECT extract(epoch FROM max(finished_at)) FROM jobs")
        failed = cluster.scalar("SELECT count(*) FROM jobs WHERE status <> 'finished'")
        assert failed == 0, f"{failed} jobs did not finish"
        return jobs / (float(last) - started_wall), jobs / created
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    ceiling = raw_dramatiq(args.jobs, args.threads)
    end_to_end, creation = jobgraph(args.jobs, args.threads)
    print(f"throughput: {args.jobs} no-op jobs, 2 worker processes x {args.threads} threads")
    print(row("raw Dramatiq, enqueue to run (baseline)", ceiling, "msg/s"))
    print(row("jobgraph, creation to finished", end_to_end, "jobs/s", ceiling, "raw Dramatiq"))
    print(row("jobgraph, creation alone (createJobs x 500)", creation, "jobs/s", ceiling, "raw Dramatiq"))


if __name__ == "__main__":
    main()
