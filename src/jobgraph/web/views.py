"""What every view of the web app shares (GraphQL and the REST systems alike): who is asking,
and running one answer's use cases in one unit of work, off the event loop.

A REST request is one `answer`: one thread-pool hop in which a unit is opened, the caller is
authenticated, every use case of the answer runs on the unit's session, and the unit commits
(then publishes its events and wake-ups). So one answer is one transaction, and a check that
fails after a write leaves nothing written. GraphQL reaches its operation's unit through its
Context (schema/context.py), with `call` for the hop.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from jobgraph.errors import Unauthenticated
from jobgraph.resolvers import users
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from jobgraph.unit import Unit, unit_of_work

T = TypeVar("T")


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.rt
    return rt


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous (database-bound) function in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def bearer_candidates(conn: HTTPConnection) -> list[str]:
    """The Bearer value as given, and (as LANraragi sends it) base64-decoded."""
    token = bearer_token(conn)
    if token is None:
        return []
    candidates = [token]
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded != token and decoded.isprintable():
        candidates.append(decoded)
    return candidates


def authenticate_any(u: Unit, secrets: Sequence[str]) -> Viewer:
    """The viewer of the first secret that is a valid token; Unauthenticated (the last reason)."""
    last: Unauthenticated = Unauthenticated()
    for secret in secrets:
        try:
            return users.authenticate(u, secret)
        except Unauthenticated as exc:
            last = exc
    raise last


def secrets_of(conn: HTTPConnection, *, allow_base64: bool = False) -> list[str]:
    """The token candidates a request carries (none: it is answered 401 when authenticated); with
    no Bearer token, the dashboard's session cookie where its CSRF header matches (web/session.py)."""
    from jobgraph.web.session import cookie_token

    found = bearer_candidates(conn) if allow_base64 else [t for t in [bearer_token(conn)] if t]
    return found or [t for t in [cookie_token(conn)] if t]


def run_unit(rt: Runtime, write: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(unit, *args)` in a new unit, committed when it returns (in the calling thread)."""
    with unit_of_work(rt, write=write) as u:
        return fn(u, *args, **kwargs)


def _authenticated(u: Unit, secrets: Sequence[str], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(u, authenticate_any(u, secrets), *args, **kwargs)


async def answer(
    conn: HTTPConnection,
    fn: Callable[..., T],
    *args: Any,
    write: bool = False,
    allow_base64: bool = False,
    **kwargs: Any,
) -> T:
    """One authenticated answer in one hop and one unit: `fn(unit, viewer, *args)`. With
    `write=True` the unit writes (methods that change things); a failure anywhere in `fn`
    rolls all of it back and sends nothing."""
    secrets = secrets_of(conn, allow_base64=allow_base64)
    return await call(run_unit, runtime(conn), write, _authenticated, secrets, fn, *args, **kwargs)


async def answer_public(
    conn: HTTPConnection, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any
) -> T:
    """One answer that needs no viewer (or finds its own): `fn(unit, *args)` in one hop and one unit."""
    return await call(run_unit, runtime(conn), write, fn, *args, **kwargs)
