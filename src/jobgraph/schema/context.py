"""Per-request context: who is asking, the operation's unit of work, and its DataLoaders.

A query operation reads in ONE unit (one transaction): the Context opens it on first use
(`run`), every resolver and DataLoader of the operation runs its use case on it (`await
ctx.run(fn, *args)`: `fn(unit, *args)` in the thread pool, one at a time), and the
`OperationUnit` extension closes it when the operation ends. A mutation field is an answer of
its own: `ctx.write(fn, *args)` runs `fn(unit, viewer, *args)` in a write unit committed before
the field returns (a later field that fails does not undo it). A subscription reads each event
in a unit of its own (`next_event`); on a WebSocket, where one Context serves every operation
of the connection, each read is a unit of its own.

A plain HTTP request authenticates once. A WebSocket (and a subscription streamed over HTTP)
lives long: its viewer comes from the subscription hub's sessions, authenticated again at a
bounded interval, so a revoked token or a lost privilege counts there too (`schema/live.py`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from functools import cached_property
from typing import Any, TypeVar

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from jobgraph.errors import BadInput, Unauthenticated
from jobgraph.resolvers import job_list, loaders, queue_stats, users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from jobgraph.schema.live import Connection, Feed, Hub
from jobgraph.unit import Unit, in_unit, unit_of_work
from jobgraph.web import session
from jobgraph.web.views import bearer_token, call

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def _batched(
    ctx: Context, fn: Callable[[Unit, Sequence[Any]], list[Any]]
) -> Callable[[list[Any]], Awaitable[list[Any]]]:
    async def load(keys: list[Any]) -> list[Any]:
        return await ctx.run(fn, keys)

    return load


class Loaders:
    """One statement per kind per batch, whatever the number of jobs on the page. Each loader is
    made on first use: a subscription takes new ones for every event it sends, mostly unused."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _loader(self, fn: Callable[[Unit, Sequence[Any]], list[Any]]) -> DataLoader[Any, Any]:
        return DataLoader(_batched(self._ctx, fn))

    @cached_property
    def plugin(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.plugins)

    @cached_property
    def user(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.users)

    @cached_property
    def worker(self) -> DataLoader[Any, Any]:
        return self._loader(queue_stats.worker_states)

    @cached_property
    def series(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.series_by_uid)

    @cached_property
    def job_series(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.job_series)

    @cached_property
    def feedback(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.feedback)

    @cached_property
    def messages(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.messages)

    @cached_property
    def outputs(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.outputs)

    @cached_property
    def parents(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.parents)

    @cached_property
    def children(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.children)

    @cached_property
    def job(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.jobs_by_number)

    @cached_property
    def reruns(self) -> DataLoader[Any, Any]:
        return self._loader(loaders.reruns)


class Context:
    def __init__(self, rt: Runtime, connection: HTTPConnection) -> None:
        self.rt = rt
        self.connection = connection
        self.connection_params: dict[str, Any] | None = None  # set by Strawberry on WebSockets
        self.loaders = Loaders(self)
        self._viewer: Viewer | None = None
        self._live: Connection | None = None
        self._unit: Unit | None = None
        # One Context serves every operation of a WebSocket: no unit can be the operation's.
        self._unit_per_read = connection.scope.get("type") == "websocket"

    # -- the unit of work

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(unit, *args)` in the operation's unit (opened now if this is its first read), in
        the thread pool."""
        if self._unit_per_read:
            return await call(in_unit, self.rt, fn, *args, **kwargs)
        if self._unit is None:
            self._unit = Unit(self.rt, write=False)
        return await call(self._unit.run, fn, *args, **kwargs)

    async def run_viewing(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(unit, viewer, *args)` in the operation's unit; the first read of an HTTP request
        authenticates in the same hop."""
        if self._viewer is not None or self._unit_per_read or self.connection.scope.get("type") == "websocket":
            viewer = await self.viewer()
            return await self.run(fn, viewer, *args, **kwargs)
        token = self._token()
        return await self.run(self._as_viewer, token, fn, *args, **kwargs)

    def _as_viewer(self, u: Unit, token: str | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(u, self._authenticate(u, token), *args, **kwargs)

    def _authenticate(self, u: Unit, token: str | None) -> Viewer:
        if self._viewer is None:
            if token is None:
                raise Unauthenticated()
            self._viewer = users.authenticate(u, token)
        return self._viewer

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A mutation field: `fn(unit, viewer, *args)` in a write unit of its own, committed (its
        events and wake-ups sent) before the field answers; authenticated in the same hop."""
        known = await self.viewer() if self._viewer is None and self._live_viewer() else self._viewer
        token = None if known is not None else self._token()

        def in_write_unit() -> T:
            with unit_of_work(self.rt, write=True) as u:
                viewer = known if known is not None else self._authenticate(u, token)
                return fn(u, viewer, *args, **kwargs)

        return await call(in_write_unit)

    async def end_unit(self) -> None:
        """Close the operation's unit (reads only: its commit ends the transaction)."""
        unit, self._unit = self._unit, None
        if unit is None:
            return
        if not unit.opened:
            unit.close()
            return
        try:
            await call(unit.close)
        except Exception:  # the answer is computed: a failed COMMIT of reads changes nothing
            log.warning("closing a GraphQL operation's unit failed", exc_info=True)

    async def next_event(self) -> None:
        """Subscriptions live long: each event is read anew, in a unit of its own, not from the
        first read's cache."""
        await self.end_unit()
        self.loaders = Loaders(self)

    def _live_viewer(self) -> bool:
        return self._live is not None or self.connection.scope.get("type") == "websocket"

    def _token(self) -> str | None:
        token = bearer_token(self.connection)
        if token is None and isinstance(self.connection_params, dict):
            raw = self.connection_params.get("Authorization") or self.connection_params.get("authorization")
            if isinstance(raw, str):
                scheme, _, value = raw.partition(" ")
                token = value.strip() if scheme.lower() == "bearer" else raw.strip()
            elif isinstance(self.connection_params.get("token"), str):
                token = self.connection_params["token"]
        return token or session.cookie_token(self.connection)  # the dashboard's cookie (CSRF-guarded)

    def live(self) -> Connection:
        """This connection as the subscription hub knows it (its token, its open subscriptions)."""
        if self._live is None:
            self._live = Hub.of(self.connection.app.state, self.rt).connection(self._token())
        return self._live

    async def open_feed(self, *, job_id: str | None = None, job_filter: job_list.JobFilter | None = None) -> Feed:
        """Register a subscription with the hub (within the limits); use it in `with`."""
        live = self.live()
        return live.hub.open(live, await live.viewer(), job_id=job_id, job_filter=job_filter)

    async def viewer(self) -> Viewer:
        if self._live is not None or self.connection.scope.get("type") == "websocket":
            return await self.live().viewer()
        if self._viewer is None:
            token = self._token()
            if token is None:
                raise Unauthenticated()
            self._viewer = await self.run(users.authenticate, token)
        return self._viewer


class OperationUnit(SchemaExtension):
    """Ends the operation's unit of work when the operation ends (schema/context.py); refuses a
    subscription sent over plain HTTP, which has no stream to answer on."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        over_http = isinstance(context.context, Context) and context.context.connection.scope.get("type") != "websocket"
        if context.operation_type is OperationType.SUBSCRIPTION and over_http:
            raise BadInput("subscriptions are served over a WebSocket at /graphql (graphql-transport-ws)")
        yield

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        try:
            yield
        finally:
            context = self.execution_context.context
            if isinstance(context, Context):
                await context.end_unit()
