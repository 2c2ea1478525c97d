"""Wake-ups: telling the workers of a queue that there is work, once per queue, not per job.

A wake-up only says "there may be work in queue Q"; the database says which. A worker woken
claims until the queue is drained, so a batch of jobs needs one wake-up per queue. A job
scheduled for later gets a delayed wake-up for the earliest of its queue (the workers' upkeep
promotes due jobs in any case, so a lost or too-late message costs latency, never the job).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from jobgraph.clock import utcnow
from jobgraph.unit import Unit

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 6 * 24 * 3600  # Redis refuses delays of 7 days or more; the upkeep finds later ones


class Queued(Protocol):
    @property
    def queue(self) -> str: ...
    @property
    def hold(self) -> str | None: ...
    @property
    def run_at(self) -> datetime | None: ...


def wake_for(u: Unit, jobs: Iterable[Queued]) -> None:
    """One wake-up per queue with a ready job; one delayed wake-up per queue for the earliest
    scheduled job. Jobs waiting for parents are woken when their parents end. Sent by the unit
    once it commits (a worker woken earlier would claim nothing)."""
    ready: set[str] = set()
    earliest: dict[str, datetime] = {}
    for job in jobs:
        if job.hold is None:
            ready.add(job.queue)
        elif job.hold == "scheduled" and job.run_at is not None:
            earliest[job.queue] = min(job.run_at, earliest.get(job.queue, job.run_at))
    for queue in sorted(ready):
        u.wake(queue, None)
    now = utcnow()
    for queue, run_at in sorted(earliest.items()):
        delay = min((run_at - now).total_seconds(), MAX_DELAY_SECONDS)
        u.wake(queue, int(delay * 1000) + 1 if delay > 0 else None)
