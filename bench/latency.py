"""Latency on an idle queue, p50 and p99: creation to start of a no-op job beside raw Dramatiq's
enqueue to start on the same Redis (same worker settings: the idle consumer polls Redis with a
backoff of up to worker_timeout = 100 ms in both); and creation to finished, what a user sees,
of no-op jobs and of echo jobs (python, the default process isolation).

    python bench/latency.py [--samples 200] [--echo-samples 200] [--threads 4]

jobgraph: the API and two `jobgraph worker` processes; one job at a time through GraphQL
createJob, the next once it finished and 0.2 s of idling; creation to start = startedAt -
createdAt, creation to finished = finishedAt - createdAt (stamped by the API and the workers on
this machine). Four echo jobs run first as a warm-up and are not counted. Dramatiq: one message
at a time to two worker processes; latency = the actor's start - the send time.
Goal (printed, not asserted): jobgraph's idle creation to start p50 under 10 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import SRC, Cluster, create_jobs, goal, gql, median, percentile, row, wait_until
from _raw_dramatiq import raw_workers


def raw_dramatiq(samples: int, threads: int) -> list[float]:
    with raw_workers(threads) as (namespace, client, actor):
        time.sleep(0.5)  # idle: the consumers back off to their longest poll
        for n in range(1, samples + 1):
            actor.send(time.time() * 1000)
            wait_until(lambda n=n: int(client.get(f"{namespace}:done") or 0) >= n, 30, "the message", poll=0.001)
            time.sleep(0.2)  # idle again
        return [float(x) for x in client.lrange(f"{namespace}:latency", 0, -1)]


def one_at_a_time(cluster: Cluster, plugin_id: str, samples: int) -> list[int]:
    client = cluster.client()
    create = "mutation($p: ID!) { createJob(input: {pluginId: $p}) { number } }"
    numbers = []
    for _ in range(samples):
        number = gql(client, create, {"p": plugin_id})["createJob"]["number"]
        wait_until(
            lambda number=number: (
                cluster.scalar("SELECT status FROM jobs WHERE number = :n", n=number) not in ("queued", "running")
            ),
            30,
            f"the {plugin_id} job",
            poll=0.002,
        )
        numbers.append(number)
        time.sleep(0.2)  # idle again
    return numbers


def latencies(cluster: Cluster, numbers: list[int], end: str) -> list[float]:
    failed = cluster.scalar("SELECT count(*) FROM jobs WHERE number = ANY(:n) AND status <> 'finished'", n=numbers)
    if failed:
        raise SystemExit(f"{failed} jobs did not finish: see {cluster.tmp}")
    rows = cluster.scalar(
        f"SELECT array_agg(extract(epoch FROM {end} - created_at) * 1000) FROM jobs WHERE number = ANY(:n)",
        n=numbers,
    )
    return [float(x) for x in rows]


def jobgraph(samples: int, echo_samples: int, threads: int) -> dict[str, list[float]]:
    cluster = Cluster()
    try:
        cluster.run("migrate")
        cluster.start_api()
        cluster.start_workers(2, threads)
        client = cluster.client()
        warm = create_jobs(client, "jobgraph.echo", 4)  # a first process start, not counted
        wait_until(
            lambda: cluster.scalar("SELECT count(*) FROM jobs WHERE status = 'finished'") >= len(warm), 60, "warm-up"
        )
        time.sleep(0.5)
        noop = one_at_a_time(cluster, "jobgraph.noop", samples)
        echo = one_at_a_time(cluster, "jobgraph.echo", echo_samples) if echo_samples else []
        return {
            "noop start": latencies(cluster, noop, "started_at"),
            "noop finished": latencies(cluster, noop, "finished_at"),
            "echo start": latencies(cluster, echo, "started_at") if echo else [],
            "echo finished": latencies(cluster, echo, "finished_at") if echo else [],
        }
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="no-op jobs and Dramatiq messages (default 200)")
    parser.add_argument("--echo-samples", type=int, default=200, help="echo jobs, 0 for none (default 200)")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    base = raw_dramatiq(args.samples, args.threads)
    ours = jobgraph(args.samples, args.echo_samples, args.threads)
    b50, b99 = median(base), percentile(base, 99)
    print(f"latency on an idle queue: {args.samples} samples, 2 worker processes x {args.threads} threads")
    print(f"  jobgraph: {SRC}")
    print(row("raw Dramatiq enqueue to start, p50 (baseline)", b50, "ms"))
    print(row("raw Dramatiq enqueue to start, p99 (baseline)", b99, "ms"))
    start = ours["noop start"]
    print(row("jobgraph noop creation to start, p50", median(start), "ms", b50, "raw Dramatiq p50"))
    print(row("jobgraph noop creation to start, p99", percentile(start, 99), "ms", b99, "raw Dramatiq p99"))
    done = ours["noop finished"]
    print(row("jobgraph noop creation to finished, p50", median(done), "ms", b50, "raw Dramatiq p50"))
    print(row("jobgraph noop creation to finished, p99", percentile(done, 99), "ms", b99, "raw Dramatiq p99"))
    if ours["echo finished"]:
        print(f" echo (process isolation): {len(ours['echo finished'])} samples")
        echo_start, echo_done = ours["echo start"], ours["echo finished"]
        print(row("jobgraph echo creation to start, p50", median(echo_start), "ms", b50, "raw Dramatiq p50"))
        print(row("jobgraph echo creation to finished, p50", median(echo_done), "ms", b50, "raw Dramatiq p50"))
        print(row("    the same, against noop", median(echo_done), "ms", median(done), "noop finished p50"))
        print(row("jobgraph echo creation to finished, p99", percentile(echo_done, 99), "ms", b99, "raw Dramatiq p99"))
        print(
            row(
                "    the same, against noop", percentile(echo_done, 99), "ms", percentile(done, 99), "noop finished p99"
            )
        )
    p50 = median(start)
    print(goal(f"idle creation to start p50 < 10 ms (now {p50:.1f} ms)", p50 < 10))


if __name__ == "__main__":
    main()
