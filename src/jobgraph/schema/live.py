"""Subscriptions for their whole life: sessions that stay authenticated, limits, shared reads.

One `Hub` per process (per app) stands between the event bus and every open subscription:

- Sessions. A subscription's connection (a WebSocket, or one HTTP streaming request) carries a
  token. `Sessions` keeps, per token (by its hash), the Viewer `users.authenticate` gave and when;
  the hub's watchdog authenticates every token with open subscriptions again each
  `JOBGRAPH_SESSION_RECHECK_SECONDS` (one check per token, however many subscriptions use it), and
  wakes at a token's expiry. A revoked or expired token ends each of its subscriptions with an
  UNAUTHENTICATED error saying why; a change of privileges applies to the next event delivered.
- Limits: subscriptions per connection and per user (TOO_MANY_SUBSCRIPTIONS beyond them).
- Shared reads. The hub holds the one bus subscription; for each batch of events it reads every
  job that some subscriber wants once, with no viewer restriction (and the owner's email or the
  job's series when a filter names them), and offers the same row to each subscriber, which
  checks visibility and its filter in memory with its session's current Viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from jobgraph.clock import utcnow
from jobgraph.db.models import Job, JobSeries, User
from jobgraph.errors import DomainError, NotFound, TooManySubscriptions, Unauthenticated
from jobgraph.events import RESYNC, JobEvent
from jobgraph.events import Subscription as BusSubscription
from jobgraph.resolvers import job_list, policy, users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from jobgraph.unit import Unit, in_unit
from jobgraph.web.views import call

log = logging.getLogger(__name__)

EXPIRED = "the API token has expired"
BATCH = 500  # events handled (and jobs read) together when they arrive faster than they are read
FEED_QUEUE = 1000  # a subscriber this far behind loses its oldest deliveries, as the bus does
SLICE = 50  # subscribers handed an event before the hub lets other work (requests) run again
MAX_SESSIONS = 10_000  # cached token checks; stale ones are dropped first


# -- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    """What authenticate said of a token (a Viewer or why not), and when (time.monotonic)."""

    viewer: Viewer | None
    error: str | None
    at: float


def _authenticate_all(u: Unit, tokens: dict[str, str]) -> dict[str, _Check]:
    checks = {}
    for key, token in tokens.items():
        at = time.monotonic()  # before the read: the check is as old as the data it saw
        try:
            checks[key] = _Check(users.authenticate(u, token, cached=False), None, at)
        except Unauthenticated as exc:
            checks[key] = _Check(None, exc.message, at)
    return checks


class Sessions:
    """Per process: each token's Viewer, as authenticate said at most `recheck` seconds ago."""

    def __init__(self, rt: Runtime, recheck: float) -> None:
        self.rt = rt
        self.recheck = recheck
        self._checks: dict[str, _Check] = {}
        self._inflight: dict[str, asyncio.Future[None]] = {}

    def current(self, key: str) -> Viewer:
        """From memory: the viewer as last checked; Unauthenticated if that check failed or the
        token has expired since (its expiry is exact, not bounded by `recheck`)."""
        check = self._checks.get(key)
        if check is None or check.viewer is None:
            raise Unauthenticated(check.error) if check and check.error else Unauthenticated()
        expires = check.viewer.token_expires_at
        if expires is not None and expires <= utcnow():
            raise Unauthenticated(EXPIRED)
        return check.viewer

    def due_in(self, key: str) -> float:
        """Seconds until the token is to be checked again (0 or less: now)."""
        check = self._checks.get(key)
        return -1.0 if check is None else check.at + self.recheck - time.monotonic()

    def expires_in(self, key: str) -> float:
        check = self._checks.get(key)
        expires = check.viewer.token_expires_at if check and check.viewer else None
        return math.inf if expires is None else (expires - utcnow()).total_seconds()

    async def viewer(self, token: str) -> Viewer:
        key = users.hash_token(token)
        if self.due_in(key) <= 0:
            await self.check({key: token})
            if key not in self._checks:  # the check we waited for failed: fail here, loudly
                self._store(await call(in_unit, self.rt, _authenticate_all, {key: token}))
        return self.current(key)

    async def check(self, tokens: dict[str, str]) -> None:
        """Authenticate these tokens again, all in one thread hop. A token some other task is
        checking already is waited for, not checked twice."""
        waits = {self._inflight[k] for k in tokens if k in self._inflight}
        todo = {k: t for k, t in tokens.items() if k not in self._inflight}
        if todo:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for key in todo:
                self._inflight[key] = done
            try:
                self._store(await call(in_unit, self.rt, _authenticate_all, todo))
            finally:
                for key in todo:
                    self._inflight.pop(key, None)
                done.set_result(None)
        for wait in waits:
            await asyncio.shield(wait)

    def _store(self, checks: dict[str, _Check]) -> None:
        self._checks.update(checks)
        if len(self._checks) > MAX_SESSIONS:
            for key in [k for k in self._checks if self.due_in(k) <= 0]:
                del self._checks[key]
            while len(self._checks) > MAX_SESSIONS:
                del self._checks[next(iter(self._checks))]


