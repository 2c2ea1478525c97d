"""API tokens and the access tokens derived from them: an access token is short-lived, never
outlives its API token, dies with it, and cannot make further tokens. manageServer lists and
revokes anyone's tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, update

from jobgraph.clock import utcnow
from jobgraph.db.models import ApiToken
from jobgraph.errors import Forbidden, NotFound, Unauthenticated
from jobgraph.resolvers import users
from jobgraph.resolvers.users import NewToken
from jobgraph.resolvers.viewer import Viewer
from jobgraph.runtime import Runtime
from jobgraph.unit import in_unit
from tests.support import ADMIN_EMAIL, unit_call

ANN = "ann@example.com"
HOUR = timedelta(hours=1)


@pytest.fixture
def ann_token(rt: Runtime) -> NewToken:
    unit_call(rt, users.create_user, None, ANN, ["executePlugin"])
    return unit_call(rt, users.create_api_token, None, ANN, "laptop")


def exchange(rt: Runtime, api_token: str, lifetime: timedelta = HOUR) -> NewToken:
    """What the Alteryx OAuth2 route does: the token split at its first '.' as client credentials."""
    client_id, client_secret = api_token.split(".", 1)
    return unit_call(rt, users.exchange_client_credentials, client_id, client_secret, lifetime)


def later(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    """From now on the token use cases see the clock `delta` ahead."""
    moved: Callable[[], datetime] = lambda: utcnow() + delta  # noqa: E731
    monkeypatch.setattr(users, "utcnow", moved)


def set_parent_column(rt: Runtime, token_id: str, **values: object) -> None:
    """Change only the API token's own row, as a concurrent request would: its access tokens are
    left as they are, so what stops them is authenticate's join on the parent."""
    with rt.db.session(write=True) as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(**values))  # type: ignore[arg-type]


def test_an_access_token_is_derived_from_its_api_token(rt: Runtime, ann_token: NewToken) -> None:
    access = exchange(rt, ann_token.secret)
    assert access.expires_in == 3600
    assert access.token.parent_id == ann_token.token.id
    viewer = unit_call(rt, users.authenticate, access.secret)
    assert (viewer.email, viewer.token_id, viewer.derived) == (ANN, access.token.id, True)
    api_viewer = unit_call(rt, users.authenticate, ann_token.secret)
    assert (api_viewer.token_id, api_viewer.derived) == (ann_token.token.id, False)
    listed = {t.token.id: t.token.parent_id for t in unit_call(rt, users.list_api_tokens, api_viewer)}
    assert listed == {ann_token.token.id: None, access.token.id: ann_token.token.id}


def test_an_access_token_cannot_buy_another(rt: Runtime, ann_token: NewToken) -> None:
    access = exchange(rt, ann_token.secret)
    with pytest.raises(Forbidden, match="an access token cannot buy another"):
        exchange(rt, access.secret)
    assert len(unit_call(rt, users.list_api_tokens, None, ANN)) == 2  # nothing was made


def test_an_access_token_cannot_mint_an_api_token(rt: Runtime, ann_token: NewToken) -> None:
    viewer = unit_call(rt, users.authenticate, exchange(rt, ann_token.secret).secret)
    with pytest.raises(Forbidden, match=r"^minting an API token needs an API token, not a derived access token$"):
        unit_call(rt, users.create_api_token, viewer, name="forever")
    # not even an administrator's access token, for anyone
    admin_api = unit_call(rt, users.create_api_token, None, ADMIN_EMAIL, "admin laptop")
    admin_access = unit_call(rt, users.authenticate, exchange(rt, admin_api.secret).secret)
    with pytest.raises(Forbidden, match="needs an API token"):
        unit_call(rt, users.create_api_token, admin_access, ANN, "forever")
    # the API token itself still may
    assert unit_call(rt, users.create_api_token, unit_call(rt, users.authenticate, ann_token.secret), name="desktop").secret


def test_an_access_token_dies_when_its_api_token_is_revoked(rt: Runtime, ann_token: NewToken) -> None:
    first, second = exchange(rt, ann_token.secret), exchange(rt, ann_token.secret)
    assert unit_call(rt, users.authenticate, first.secret).derived
    unit_call(rt, users.revoke_api_token, unit_call(rt, users.authenticate, ann_token.secret), ann_token.token.id)
    for access in (first, second):
        with pytest.raises(Unauthenticated):
            unit_call(rt, users.authenticate, access.secret)
    # the listing says so too
    assert all(t.token.revoked_at is not None for t in unit_call(rt, users.list_api_tokens, None, ANN))


