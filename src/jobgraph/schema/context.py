"""Per-request context: who is asking (resolved once) and the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader

from jobgraph.errors import Unauthenticated
from jobgraph.resolvers import loaders, queue_stats, users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.rest.common import bearer_token, call
from jobgraph.runtime import Runtime

K = TypeVar("K")
V = TypeVar("V")


def _batched(
    rt: Runtime, fn: Callable[[Runtime, Sequence[Any]], list[Any]]
) -> Callable[[list[Any]], Awaitable[list[Any]]]:
    async def load(keys: list[Any]) -> list[Any]:
        return await call(fn, rt, keys)

    return load


class Loaders:
    """One statement per kind per batch, whatever the number of jobs on the page."""

    def __init__(self, rt: Runtime) -> None:
        self.plugin = DataLoader(_batched(rt, loaders.plugins))
        self.user = DataLoader(_batched(rt, loaders.users))
        self.worker = DataLoader(_batched(rt, queue_stats.worker_states))
        self.series = DataLoader(_batched(rt, loaders.series_by_uid))
        self.job_series = DataLoader(_batched(rt, loaders.job_series))
        self.feedback = DataLoader(_batched(rt, loaders.feedback))
        self.messages = DataLoader(_batched(rt, loaders.messages))
        self.outputs = DataLoader(_batched(rt, loaders.outputs))
        self.parents = DataLoader(_batched(rt, loaders.parents))
        self.children = DataLoader(_batched(rt, loaders.children))


class Context:
    def __init__(self, rt: Runtime, connection: HTTPConnection) -> None:
        self.rt = rt
        self.connection = connection
        self.connection_params: dict[str, Any] | None = None  # set by Strawberry on WebSockets
        self.loaders = Loaders(rt)
        self._viewer: Viewer | None = None

    def fresh_loaders(self) -> None:
        """Subscriptions live long: each event is read anew, not from the first read's cache."""
        self.loaders = Loaders(self.rt)

    def _token(self) -> str | None:
        token = bearer_token(self.connection)
        if token is None and isinstance(self.connection_params, dict):
            raw = self.connection_params.get("Authorization") or self.connection_params.get("authorization")
            if isinstance(raw, str):
                scheme, _, value = raw.partition(" ")
                token = value.strip() if scheme.lower() == "bearer" else raw.strip()
            elif isinstance(self.connection_params.get("token"), str):
                token = self.connection_params["token"]
        return token

    async def viewer(self) -> Viewer:
        if self._viewer is None:
            token = self._token()
            if token is None:
                raise Unauthenticated()
            self._viewer = await call(users.authenticate, self.rt, token)
        return self._viewer
