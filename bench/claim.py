"""Claim cost: what a worker pays to claim work from a queue of 0, 100k and 1M queued jobs in
PostgreSQL, as a ratio to the (nearly) empty queue.

    python bench/claim.py [--sizes 0,100000,1000000] [--claims 200] [--limit 8] [--warmup 10]
                          [--budget 60] [--claim auto|claiming|execution]

In-process, no API, no workers, no Redis: a throw-away schema migrated with `jobgraph migrate`,
a Runtime built in this process, an admin user, the built-in plugins and one worker row. For
each size N the jobs table is emptied and seeded in bulk with SQL (INSERT ... SELECT
generate_series, synchronous_commit off, then VACUUM ANALYZE): N finished jobs (older), then N
queued jobs plus (warmup + claims) x limit queued jobs, so every claim finds work; all in the
queue "default", of jobgraph.noop, priority random in -5..5. "Empty" is size 0: only the jobs
the claims take.

Timed: the claim the workers run, called as they call it, each one its own committed
transaction: `jobgraph.resolvers.claiming.claim(unit, worker_id, "default", limit)` when it can be
imported, else today's `jobgraph.resolvers.execution.claim(rt, worker_id, ["default"])` (one job
per claim: `limit` does not apply). The script says which it used. `warmup` claims first (not
counted; psycopg prepares a statement from its fifth run), then `claims` timed ones: median and
p99 per claim, per job claimed, and the SQL statements per claim. A size whose claims are slow
stops after --budget seconds (and at least 10 claims) and says how many it timed. At the
largest size it prints the EXPLAIN (no ANALYZE) of the claim statement (the one with FOR UPDATE
SKIP LOCKED, as captured from the driver during a claim, with the same parameters).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import Cluster, in_process_runtime, jobgraph_source, median, percentile, row
from sqlalchemy import event, text

QUEUE = "default"
PLUGIN = "jobgraph.noop"


def claim_function(which: str) -> tuple[str, Callable[[Any, int, int], int]]:
    """(what is timed, claim(rt, worker_id, limit) -> the number of jobs claimed)."""
    why = "--claim execution"
    if which in ("auto", "claiming"):
        try:
            from jobgraph.resolvers.claiming import claim as claim_many  # the queue core being rebuilt
        except ImportError as exc:
            if which == "claiming":
                raise
            why = f"jobgraph.resolvers.claiming.claim is not importable: {exc}"
        else:

            def many(rt: Any, worker_id: int, limit: int) -> int:
                from jobgraph.unit import in_unit

                return len(in_unit(rt, claim_many, worker_id, QUEUE, limit, write=True))

            return "jobgraph.resolvers.claiming.claim(rt, worker_id, queue, limit)", many

    from jobgraph.resolvers.execution import claim as claim_one

    def one(rt: Any, worker_id: int, limit: int) -> int:
        return 0 if claim_one(rt, worker_id, [QUEUE]) is None else 1

    return f"jobgraph.resolvers.execution.claim(rt, worker_id, [queue]), one job per claim ({why})", one


def register_worker(rt: Any) -> int:
    try:
        from jobgraph.resolvers.liveness import register_worker as register
    except ImportError:
        from jobgraph.resolvers.execution import register_worker as register
    from jobgraph.unit import in_unit

    return int(in_unit(rt, register, None, write=True))


# What the seeded rows hold, by column; the columns the table has are filled, and a required
# column this does not know about stops the script (the schema changed: teach it here).
def seed_values(finished_count: int, worker_id: int, user_id: int) -> dict[str, str]:
    done = f"g <= {finished_count}"
    return {
        "job_id": "lpad(to_hex(g), 26, '0')",
        "plugin_id": f"'{PLUGIN}'",
        "user_id": str(user_id),
        "status": f"CASE WHEN {done} THEN 'finished' ELSE 'queued' END",
        "priority": "(floor(random() * 11) - 5)::int",
        "queue": f"'{QUEUE}'",
        "input": "NULL",
        "attempts": "1",
        "retries": "0",
        "lax": "false",
        "notes": "'{}'::jsonb",
        "cancel_requested": "false",
        "worker_id": f"CASE WHEN {done} THEN {worker_id} END",
        "run_level": "'default'",
        "created_at": "t0 + g * interval '1 ms'",
        "updated_at": "t0 + g * interval '1 ms'",
        "started_at": f"CASE WHEN {done} THEN t0 + g * interval '1 ms' END",
        "finished_at": f"CASE WHEN {done} THEN t0 + g * interval '1 ms' + interval '5 ms' END",
    }


def seed(cluster: Cluster, queued: int, finished: int, worker_id: int, user_id: int) -> float:
    """Empty the jobs table, then `finished` finished jobs and `queued` queued ones; seconds taken."""
    started = time.perf_counter()
    with cluster.engine.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'jobs'"
            )
        ).all()
        values = seed_values(finished, worker_id, user_id)
        unknown = [name for name, required in columns if required and name not in values]
        if unknown:
            raise SystemExit(f"bench/claim.py does not know how to fill the jobs columns {unknown}")
        names = [name for name, _ in columns if name in values]
        conn.execute(text("SET synchronous_commit = off"))
        conn.execute(text("TRUNCATE jobs CASCADE"))
        conn.execute(
            text(
                f"INSERT INTO jobs ({', '.join(names)})"
                f" SELECT {', '.join(values[n] for n in names)}"
                " FROM generate_series(1, :total) AS g, (SELECT now() - interval '30 days' AS t0) AS start"
            ),
            {"total": queued + finished},
        )
        conn.commit()
    with cluster.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE jobs"))
    return time.perf_counter() - started


class Statements:
    """Counts the SQL statements run on an engine and keeps the last claim statement."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self.claim: tuple[str, Any] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self.count += 1
        if "SKIP LOCKED" in statement.upper():
            self.claim = (statement, parameters)