class Connection:
    """One WebSocket, or one HTTP streaming request: its token and its open subscriptions."""

    def __init__(self, hub: Hub, token: str | None) -> None:
        self.hub = hub
        self.token = token
        self.key = users.hash_token(token) if token else ""
        self.open = 0

    async def viewer(self) -> Viewer:
        if not self.token:
            raise Unauthenticated()
        return await self.hub.sessions.viewer(self.token)


# -- what subscribers receive ------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    event: JobEvent
    row: Job | None  # None for a deleted job; the same object for every subscriber: read only


@dataclass(frozen=True)
class _Loaded:
    row: Job
    owner_email: str | None
    series_uids: Collection[str]


def _read_jobs(
    u: Unit, numbers: Collection[int], job_ids: Collection[str], emails: bool, series: bool
) -> list[_Loaded]:
    """The jobs named, by number or public id: one statement (two when a filter names a series),
    in the unit of this batch of events."""
    found = []
    s = u.session
    where = or_(Job.number.in_(list(numbers)), Job.job_id.in_(list(job_ids)))  # type: ignore[union-attr,attr-defined]
    if emails:
        with_email: Any = select(Job, User.email)  # type: ignore[call-overload]
        stmt = with_email.outerjoin(User, User.id == Job.user_id).where(where)
        pairs = [(job, email) for job, email in s.execute(stmt)]
    else:
        pairs = [(job, None) for job in s.scalars(select(Job).where(where))]
    by_job: dict[int, set[str]] = {}
    if series and pairs:
        uids: Any = select(JobSeries.job_number, JobSeries.series_uid)  # type: ignore[call-overload]
        numbers_read = [job.number for job, _ in pairs]
        for number, uid in s.execute(uids.where(JobSeries.job_number.in_(numbers_read))):  # type: ignore[attr-defined]
            by_job.setdefault(number, set()).add(uid)
    for job, email in pairs:
        found.append(_Loaded(job, email, frozenset(by_job.get(job.number or 0, ()))))
    return found


def matches_cheaply(event: JobEvent, viewer: Viewer, f: job_list.JobFilter | None) -> bool:
    """From the event alone: may the viewer see it, and do status, plugin and queue match."""
    if not policy.can_see_owner(viewer, event.user_id):
        return False
    if f is None:
        return True
    if f.statuses and event.status not in f.statuses:
        return False
    if f.plugin_ids and event.plugin_id not in f.plugin_ids:
        return False
    return not (f.queues and event.queue not in f.queues)


def needs_row(f: job_list.JobFilter | None) -> bool:
    """Whether the filter asks more than the event carries (then the job as read decides)."""
    return f is not None and any(
        v is not None
        for v in (
            f.user_emails,
            f.series_uid,
            f.created_after,
            f.created_before,
            f.updated_after,
            f.finished_after,
            f.finished_before,
            f.error_contains,
            f.input_contains,
            f.notes_contains,
        )
    )


