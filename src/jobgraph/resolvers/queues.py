"""Pausing and resuming queues (CIRCUS's plugin job manager switch, per queue).

A paused queue keeps taking jobs, but workers claim none of them (`claiming`: the claim itself
skips paused queues, in the same statement); jobs already running go on. Resuming wakes the
queue's workers. Both need manageServer and leave an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobgraph.clock import utcnow
from jobgraph.db.models import PausedQueue, Plugin, User
from jobgraph.resolvers import audit, policy, queue_stats
from jobgraph.resolvers.plugins import check_queue
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit


@dataclass(frozen=True)
class QueueState:
    name: str
    paused: bool
    paused_at: datetime | None = None
    paused_by: str | None = None  # the email of who paused it
    queued: int = 0
    running: int = 0
    is_estimate: bool = False  # queued or running is PostgreSQL's estimate (counting.py)


def _paused(u: Unit, queue: str | None = None) -> dict[str, tuple[PausedQueue, str | None]]:
    stmt = select(PausedQueue, User.email).outerjoin(User, User.id == PausedQueue.paused_by)  # type: ignore[arg-type]
    if queue is not None:
        stmt = stmt.where(PausedQueue.queue == queue)
    return {row[0].queue: (row[0], row[1]) for row in u.session.execute(stmt)}


def _state(
    name: str,
    paused: tuple[PausedQueue, str | None] | None,
    counts: dict[str, int] | None = None,
    is_estimate: bool = False,
) -> QueueState:
    counts = counts or {}
    return QueueState(
        name=name,
        paused=paused is not None,
        paused_at=paused[0].paused_at if paused else None,
        paused_by=paused[1] if paused else None,
        queued=counts.get("queued", 0),
        running=counts.get("running", 0),
        is_estimate=is_estimate,
    )


def list_queues(u: Unit, viewer: Viewer) -> list[QueueState]:
    """Every queue that has queued or running jobs, is paused, or is a registered plugin's queue,
    by name, with its queued and running jobs (queue_stats' per-queue counts: exact up to the
    exact count limit, PostgreSQL's estimate above it). No full count of ended jobs."""
    policy.require_control_queues(viewer)
    counts, estimated = queue_stats.counts_by_queue(u, viewer)
    paused = _paused(u)
    plugin_queues = set(u.session.scalars(select(Plugin.queue).distinct()))
    names = sorted(set(counts) | set(paused) | plugin_queues)
    return [_state(n, paused.get(n), counts.get(n), n in estimated) for n in names]


def queue_state(u: Unit, viewer: Viewer, queue: str) -> QueueState:
    policy.require_control_queues(viewer)
    check_queue(queue)
    counts, estimated = queue_stats.counts_by_queue(u, viewer)
    return _state(queue, _paused(u, queue).get(queue), counts.get(queue), queue in estimated)


def pause_queue(u: Unit, viewer: Viewer, queue: str) -> QueueState:
    """Stop workers claiming from `queue` (already paused: nothing changes, who paused it first
    stays). Running jobs are not touched."""
    policy.require_control_queues(viewer)
    check_queue(queue)
    s = u.session
    if s.get(PausedQueue, queue) is None:
        try:
            with s.begin_nested():  # two pauses at once: the second finds it paused
                s.add(PausedQueue(queue=queue, paused_at=utcnow(), paused_by=viewer.user_id))
        except IntegrityError:
            pass
        else:
            audit.record(u, viewer, "PAUSE_QUEUE", {"queue": queue}, [])
    return queue_state(u, viewer, queue)


def resume_queue(u: Unit, viewer: Viewer, queue: str) -> QueueState:
    """Let workers claim from `queue` again, and wake them (once the unit commits)."""
    policy.require_control_queues(viewer)
    check_queue(queue)
    s = u.session
    removed = s.execute(sql_delete(PausedQueue).where(PausedQueue.queue == queue))  # type: ignore[arg-type]
    if removed.rowcount:  # type: ignore[attr-defined]
        audit.record(u, viewer, "RESUME_QUEUE", {"queue": queue}, [])
        u.wake(queue)
    return queue_state(u, viewer, queue)


def is_paused(u: Unit, queue: str) -> bool:
    return u.session.get(PausedQueue, queue) is not None