def explain(rt: Any, statement: str, parameters: Any) -> str:
    raw = rt.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(f"    {r[0]}" for r in cursor.fetchall())
        raw.rollback()
        return plan
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,100000,1000000", help="queued jobs besides the claimed ones")
    parser.add_argument("--claims", type=int, default=200, help="timed claims per size (default 200)")
    parser.add_argument("--limit", type=int, default=8, help="jobs per claim, for claiming.claim (default 8)")
    parser.add_argument("--warmup", type=int, default=10, help="claims before the timed ones (default 10)")
    parser.add_argument(
        "--budget", type=float, default=60, help="seconds of timed claims per size, at least 10 claims (default 60)"
    )
    parser.add_argument(
        "--claim",
        choices=("auto", "claiming", "execution"),
        default="auto",
        help="auto (default): claiming.claim if importable, else execution.claim",
    )
    args = parser.parse_args()
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})

    cluster = Cluster()
    rt = None
    try:
        cluster.run("migrate")
        rt = in_process_runtime(cluster)
        from jobgraph.resolvers.plugins import register_builtin_plugins
        from jobgraph.resolvers.users import ensure_admin
        from jobgraph.unit import in_unit

        in_unit(rt, ensure_admin, write=True)
        in_unit(rt, register_builtin_plugins, write=True)
        user_id = int(cluster.scalar("SELECT min(id) FROM users"))
        worker_id = register_worker(rt)
        what, claim = claim_function(args.claim)
        statements = Statements(rt.db.engine)
        needed = (args.warmup + args.claims) * args.limit

        results: dict[int, tuple[list[float], int, float]] = {}
        plan = ""
        for size in sizes:
            seconds = seed(cluster, queued=size + needed, finished=size, worker_id=worker_id, user_id=user_id)
            print(f"  seeded {size:,} finished + {size + needed:,} queued jobs in {seconds:.1f} s", file=sys.stderr)
            for _ in range(args.warmup):
                claim(rt, worker_id, args.limit)
            times, claimed = [], 0
            statements.count = 0
            deadline = time.monotonic() + args.budget
            for _ in range(args.claims):
                if len(times) >= 10 and time.monotonic() > deadline:
                    break  # a slow claim: fewer of them (printed)
                started = time.perf_counter()
                got = claim(rt, worker_id, args.limit)
                times.append((time.perf_counter() - started) * 1000)
                if got == 0:
                    raise SystemExit(f"a claim found no work at size {size:,}: seed more")
                claimed += got
            results[size] = (times, claimed, statements.count / len(times))
            if size == sizes[-1] and statements.claim is not None:
                try:
                    plan = explain(rt, *statements.claim)
                except Exception as exc:  # the plan is a bonus
                    plan = f"    (EXPLAIN failed: {type(exc).__name__}: {exc})"
    finally:
        if rt is not None:
            rt.close()
        cluster.close()

    print(f"claim cost: {args.claims} claims per size (after {args.warmup} not counted), limit {args.limit}")
    print(f"  timed: {what}")
    print(f"  jobgraph: {jobgraph_source()}")
    base_times, base_claimed, _ = results[sizes[0]]
    base50, base99 = median(base_times), percentile(base_times, 99)
    base_job = sum(base_times) / base_claimed
    for size in sizes:
        times, claimed, per_claim = results[size]
        label = f"{size:,} queued + {size:,} finished" if size else "empty queue (just the claimed jobs)"
        is_base = size == sizes[0]
        counts = f"{len(times)} claims, {claimed / len(times):.1f} jobs and {per_claim:.1f} SQL statements per claim"
        print(f" {label}{' (baseline)' if is_base else ''}: {counts}")
        base_name = "empty" if sizes[0] == 0 else f"{sizes[0]:,}"
        print(row("    per claim, p50", median(times), "ms", None if is_base else base50, base_name))
        print(row("    per claim, p99", percentile(times, 99), "ms", None if is_base else base99, base_name))
        print(row("    per job claimed, mean", sum(times) / claimed, "ms", None if is_base else base_job, base_name))
    if plan:
        print(f" EXPLAIN of the claim statement at {sizes[-1]:,} (no ANALYZE):")
        print(plan)


if __name__ == "__main__":
    main()