class Feed:
    """One subscription's deliveries: an async iterator that ends when the job is deleted
    (jobUpdated) or raises the error that ended it (token revoked or expired, job no longer
    visible). Leaving `with` unregisters it."""

    def __init__(
        self, hub: Hub, conn: Connection, user_id: int, job_id: str | None, job_filter: job_list.JobFilter | None
    ) -> None:
        self.hub = hub
        self.conn = conn
        self.user_id = user_id
        self.job_id = job_id
        self.filter = job_filter
        self.needs_row = needs_row(job_filter)
        self.needs_email = job_list.filter_needs_owner_email(job_filter)
        self.needs_series = job_list.filter_needs_series(job_filter)
        self.ended = False
        self._error: DomainError | None = None
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue()

    def viewer(self) -> Viewer:
        return self.hub.sessions.current(self.conn.key)

    def wants(self, event: JobEvent) -> bool:
        """jobEvents: whether this event passes the cheap checks (so its job is worth reading)."""
        try:
            return matches_cheaply(event, self.viewer(), self.filter)
        except Unauthenticated:
            return False

    def put(self, delivery: Delivery) -> None:
        if self.ended:
            return
        if self._queue.qsize() >= FEED_QUEUE:
            self._queue.get_nowait()
        self._queue.put_nowait(delivery)

    def end(self, error: DomainError | None = None) -> None:
        if not self.ended:
            self.ended = True
            self._error = error
            self._queue.put_nowait(None)

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> Delivery:
        if self._queue.empty():
            item = await self._queue.get()
        else:  # behind: still let the others (and requests) have their turn between sends
            await asyncio.sleep(0)
            item = self._queue.get_nowait()
        if item is None:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return item

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.hub.close(self)


# -- the hub -----------------------------------------------------------------------------------


