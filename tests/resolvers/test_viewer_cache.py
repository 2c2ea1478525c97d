"""The viewer cache: a token used request after request is read from the database once per
interval, and what would change the answer (a revocation, new privileges, the token's own
expiry) counts at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from jobgraph.clock import utcnow
from jobgraph.errors import Unauthenticated
from jobgraph.resolvers import users, viewer
from jobgraph.resolvers.users import NewToken
from jobgraph.resolvers.viewer import Viewer, ViewerCache
from jobgraph.runtime import Runtime
from jobgraph.unit import in_unit, unit_of_work
from tests.support import unit_call

ANN = "ann@example.com"


@pytest.fixture
def ann_token(rt: Runtime) -> NewToken:
    unit_call(rt, users.create_user, None, ANN, ["executePlugin"])
    return unit_call(rt, users.create_api_token, None, ANN, "laptop")


@pytest.fixture
def statements(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)


def auth(rt: Runtime, secret: str) -> Viewer:
    return in_unit(rt, users.authenticate, secret)  # a read unit, as views authenticate


def test_a_token_used_again_is_not_read_again(rt: Runtime, ann_token: NewToken, statements: list[str]) -> None:
    assert rt.viewers.seconds > 0  # the default
    first = auth(rt, ann_token.secret)
    reads = len(statements)
    assert reads == 1
    assert auth(rt, ann_token.secret) == first
    assert len(statements) == reads
    # a live session's recheck always asks the database
    assert in_unit(rt, users.authenticate, ann_token.secret, cached=False) == first
    assert len(statements) == reads + 1


def test_a_revoked_token_is_refused_at_once(rt: Runtime, ann_token: NewToken) -> None:
    ann = auth(rt, ann_token.secret)
    unit_call(rt, users.revoke_api_token, ann, ann_token.token.id)
    with pytest.raises(Unauthenticated):
        auth(rt, ann_token.secret)


def test_new_privileges_count_at_once(rt: Runtime, ann_token: NewToken) -> None:
    assert not auth(rt, ann_token.secret).can(viewer.Privilege.MANAGE_JOBS)
    unit_call(rt, users.set_privileges, None, ANN, ["executePlugin", "manageJobs"])
    assert auth(rt, ann_token.secret).can(viewer.Privilege.MANAGE_JOBS)


def test_a_change_rolled_back_keeps_the_cache(rt: Runtime, ann_token: NewToken, statements: list[str]) -> None:
    auth(rt, ann_token.secret)
    with pytest.raises(RuntimeError), unit_of_work(rt, write=True) as u:
        users.set_privileges(u, None, ANN, ["manageJobs"])
        raise RuntimeError("the request failed after the change")
    before = len(statements)
    assert not auth(rt, ann_token.secret).can(viewer.Privilege.MANAGE_JOBS)
    assert len(statements) == before  # still cached: nothing was committed


def test_a_viewer_read_before_a_change_is_not_kept_after_it(rt: Runtime, ann_token: NewToken) -> None:
    generation = rt.viewers.generation
    stale = auth(rt, ann_token.secret)
    rt.viewers.clear()  # a change committed while that request was reading
    rt.viewers.put("late", stale, None, generation)
    assert rt.viewers.get("late") is None


def test_a_token_expiring_within_the_interval_is_refused_once_expired(
    rt: Runtime, ann_token: NewToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = unit_call(rt, users.create_api_token, None, ANN, "short", expires_in=timedelta(minutes=1))
    auth(rt, short.secret)
    monkeypatch.setattr(users, "utcnow", lambda: utcnow() + timedelta(minutes=1, seconds=1))
    with pytest.raises(Unauthenticated, match="expired"):
        auth(rt, short.secret)


def test_entries_last_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(viewer.time, "monotonic", lambda: now[0])
    cache = ViewerCache(2.0, max_entries=2)
    someone = Viewer(user_id=1, email="u@example.com", privileges=frozenset())
    cache.put("a", someone, None, 0)
    cache.put("b", someone, 0.5, 0)  # the token expires sooner than the interval
    now[0] += 1
    assert (cache.get("a"), cache.get("b")) == (someone, None)
    now[0] += 1
    assert cache.get("a") is None
    cache.put("a", someone, None, 0)
    cache.put("b", someone, None, 0)
    cache.put("c", someone, None, 0)  # full: starts again rather than grow
    assert (cache.get("a"), cache.get("c")) == (None, someone)


def test_an_interval_of_zero_keeps_nothing() -> None:
    cache = ViewerCache(0)
    cache.put("a", Viewer(user_id=1, email="u@example.com", privileges=frozenset()), None, 0)
    assert cache.get("a") is None
