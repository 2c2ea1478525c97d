"""The audit log: who did what to how many jobs (bulk actions, pausing and resuming queues).

Written in the unit of work of the action itself, so an action that fails leaves no record and
a record is never missing for an action that happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from jobgraph.clock import utcnow
from jobgraph.db.models import AuditEntry, User
from jobgraph.errors import BadInput
from jobgraph.resolvers import policy
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

MAX_NUMBERS = 1000  # job numbers kept per entry; beyond, the first ones (a sample), `count` says how many
MAX_LIST = 500


@dataclass(frozen=True)
class Entry:
    entry: AuditEntry
    user_email: str | None


def record(
    u: Unit,
    viewer: Viewer | None,
    action: str,
    filter: Any,
    numbers: Sequence[int],
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry for `action` by `viewer` (None: the operator at the command line)."""
    s = u.session
    entry = AuditEntry(
        at=utcnow(),
        user_id=viewer.user_id if viewer is not None else None,
        action=action,
        filter=filter,
        count=len(numbers),
        job_numbers=list(numbers[:MAX_NUMBERS]),
        details=dict(details or {}),
    )
    s.add(entry)
    s.flush()
    return entry


def list_entries(u: Unit, viewer: Viewer | None, first: int = 50) -> list[Entry]:
    """The newest entries first (manageServer)."""
    policy.require_read_audit_log(viewer)
    if not 0 <= first <= MAX_LIST:
        raise BadInput(f"first must be 0 to {MAX_LIST}")
    s = u.session
    rows = s.execute(
        select(AuditEntry, User.email)
        .outerjoin(User, User.id == AuditEntry.user_id)  # type: ignore[arg-type]
        .order_by(AuditEntry.id.desc())  # type: ignore[union-attr]
        .limit(first)
    ).all()
    return [Entry(entry=row[0], user_email=row[1]) for row in rows]
