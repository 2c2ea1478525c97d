"""Throughput: jobs per second, creation to finished, with two worker processes, for three
plugins, each beside raw Dramatiq no-op messages per second on the same Redis with two worker
processes (the ceiling), measured just before it with the same count.

    python bench/throughput.py [--jobs 2000] [--jobs-slow 500] [--threads 4]
                               [--only noop,echo,command] [--command true]

Plugins: noop = jobgraph.noop (python, isolation thread: the queue alone); echo = jobgraph.echo
(python, the default process isolation: a message, an output file, a result); command = a
command plugin this script registers through GraphQL registerPlugin (argv from --command,
default `true`). noop runs --jobs jobs, echo and command --jobs-slow.

jobgraph: the API and two `jobgraph worker` processes on PostgreSQL and Redis (a new schema per
plugin); the jobs are created through GraphQL createJobs in batches of 500; the clock runs from
the first createJobs request to the last job's finishedAt. Dramatiq: two processes with the
same threads, timeout and prefetch; the clock runs from the first enqueue to the last message's
run. Goals (printed, not asserted): noop >= 1.2 x raw Dramatiq; echo >= 0.5 x noop.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import SRC, Cluster, create_jobs, goal, register_plugin, row, wait_until
from _raw_dramatiq import raw_workers

PLUGINS = {"noop": "jobgraph.noop", "echo": "jobgraph.echo", "command": "bench.command"}


@dataclass
class Result:
    name: str
    jobs: int
    end_to_end: float  # jobs/s, creation to finished
    creation: float  # jobs/s, createJobs alone
    ceiling: float  # raw Dramatiq msg/s with the same count, measured just before


def raw_dramatiq(messages: int, threads: int) -> float:
    with raw_workers(threads) as (namespace, client, actor):
        started = time.perf_counter()
        for _ in range(messages):
            actor.send(time.time() * 1000)
        wait_until(lambda: int(client.get(f"{namespace}:done") or 0) >= messages, 300, "Dramatiq to run every message")
        return messages / (time.perf_counter() - started)


def jobgraph(plugin: str, jobs: int, threads: int, argv: list[str]) -> tuple[float, float]:
    cluster = Cluster()
    try:
        cluster.run("migrate")
        cluster.start_api()
        client = cluster.client()
        if plugin == "command":
            register_plugin(client, PLUGINS[plugin], "command", argv, name="bench command")
        cluster.start_workers(2, threads)
        time.sleep(0.5)  # the workers' consumers settle
        started_wall = time.time()
        started = time.perf_counter()
        create_jobs(client, PLUGINS[plugin], jobs)
        created = time.perf_counter() - started
        wait_until(
            lambda: cluster.scalar("SELECT count(*) FROM jobs WHERE status NOT IN ('queued', 'running')") >= jobs,
            600,
            f"every {plugin} job to end",
            poll=0.05,
        )
        last = cluster.scalar("SELECT extract(epoch FROM max(finished_at)) FROM jobs")
        failed = cluster.scalar("SELECT count(*) FROM jobs WHERE status <> 'finished'")
        if failed:
            error = cluster.scalar("SELECT min(error_message) FROM jobs WHERE status <> 'finished'")
            raise SystemExit(f"{failed} {plugin} jobs did not finish, e.g.: {error}")
        return jobs / (float(last) - started_wall), jobs / created
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs of noop (default 2000)")
    parser.add_argument("--jobs-slow", type=int, default=500, help="jobs of echo and command (default 500)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", default="noop,echo,command", help="which plugins (default noop,echo,command)")
    parser.add_argument("--command", default="true", help="the command plugin's argv, shell-quoted (default true)")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(PLUGINS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; choose from {list(PLUGINS)}")
    argv = shlex.split(args.command)

    results: dict[str, Result] = {}
    for name in names:
        jobs = args.jobs if name == "noop" else args.jobs_slow
        ceiling = raw_dramatiq(jobs, args.threads)
        end_to_end, creation = jobgraph(name, jobs, args.threads, argv)
        results[name] = Result(name, jobs, end_to_end, creation, ceiling)

    print(f"throughput: creation to finished, 2 worker processes x {args.threads} threads")
    print(f"  jobgraph: {SRC}")
    noop = results.get("noop")
    for r in results.values():
        what = {"noop": "noop (thread)", "echo": "echo (process)", "command": f"command {argv}"}[r.name]
        print(f" {what}, {r.jobs} jobs")
        print(row("raw Dramatiq, enqueue to run (baseline)", r.ceiling, "msg/s"))
        print(row("jobgraph, creation to finished", r.end_to_end, "jobs/s", r.ceiling, "raw Dramatiq"))
        if noop is not None and r is not noop:
            print(row("jobgraph, creation to finished (vs noop)", r.end_to_end, "jobs/s", noop.end_to_end, "noop"))
        print(row("jobgraph, creation alone (createJobs x 500)", r.creation, "jobs/s", r.ceiling, "raw Dramatiq"))

    print()
    print(f"  {'plugin':<28} {'jobs':>6} {'jobs/s':>9} {'raw msg/s':>10} {'x raw':>7} {'x noop':>7}")
    for r in results.values():
        x_noop = f"{r.end_to_end / noop.end_to_end:7.2f}" if noop is not None else f"{'-':>7}"
        print(
            f"  {r.name:<28} {r.jobs:>6} {r.end_to_end:>9.1f} {r.ceiling:>10.1f}"
            f" {r.end_to_end / r.ceiling:>7.2f} {x_noop}"
        )
    if noop is not None:
        print(
            goal(
                f"noop >= 1.2 x raw Dramatiq (now {noop.end_to_end / noop.ceiling:.2f} x)",
                noop.end_to_end >= 1.2 * noop.ceiling,
            )
        )
    echo = results.get("echo")
    if echo is not None and noop is not None:
        print(
            goal(
                f"echo >= 0.5 x noop (now {echo.end_to_end / noop.end_to_end:.2f} x)",
                echo.end_to_end >= 0.5 * noop.end_to_end,
            )
        )


if __name__ == "__main__":
    main()