def test_the_parent_is_checked_when_the_access_token_is_used(rt: Runtime, ann_token: NewToken) -> None:
    access = exchange(rt, ann_token.secret)
    set_parent_column(rt, ann_token.token.id, revoked_at=utcnow())
    with pytest.raises(Unauthenticated, match="made from was revoked"):
        unit_call(rt, users.authenticate, access.secret)
    set_parent_column(rt, ann_token.token.id, revoked_at=None, expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="made from has expired"):
        unit_call(rt, users.authenticate, access.secret)


def test_an_access_token_never_outlives_its_api_token(
    rt: Runtime, ann_token: NewToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = unit_call(rt, users.create_api_token, None, ANN, "ten minutes", expires_in=timedelta(minutes=10))
    access = exchange(rt, short.secret)
    assert access.token.expires_at == short.token.expires_at
    assert access.expires_in is not None and 595 <= access.expires_in <= 600
    assert unit_call(rt, users.authenticate, access.secret).derived
    later(monkeypatch, timedelta(minutes=10, seconds=1))
    for secret in (short.secret, access.secret):
        with pytest.raises(Unauthenticated, match="expired"):
            unit_call(rt, users.authenticate, secret)
    # a token without an expiry still gives only access_token_seconds
    lasting = exchange(rt, ann_token.secret, timedelta(seconds=rt.settings.access_token_seconds))
    assert lasting.expires_in == rt.settings.access_token_seconds


def test_an_expired_api_token_buys_nothing(rt: Runtime, ann_token: NewToken, monkeypatch: pytest.MonkeyPatch) -> None:
    short = unit_call(rt, users.create_api_token, None, ANN, "a minute", expires_in=timedelta(minutes=1))
    later(monkeypatch, timedelta(minutes=2))
    with pytest.raises(Unauthenticated, match="expired"):
        exchange(rt, short.secret)


def test_manage_server_lists_and_revokes_anyone_s_tokens(rt: Runtime, admin: Viewer, ann_token: NewToken) -> None:
    access = exchange(rt, ann_token.secret)
    listed = unit_call(rt, users.list_api_tokens, admin, ANN)
    assert [(t.token.id, t.user_email) for t in listed] == [(ann_token.token.id, ANN), (access.token.id, ANN)]
    assert {t.token.id for t in unit_call(rt, users.list_api_tokens, admin)}.isdisjoint({ann_token.token.id})  # own by default
    unit_call(rt, users.revoke_api_token, admin, ann_token.token.id)
    for secret in (ann_token.secret, access.secret):
        with pytest.raises(Unauthenticated):
            unit_call(rt, users.authenticate, secret)
    with pytest.raises(NotFound):
        unit_call(rt, users.list_api_tokens, admin, "nobody@example.com")


def test_a_user_sees_and_revokes_only_their_own_tokens(rt: Runtime, ann_token: NewToken) -> None:
    ann = unit_call(rt, users.authenticate, ann_token.secret)
    assert [t.token.id for t in unit_call(rt, users.list_api_tokens, ann)] == [ann_token.token.id]
    assert [t.token.id for t in unit_call(rt, users.list_api_tokens, ann, ANN)] == [ann_token.token.id]
    with pytest.raises(Forbidden, match="manageServer"):
        unit_call(rt, users.list_api_tokens, ann, ADMIN_EMAIL)
    admin_token = unit_call(rt, users.list_api_tokens, None, ADMIN_EMAIL)[0].token.id
    with pytest.raises(NotFound):
        unit_call(rt, users.revoke_api_token, ann, admin_token)


def test_the_operator_lists_every_user_s_tokens(rt: Runtime, ann_token: NewToken) -> None:
    emails = [t.user_email for t in unit_call(rt, users.list_api_tokens, None)]
    assert emails == [ADMIN_EMAIL, ANN]


def test_authenticate_is_one_statement(rt: Runtime, ann_token: NewToken) -> None:
    access = exchange(rt, ann_token.secret)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        in_unit(rt, users.authenticate, access.secret)  # a read unit, as views authenticate
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)
    assert len(statements) == 1, statements
