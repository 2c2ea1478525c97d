"""Claiming: a worker takes up to as many ready jobs of one queue as it has free slots.

One statement, River's and Oban's shape: WITH claimable AS MATERIALIZED (the best ready jobs,
FOR UPDATE SKIP LOCKED) UPDATE ... FROM claimable WHERE status = 'queued' RETURNING. The CTE is
a range scan of the partial index `ix_jobs_claim` (ready jobs of a queue in dispatch order), so its cost does not
grow with the backlog: scheduled jobs and jobs waiting for parents carry a `hold` and are not
in that index at all (the upkeep and `dependencies` lift holds). Times are the database's. A
paused queue (`queues`) yields nothing: the same statement tests it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, exists, or_, select, text, update
from sqlalchemy.engine import Connection

from jobgraph.clock import as_utc
from jobgraph.db.models import Job, JobSeries, PausedQueue, Plugin
from jobgraph.events import event_for
from jobgraph.resolvers.attempts import Attempt, job_snapshot
from jobgraph.resolvers.dbclock import db_now
from jobgraph.runtime import Runtime
from jobgraph.unit import Unit

_jobs = Job.__table__  # type: ignore[attr-defined]
_plugins = Plugin.__table__  # type: ignore[attr-defined]
_series = JobSeries.__table__  # type: ignore[attr-defined]
_paused = PausedQueue.__table__  # type: ignore[attr-defined]
# The index's own predicate, as SQL text: a bound 'queued' would hide from a generic plan
# that the partial index applies.
READY = text("jobs.status = 'queued' AND jobs.hold IS NULL")


def _build_claim() -> Any:
    now = db_now()
    queue = bindparam("claim_queue")
    # A paused queue is claimed from by no one: tested in the claim itself (a one-time test of
    # the small paused_queues table, not a round trip of its own).
    paused = exists().where(_paused.c.queue == queue)
    # MATERIALIZED: the chosen rows are picked once. As a plain `IN (subquery)` PostgreSQL may
    # run the subquery again per row, and with SKIP LOCKED each run finds other rows: a claim
    # of 3 took 5.
    best = (
        select(_jobs.c.number)
        .where(
            _jobs.c.queue == queue,
            READY,
            or_(_jobs.c.expires.is_(None), _jobs.c.expires > now),
            ~paused,
        )
        .order_by(_jobs.c.priority.desc(), _jobs.c.number.asc())
        .limit(bindparam("claim_limit"))
        .with_for_update(skip_locked=True)
        .cte("claimable")
        .prefix_with("MATERIALIZED")
    )
    # Returned with each job, so that most claims need no second statement: the plugin's
    # version (a cache hit when unchanged) and whether there are series to read.
    plugin_version = select(_plugins.c.updated_at).where(_plugins.c.plugin_id == _jobs.c.plugin_id).scalar_subquery()
    has_series = exists().where(_series.c.job_number == _jobs.c.number)
    return (
        update(_jobs)
        .where(_jobs.c.number == best.c.number, _jobs.c.status == "queued")
        .values(status="running", worker_id=bindparam("claim_worker"), started_at=now, updated_at=now, finished_at=None)
        .returning(*_jobs.c, plugin_version.label("plugin_version"), has_series.label("has_series"))
    )


_CLAIM = _build_claim()
_PLUGINS = select(Plugin).where(Plugin.plugin_id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]
_SERIES = (
    select(JobSeries)
    .where(JobSeries.job_number.in_(bindparam("numbers", expanding=True)))  # type: ignore[attr-defined]
    .order_by(JobSeries.job_number, JobSeries.position)
)


class PluginCache:
    """Plugins as last read, by id; an entry serves while its `updated_at` is the database's."""

    def __init__(self) -> None:
        self._plugins: dict[str, Plugin] = {}
        self._lock = threading.Lock()

    def stale(self, versions: dict[str, Any]) -> list[str]:
        with self._lock:
            return sorted(
                plugin_id
                for plugin_id, version in versions.items()
                if plugin_id not in self._plugins or self._plugins[plugin_id].updated_at != as_utc(version)
            )

    def update(self, plugins: Iterable[Plugin]) -> None:
        with self._lock:
            for plugin in plugins:
                self._plugins[plugin.plugin_id] = plugin

    def get(self, plugin_id: str) -> Plugin | None:
        with self._lock:
            return self._plugins.get(plugin_id)


_cache = PluginCache()


def claim(u: Unit, worker_id: int, queue: str, limit: int, conn: Connection | None = None) -> list[Attempt]:
    """Up to `limit` ready jobs of `queue`, in dispatch order, now running under `worker_id`.

    Atomic on both databases: PostgreSQL skips rows another claim holds, SQLite serialises
    writers, and the UPDATE re-checks `status = 'queued'`. One statement is the whole claim:
    given `conn` in autocommit (PostgreSQL, the producer's own), that is one round trip, and
    the claim is committed when it returns (the unit then only reads plugins and series, when
    the cache lacks them, and sends the events); without it the claim is the unit's write.
    """
    if limit < 1:
        return []
    params = {"claim_queue": queue, "claim_limit": limit, "claim_worker": worker_id}
    if conn is not None:
        rows = conn.execute(_CLAIM, params).mappings().all()
    else:
        rows = u.session.execute(_CLAIM, params).mappings().all()
    if not rows:
        return []
    jobs = sorted((job_snapshot(row) for row in rows), key=lambda j: (-j.priority, j.number))
    stale = _cache.stale({row["plugin_id"]: row["plugin_version"] for row in rows})
    with_series = [row["number"] for row in rows if row["has_series"]]
    series: dict[int, list[JobSeries]] = {}
    if stale or with_series:
        s = u.session
        if stale:
            _cache.update(s.scalars(_PLUGINS, {"ids": stale}))
        if with_series:
            for found in s.scalars(_SERIES, {"numbers": with_series}):
                series.setdefault(found.job_number, []).append(found)
    for job in jobs:
        u.publish(event_for("updated", job))
    return [
        Attempt(
            job=job,
            plugin=_cache.get(job.plugin_id),
            series=series.get(job.number or 0, []),
            worker_id=worker_id,
            attempt=job.retries,
        )
        for job in jobs
    ]


class ClaimConnection:
    """A producer's own connection for claims: autocommit on PostgreSQL, so a claim is one
    round trip (no BEGIN, no COMMIT). None on SQLite, whose claims take the write lock in a
    session like every other write. Reconnects after a failure."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._conn: Connection | None = None

    def get(self) -> Connection | None:
        if self.rt.db.is_sqlite:
            return None
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self._conn = self.rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()
