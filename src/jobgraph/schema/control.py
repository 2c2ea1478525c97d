"""Queue control's GraphQL types: paused queues, bulk actions by filter, the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from jobgraph.resolvers import audit, bulk, queues


@strawberry.type(description="A queue: whether workers claim from it, and its queued and running jobs.")
class QueueState:
    name: str
    paused: bool
    paused_at: datetime | None
    paused_by: str | None = strawberry.field(description="The email of who paused it.")
    queued: int
    running: int
    is_estimate: bool = strawberry.field(
        description="queued or running is PostgreSQL's estimate (above the exact count limit), not an exact count."
    )

    @classmethod
    def of(cls, state: queues.QueueState) -> QueueState:
        return cls(
            name=state.name,
            paused=state.paused,
            paused_at=state.paused_at,
            paused_by=state.paused_by,
            queued=state.queued,
            running=state.running,
            is_estimate=state.is_estimate,
        )


@strawberry.enum(description="What a bulk action does to each job its filter selects.")
class BulkAction(Enum):
    RETRY = "RETRY"
    CANCEL = "CANCEL"
    DELETE = "DELETE"
    SET_PRIORITY = "SET_PRIORITY"


@strawberry.type(description="What a bulk action would do, before anything changes.")
class BulkPreview:
    action: BulkAction
    matching: int = strawberry.field(description="Jobs the filter selects (among those you may change).")
    applicable: int = strawberry.field(
        description="Of those, the jobs the action applies to (e.g. CANCEL: queued and running ones)."
    )
    cap: int = strawberry.field(
        description="The most jobs one action changes (JOBGRAPH_BULK_LIMIT); above it, pass `limit`."
    )
    is_estimate: bool = strawberry.field(
        description="A count is PostgreSQL's estimate (above the exact count limit), not an exact count."
    )

    @classmethod
    def of(cls, preview: bulk.Preview) -> BulkPreview:
        return cls(
            action=BulkAction(preview.action.value),
            matching=preview.matching,
            applicable=preview.applicable,
            cap=preview.cap,
            is_estimate=preview.is_estimate,
        )


@strawberry.type(description="What a bulk action did.")
class BulkResult:
    action: BulkAction
    applied: int = strawberry.field(description="Jobs changed.")
    skipped: int = strawberry.field(
        description="Jobs the filter selected but the action left unchanged (not in a state it applies to, "
        "past `limit`, or changed meanwhile)."
    )
    audit_id: strawberry.ID = strawberry.field(description="The audit log entry that records it.")

    @classmethod
    def of(cls, result: bulk.Result) -> BulkResult:
        return cls(
            action=BulkAction(result.action.value),
            applied=result.applied,
            skipped=result.skipped,
            audit_id=strawberry.ID(str(result.audit_id)),
        )


@strawberry.type(description="Who did what to how many jobs.")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    user_email: str | None
    action: str = strawberry.field(
        description="RETRY, CANCEL, DELETE, SET_PRIORITY (bulk actions), PAUSE_QUEUE, RESUME_QUEUE."
    )
    filter: JSON | None = strawberry.field(description="The filter of a bulk action; {queue} for a queue.")
    count: int = strawberry.field(description="How many jobs it changed.")
    job_numbers: list[int] = strawberry.field(description="Their numbers (the first 1000).")
    details: JSON = strawberry.field(description="e.g. the priority set, the limit, how many were skipped.")

    @classmethod
    def of(cls, found: audit.Entry) -> AuditEntry:
        entry = found.entry
        return cls(
            id=strawberry.ID(str(entry.id)),
            at=entry.at,
            user_email=found.user_email,
            action=entry.action,
            filter=entry.filter,
            count=entry.count,
            job_numbers=list(entry.job_numbers or []),
            details=cast(JSON, entry.details or {}),
        )
