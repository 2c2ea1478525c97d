"""Users and API tokens. Tokens are random, shown once, stored only as a sha256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobgraph.clock import utcnow
from jobgraph.db.models import ApiToken, User
from jobgraph.errors import BadInput, Conflict, NotFound, Unauthenticated
from jobgraph.ids import new_id
from jobgraph.resolvers.viewer import ALL_PRIVILEGES, Privilege, Viewer
from jobgraph.runtime import Runtime

EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,100}$")
TOKEN_SEPARATOR = "."  # token = "<token id>.<secret>": Alteryx's client id and secret


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token string; shown once


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_privileges(privileges: list[str]) -> list[str]:
    unknown = sorted(set(privileges) - set(ALL_PRIVILEGES))
    if unknown:
        raise BadInput(f"unknown privileges {unknown}; known: {ALL_PRIVILEGES}")
    return sorted(set(privileges))


def _check_email(email: str) -> str:
    email = email.strip()
    if not EMAIL.match(email):
        raise BadInput(f"not an email address: {email!r}")
    return email


def create_user(rt: Runtime, viewer: Viewer | None, email: str, privileges: list[str]) -> User:
    """Create a user. `viewer=None` is the command line's own authority (the operator)."""
    if viewer is not None:
        viewer.require(Privilege.MANAGE_SERVER)
    user = User(email=_check_email(email), privileges=_check_privileges(privileges))
    try:
        with rt.db.session(write=True) as s:
            s.add(user)
            s.flush()
    except IntegrityError:
        raise Conflict(f"a user with email {email!r} exists already") from None
    return user


def set_privileges(rt: Runtime, viewer: Viewer | None, email: str, privileges: list[str]) -> User:
    if viewer is not None:
        viewer.require(Privilege.MANAGE_SERVER)
    with rt.db.session(write=True) as s:
        user = s.scalars(select(User).where(User.email == email)).first()
        if user is None:
            raise NotFound(f"no user {email!r}")
        user.privileges = _check_privileges(privileges)
        s.add(user)
    return user


def list_users(rt: Runtime, viewer: Viewer | None) -> list[User]:
    if viewer is not None:
        viewer.require(Privilege.MANAGE_SERVER)
    with rt.db.session() as s:
        return list(s.scalars(select(User).order_by(User.id)))


def find_user(rt: Runtime, email: str) -> User | None:
    with rt.db.session() as s:
        return s.scalars(select(User).where(User.email == email)).first()


def create_api_token(
    rt: Runtime,
    viewer: Viewer | None,
    email: str | None = None,
    name: str = "",
    expires_in: timedelta | None = None,
    secret: str | None = None,
) -> NewToken:
    """A token for `email` (default: the viewer). Only manageServer makes tokens for others."""
    if viewer is None and email is None:
        raise BadInput("give the email of the user the token is for")
    if viewer is not None and email not in (None, viewer.email):
        viewer.require(Privilege.MANAGE_SERVER)
    target_email = email or (viewer.email if viewer else "")
    if len(name) > 200:
        raise BadInput("a token name is at most 200 characters")
    with rt.db.session(write=True) as s:
        user = s.scalars(select(User).where(User.email == target_email)).first()
        if user is None:
            raise NotFound(f"no user {target_email!r}")
        token_id = new_id()
        if secret is None:
            secret = f"{token_id}{TOKEN_SEPARATOR}{secrets.token_urlsafe(32)}"
        elif len(secret) < 16:
            raise BadInput("a chosen token must have at least 16 characters")
        assert user.id is not None
        token = ApiToken(
            id=token_id,
            user_id=user.id,
            name=name,
            token_hash=hash_token(secret),
            expires_at=utcnow() + expires_in if expires_in else None,
        )
        s.add(token)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict("that token is in use already") from None
    return NewToken(token=token, secret=secret)


def revoke_api_token(rt: Runtime, viewer: Viewer | None, token_id: str) -> bool:
    with rt.db.session(write=True) as s:
        token = s.get(ApiToken, token_id)
        if token is None or (
            viewer is not None and token.user_id != viewer.user_id and not viewer.can(Privilege.MANAGE_SERVER)
        ):
            raise NotFound(f"no token {token_id!r}")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            s.add(token)
    return True


def list_api_tokens(rt: Runtime, viewer: Viewer) -> list[ApiToken]:
    with rt.db.session() as s:
        stmt = select(ApiToken).where(ApiToken.user_id == viewer.user_id).order_by(ApiToken.created_at)
        return list(s.scalars(stmt))


def exchange_client_credentials(rt: Runtime, client_id: str, client_secret: str, lifetime: timedelta) -> NewToken:
    """OAuth2 client credentials (Alteryx): the API token `<id>.<secret>` split in two buys a
    short-lived access token for the same user."""
    viewer = authenticate(rt, f"{client_id}{TOKEN_SEPARATOR}{client_secret}")
    return create_api_token(rt, None, viewer.email, "oauth2 access token", expires_in=lifetime)


def authenticate(rt: Runtime, secret: str | None) -> Viewer:
    """The viewer a token stands for, or Unauthenticated (401)."""
    if not secret or len(secret) > 512:
        raise Unauthenticated()
    now = utcnow()
    with rt.db.session() as s:
        row = s.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
            .where(ApiToken.token_hash == hash_token(secret))
        ).first()
    if row is None:
        raise Unauthenticated("the API token is not valid")
    token, user = row
    if token.revoked_at is not None:
        raise Unauthenticated("the API token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated("the API token has expired")
    assert user.id is not None
    return Viewer(user_id=user.id, email=user.email, privileges=frozenset(user.privileges or []))


def viewer_for_email(rt: Runtime, email: str) -> Viewer:
    """The operator acting as a user from the command line (it has the database already)."""
    user = find_user(rt, email)
    if user is None or user.id is None:
        raise NotFound(f"no user {email!r}")
    return Viewer(user_id=user.id, email=user.email, privileges=frozenset(user.privileges or []))


def ensure_admin(rt: Runtime) -> str | None:
    """Create the first admin on a new database. Returns a new token to print once, or None.

    With JOBGRAPH_ADMIN_TOKEN set that token is registered (automation), and nothing is printed.
    """
    settings = rt.settings
    with rt.db.session() as s:
        admin = s.scalars(select(User).where(User.email == settings.admin_email)).first()
        has_users = s.scalars(select(User.id).limit(1)).first() is not None
    if admin is None and has_users:
        return None
    if admin is None:
        admin = create_user(rt, None, settings.admin_email, ALL_PRIVILEGES)
    if settings.admin_token:
        with rt.db.session() as s:
            known = s.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(settings.admin_token))).first()
        if known is None:
            create_api_token(rt, None, admin.email, "JOBGRAPH_ADMIN_TOKEN", secret=settings.admin_token)
        return None
    with rt.db.session() as s:
        has_token = s.scalars(select(ApiToken.id).where(ApiToken.user_id == admin.id).limit(1)).first()
    if has_token is not None:
        return None
    return create_api_token(rt, None, admin.email, "first admin token").secret
