"""Dependencies: a child waits (hold "parents") until its parents end, and is settled then.

Resolved when parents end, never in a claim: ending jobs call `settle`, which fails the strict
children of a failed or cancelled parent (naming it, and so on down the tree) and lifts the
hold of children that no parent blocks any more. A child with `lax` runs after its parents
ended in any way. The sweep re-settles children whose settling was lost (a crash in between).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, literal, or_, select, text, update

from jobgraph.db.models import ENDED_STATUSES, Job, JobDependency, Message
from jobgraph.events import event_for
from jobgraph.resolvers import lifecycle
from jobgraph.resolvers.attempts import ERROR
from jobgraph.resolvers.dbclock import current_time, db_now
from jobgraph.resolvers.dispatch import wake_for
from jobgraph.unit import Unit

_jobs = Job.__table__  # type: ignore[attr-defined]
_deps = JobDependency.__table__  # type: ignore[attr-defined]
_parent = _jobs.alias("parent")

RUNNING_PARENT = ("queued", "running")
FAILED_PARENT = ("failed", "cancelled")


def hold_for(run_at: datetime | None, now: datetime, waits_for_parents: bool) -> str | None:
    """The hold of a job that is (again) queued."""
    if waits_for_parents:
        return "parents"
    if run_at is not None and run_at > now:
        return "scheduled"
    return None


def parents_block(s: Any, parent_numbers: list[int], lax: bool) -> bool:
    """Whether these parents keep a child from running now (at creation or a manual retry)."""
    if not parent_numbers:
        return False
    blocking = RUNNING_PARENT if lax else RUNNING_PARENT + FAILED_PARENT
    stmt = select(_jobs.c.number).where(_jobs.c.number.in_(parent_numbers), _jobs.c.status.in_(blocking)).limit(1)
    return s.execute(stmt).first() is not None


def parents_of(s: Any, number: int) -> list[int]:
    return list(s.scalars(select(_deps.c.parent_number).where(_deps.c.child_number == number)))


# Lift the hold of waiting children of these parents that no parent blocks any more.
_now = db_now()
_RELEASE = (
    update(_jobs)
    .where(
        _jobs.c.status == "queued",
        _jobs.c.hold == "parents",
        _jobs.c.number.in_(
            select(_deps.c.child_number).where(_deps.c.parent_number.in_(bindparam("parents", expanding=True)))
        ),
        ~exists().where(
            _deps.c.child_number == _jobs.c.number,
            _deps.c.parent_number == _parent.c.number,
            or_(
                _parent.c.status.in_(RUNNING_PARENT),
                and_(_jobs.c.lax.is_(False), _parent.c.status.in_(FAILED_PARENT)),
            ),
        ),
    )
    .values(hold=case((_jobs.c.run_at > _now, literal("scheduled")), else_=None), updated_at=_now)
    .returning(_jobs.c.number, _jobs.c.queue, _jobs.c.hold, _jobs.c.run_at)
)

_STRICT_CHILDREN = (
    select(Job)
    .join(JobDependency, JobDependency.child_number == Job.number)  # type: ignore[arg-type]
    .where(JobDependency.parent_number == bindparam("parent"), Job.status == "queued", Job.lax.is_(False))  # type: ignore[attr-defined]
    .with_for_update()
)


@dataclass
class Settled:
    failed: list[Job] = field(default_factory=list)  # strict children failed with their parent
    released: list[Any] = field(default_factory=list)  # rows (number, queue, hold, run_at) now queued to run

    def publish(self, u: Unit) -> None:
        """Tell followers, wake the released children's queues (the unit sends both after its commit)."""
        for child in self.failed:
            u.publish(event_for("updated", child))
        if self.released:
            wake_for(u, self.released)


def settle(s: Any, parents: Iterable[Job]) -> Settled:
    """Inside the transaction that ended `parents`: fail strict children of the failed ones
    (recursively), then release every child that nothing blocks any more."""
    settled = Settled()
    pending = [p for p in parents if p.status in ENDED_STATUSES]
    ended: list[int] = []
    now: datetime | None = None
    while pending:
        parent = pending.pop()
        assert parent.number is not None
        ended.append(parent.number)
        if parent.status not in FAILED_PARENT:
            continue
        for child in s.scalars(_STRICT_CHILDREN, {"parent": parent.number}):
            now = now or current_time(s)
            lifecycle.move(child, "failed", "fail")
            child.hold = None
            child.error_message = f"parent job {parent.job_id} {parent.status}"
            child.failure_kind = "parent"
            child.finished_at = now
            child.updated_at = now
            s.add(child)
            s.add(Message(job_number=child.number, status=ERROR, text=child.error_message))
            settled.failed.append(child)
            pending.append(child)
    if settled.failed:
        s.flush()
    if ended:
        settled.released = list(s.execute(_RELEASE, {"parents": ended}))
    return settled


def settle_children(u: Unit, parents: Iterable[Job]) -> None:
    """`settle` in a transaction of its own (the sweep, and paths that ended jobs elsewhere)."""
    parents = list(parents)
    if not parents:
        return
    s = u.session
    fresh = list(s.scalars(select(Job).where(Job.number.in_([p.number for p in parents]))))  # type: ignore[union-attr]
    settled = settle(s, fresh)
    settled.publish(u)


_child = _jobs.alias("child")
_other = _jobs.alias("other")
# Children waiting for parents none of which can still run: every parent has ended.
_UNBLOCKED_CHILDREN = select(_child.c.number).where(
    text("child.status = 'queued' AND child.hold = 'parents'"),
    ~exists().where(
        _deps.c.child_number == _child.c.number,
        _deps.c.parent_number == _other.c.number,
        _other.c.status.in_(RUNNING_PARENT),
    ),
)
_STUCK_PARENTS = select(_parent).where(
    _parent.c.number.in_(select(_deps.c.parent_number).where(_deps.c.child_number.in_(_UNBLOCKED_CHILDREN.limit(1000))))
)


def stuck_parents(u: Unit) -> list[Job]:
    """Parents of children that still wait though every parent has ended (their settling was
    lost, say to a database restart in between). Driven from the waiting children, which are few."""
    s = u.session
    return [Job(**row) for row in s.execute(_STUCK_PARENTS).mappings()]
