"""API: single-client latency and many-client throughput on one `jobgraph serve` process
(PostgreSQL, Redis, no workers in it), each as a ratio to the trivial `{ __typename }` on the
same server in the same run. Goals (issue 9): one nested job within 3x of `{ __typename }`, a page
of 100 nested jobs within 8x, single client.

    python bench/api.py [--seconds 5] [--clients 8]

Measured: a GraphQL query of one job with nested data (plugin, user, messages, outputs, series,
parents, worker), and a page of 100 jobs with the same nested data; baselines: GET /healthz
(a database and a Redis round trip) and the trivial query `{ __typename }`. The jobs (echo,
with messages, an output file and a result) are made first by one worker, which then stops.
Each figure: `--clients` threads with keep-alive connections for `--seconds` seconds.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import Cluster, goal, gql, median, percentile, row, wait_until

NESTED = """jobId number status priority queue input result notes errorMessage createdAt startedAt finishedAt
  plugin { pluginId name version } user { email } messages { status text createdAt }
  outputs { id fileName size contentType } series { seriesUid } parents { jobId } runBy { host pid }"""
ONE_JOB = f"query($id: ID!) {{ job(jobId: $id) {{ {NESTED} }} }}"
PAGE = f"{{ jobs(first: 100) {{ totalCount edges {{ node {{ {NESTED} }} }} }} }}"


def load(
    client_count: int, seconds: float, request: Callable[[httpx.Client], None], make: Callable[[], httpx.Client]
) -> tuple[float, list[float]]:
    latencies: list[list[float]] = [[] for _ in range(client_count)]
    stop = threading.Event()

    def run(index: int) -> None:
        with make() as client:
            request(client)  # warm the connection
            while not stop.is_set():
                started = time.perf_counter()
                request(client)
                latencies[index].append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(client_count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.perf_counter() - started
    flat = [x for per in latencies for x in per]
    return len(flat) / elapsed, flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    cluster = Cluster()
    try:
        cluster.run("migrate")
        cluster.start_api()
        client = cluster.client()
        created = gql(
            client,
            "mutation($i: [CreateJobInput!]!) { createJobs(inputs: $i) { jobId } }",
            {"i": [{"pluginId": "jobgraph.echo", "input": {"n": n, "text": "x" * 200}} for n in range(args.jobs)]},
        )["createJobs"]
        job_id = created[len(created) // 2]["jobId"]
        cluster.start_workers(1, 4)
        wait_until(
            lambda: cluster.scalar("SELECT count(*) FROM jobs WHERE status = 'finished'") >= args.jobs, 120, "the jobs"
        )
        worker = cluster.procs.pop()
        worker.kill()
        worker.wait()

        def ok(response: httpx.Response) -> None:
            if response.status_code != 200 or b'"errors"' in response.content[:20]:
                raise SystemExit(f"bad response {response.status_code}: {response.text[:300]}")

        cases: list[tuple[str, Callable[[httpx.Client], None]]] = [
            ("GET /healthz (baseline)", lambda c: ok(c.get("/healthz"))),
            ("GraphQL { __typename } (baseline)", lambda c: ok(c.post("/graphql", json={"query": "{ __typename }"}))),
            (
                "GraphQL one job, nested",
                lambda c: ok(c.post("/graphql", json={"query": ONE_JOB, "variables": {"id": job_id}})),
            ),
            ("GraphQL page of 100 jobs, nested", lambda c: ok(c.post("/graphql", json={"query": PAGE}))),
        ]
        single = {name: load(1, args.seconds, request, cluster.client) for name, request in cases}
        loaded = {name: load(args.clients, args.seconds, request, cluster.client) for name, request in cases}
    finally:
        cluster.close()
    print(f"API: one `jobgraph serve` process; {args.seconds:g} s per figure; ratios to the baseline of the same run")
    print("Single client (latency):")
    for name, (_, latencies) in single.items():
        base_name, base = _baseline(name, single)
        print(row(f"{name}: p50", median(latencies), "ms", None if base is None else median(base[1]), base_name))
        print(row("    p99", percentile(latencies, 99), "ms"))
    trivial = median(single["GraphQL { __typename } (baseline)"][1])
    for name, limit in (("GraphQL one job, nested", 3), ("GraphQL page of 100 jobs, nested", 8)):
        ratio = median(single[name][1]) / trivial
        print(goal(f"{name} within {limit}x of {{ __typename }} (now {ratio:.1f}x)", ratio <= limit))
    print(f"{args.clients} clients (throughput):")
    for name, (rate, latencies) in loaded.items():
        base_name, base = _baseline(name, loaded)
        print(row(f"{name}: requests/s", rate, "req/s", None if base is None else base[0], base_name))
        print(row("    p99", percentile(latencies, 99), "ms"))


def _baseline(
    name: str, results: dict[str, tuple[float, list[float]]]
) -> tuple[str, tuple[float, list[float]] | None]:
    """What `name` is compared with: nothing for a baseline, else `{ __typename }` for GraphQL."""
    if "baseline" in name:
        return "", None
    if "GraphQL" in name:
        return "__typename", results["GraphQL { __typename } (baseline)"]
    return "/healthz", results["GET /healthz (baseline)"]


if __name__ == "__main__":
    main()