class Hub:
    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        self.rt = rt
        self.sessions = Sessions(rt, max(settings.session_recheck_seconds, 0.05))
        self.per_connection = settings.max_subscriptions_per_connection
        self.per_user = settings.max_subscriptions_per_user
        self._feeds: set[Feed] = set()
        self._following: dict[str, set[Feed]] = {}  # jobUpdated, by job id
        self._streams: set[Feed] = set()  # jobEvents
        self._per_user: Counter[int] = Counter()
        self._bus: BusSubscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    @classmethod
    def of(cls, state: Any, rt: Runtime) -> Hub:
        """The app's hub (made on first use)."""
        hub: Hub | None = getattr(state, "subscription_hub", None)
        if hub is None or hub.rt is not rt:
            hub = cls(rt)
            state.subscription_hub = hub
        return hub

    def connection(self, token: str | None) -> Connection:
        return Connection(self, token)

    @property
    def open_count(self) -> int:
        return len(self._feeds)

    def open(
        self,
        conn: Connection,
        viewer: Viewer,
        *,
        job_id: str | None = None,
        job_filter: job_list.JobFilter | None = None,
    ) -> Feed:
        """Register a subscription (it receives every event published from now on), or refuse
        it beyond the limits."""
        if conn.open >= self.per_connection:
            raise TooManySubscriptions(
                f"this connection has {conn.open} subscriptions open, the most allowed: complete one first"
            )
        if self._per_user[viewer.user_id] >= self.per_user:
            raise TooManySubscriptions(
                f"you have {self._per_user[viewer.user_id]} subscriptions open, the most allowed: complete one first"
            )
        feed = Feed(self, conn, viewer.user_id, job_id, job_filter)
        conn.open += 1
        self._per_user[viewer.user_id] += 1
        self._feeds.add(feed)
        if job_id is not None:
            self._following.setdefault(job_id, set()).add(feed)
        else:
            self._streams.add(feed)
        self._start()
        self._wake.set()  # a new token, or an earlier expiry, for the watchdog
        return feed

    def close(self, feed: Feed) -> None:
        if feed not in self._feeds:
            return
        self._detach(feed)
        self._feeds.discard(feed)
        feed.conn.open -= 1
        self._per_user[feed.user_id] -= 1
        if self._per_user[feed.user_id] <= 0:
            del self._per_user[feed.user_id]
        if not self._feeds:
            self._stop()

    def _end(self, feed: Feed, error: DomainError | None = None) -> None:
        feed.end(error)
        self._detach(feed)

    def _detach(self, feed: Feed) -> None:
        if feed.job_id is not None:
            following = self._following.get(feed.job_id)
            if following is not None:
                following.discard(feed)
                if not following:
                    del self._following[feed.job_id]
        else:
            self._streams.discard(feed)

    def _start(self) -> None:
        if self._bus is not None:
            return
        bus = self._bus = self.rt.events.subscribe()  # registered now: nothing published later is missed
        self._wake = asyncio.Event()  # of this loop
        self._tasks = [
            asyncio.create_task(self._pump(bus), name="jobgraph-subscriptions-pump"),
            asyncio.create_task(self._watch(), name="jobgraph-subscriptions-watchdog"),
        ]

    def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self._bus is not None:
            self._bus.close()
            self._bus = None

    # -- events
    async def _pump(self, bus: BusSubscription) -> None:
        async for first in bus:
            batch = [first, *bus.pending(BATCH - 1)]
            try:
                await self._dispatch(batch)
            except Exception:  # one failed read must not end every subscription of the process
                log.exception("subscriptions: could not read the jobs of %d events", len(batch))

    async def _dispatch(self, batch: list[JobEvent]) -> None:
        numbers: set[int] = set()
        job_ids: set[str] = set()
        emails = series = False
        for event in batch:
            if event.kind == RESYNC:
                job_ids.update(self._following)  # events may have been lost: read every followed job
            elif event.kind != "deleted":
                if event.job_id in self._following:
                    numbers.add(event.number)
                for feed in self._streams:
                    if feed.wants(event):
                        numbers.add(event.number)
                        emails = emails or feed.needs_email
                        series = series or feed.needs_series
        loaded: list[_Loaded] = []
        if numbers or job_ids:
            loaded = await call(in_unit, self.rt, _read_jobs, numbers, job_ids, emails, series)
        by_number = {item.row.number: item for item in loaded}
        by_id = {item.row.job_id: item for item in loaded}
        served: set[Feed] = set()  # a jobUpdated subscriber gets the job once per batch
        offered = 0
        for event in batch:
            if event.kind == RESYNC:
                offers = [(f, by_id.get(job_id)) for job_id, feeds in self._following.items() for f in feeds]
            else:
                item = by_number.get(event.number)
                offers = [(f, item) for f in (*self._following.get(event.job_id, ()), *self._streams)]
            for feed, item in offers:
                if feed.ended or feed not in self._feeds:
                    continue  # ended or closed while the hub let others run
                if feed.job_id is not None:
                    self._offer_job(feed, event, item, served)
                else:
                    self._offer_event(feed, event, item)
                offered += 1
                if offered % SLICE == 0:
                    # Each subscriber woken now executes its query and sends: a thousand of them at
                    # once would hold every other request up for the whole burst.
                    await asyncio.sleep(0)

    def _offer_job(self, feed: Feed, event: JobEvent, item: _Loaded | None, served: set[Feed]) -> None:
        if event.kind == "deleted" or item is None:
            self._end(feed)  # the job is gone: the subscription completes
            return
        if feed in served:
            return
        try:
            viewer = feed.viewer()
        except Unauthenticated as exc:
            self._end(feed, exc)
            return
        if not policy.can_see_job(viewer, item.row):
            self._end(feed, NotFound(f"no job {feed.job_id}"))  # as the query answers it now
            return
        served.add(feed)
        feed.put(Delivery(event, item.row))

    def _offer_event(self, feed: Feed, event: JobEvent, item: _Loaded | None) -> None:
        try:
            viewer = feed.viewer()
        except Unauthenticated as exc:
            self._end(feed, exc)
            return
        if not matches_cheaply(event, viewer, feed.filter):
            return
        if event.kind == "deleted":
            feed.put(Delivery(event, None))
            return
        if item is None:
            return  # deleted meanwhile (its own event follows), or not read: the viewer changed
        if (
            feed.needs_row
            and feed.filter is not None
            and not job_list.matches(item.row, feed.filter, owner_email=item.owner_email, series_uids=item.series_uids)
        ):
            return
        feed.put(Delivery(event, item.row))

    # -- sessions
    async def _watch(self) -> None:
        """Authenticate the tokens of open subscriptions again every `recheck` seconds, and end
        the subscriptions of a token that was revoked (or whose user is gone) or has expired."""
        while True:
            tokens = {f.conn.key: f.conn.token for f in self._feeds if not f.ended and f.conn.token}
            due = {key: token for key, token in tokens.items() if self.sessions.due_in(key) <= 0}
            wait = self.sessions.recheck
            if due:
                try:
                    await self.sessions.check(due)
                except Exception:  # the database is away: keep the sessions, try again later
                    log.warning("subscriptions: could not authenticate their tokens again", exc_info=True)
                    tokens = {k: t for k, t in tokens.items() if k not in due}
            ended: dict[str, str] = {}
            for key in tokens:
                try:
                    self.sessions.current(key)
                except Unauthenticated as exc:
                    ended[key] = exc.message
                    continue
                wait = min(wait, self.sessions.due_in(key), self.sessions.expires_in(key))
            if ended:
                for feed in list(self._feeds):
                    if feed.conn.key in ended and not feed.ended:
                        self._end(feed, Unauthenticated(ended[feed.conn.key]))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.001))
