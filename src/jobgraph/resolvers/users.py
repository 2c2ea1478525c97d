"""Users and API tokens. Tokens are random, shown once, stored only as a sha256 hash.

An API token may buy derived tokens (OAuth2 access tokens, `parent_id` names the API token):
they are short-lived, never outlive their parent, stop working when it is revoked or expires
(authenticate joins the parent), and cannot make further tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from jobgraph.clock import utcnow
from jobgraph.db.models import ApiToken, Feedback, Job, User
from jobgraph.errors import BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from jobgraph.ids import new_id
from jobgraph.resolvers import limits, policy
from jobgraph.resolvers.viewer import ALL_PRIVILEGES, Privilege, Viewer
from jobgraph.unit import Unit

EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,100}$")
TOKEN_SEPARATOR = "."  # token = "<token id>.<secret>": Alteryx's client id and secret
ACCESS_TOKEN_NAME = "oauth2 access token"
SESSION_TOKEN_NAME = "dashboard session"
DERIVED_CANNOT_MINT = "minting an API token needs an API token, not a derived access token"


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token string; shown once
    expires_in: int | None = None  # seconds it lives, for a derived (access) token


@dataclass(frozen=True)
class ListedToken:
    token: ApiToken
    user_email: str


def _forget_viewers(u: Unit) -> None:
    """A token or a privilege changed: cached viewers go once the change is committed."""
    u.after_commit(u.rt.viewers.clear)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_privileges(privileges: list[str]) -> list[str]:
    unknown = sorted(set(privileges) - set(ALL_PRIVILEGES))
    if unknown:
        raise BadInput(f"unknown privileges {unknown}; known: {ALL_PRIVILEGES}")
    return sorted(set(privileges))


def _check_email(email: str) -> str:
    email = limits.check_text(email, "an email address", 320).strip()
    if not EMAIL.match(email):
        raise BadInput(f"not an email address: {email!r}")
    return email


def create_user(u: Unit, viewer: Viewer | None, email: str, privileges: list[str]) -> User:
    """Create a user. `viewer=None` is the command line's own authority (the operator)."""
    policy.require_manage_server(viewer)
    user = User(email=_check_email(email), privileges=_check_privileges(privileges))
    try:
        s = u.session
        s.add(user)
        s.flush()
    except IntegrityError:
        raise Conflict(f"a user with email {email!r} exists already") from None
    return user


def set_privileges(u: Unit, viewer: Viewer | None, email: str, privileges: list[str]) -> User:
    policy.require_manage_server(viewer)
    s = u.session
    user = s.scalars(select(User).where(User.email == email)).first()
    if user is None:
        raise NotFound(f"no user {email!r}")
    user.privileges = _check_privileges(privileges)
    s.add(user)
    _forget_viewers(u)
    return user


def list_users(u: Unit, viewer: Viewer | None) -> list[User]:
    policy.require_manage_server(viewer)
    s = u.session
    return list(s.scalars(select(User).order_by(User.id)))


@dataclass(frozen=True)
class RemovedUser:
    email: str
    tokens_deleted: int


def remove_user(u: Unit, viewer: Viewer | None, email: str) -> RemovedUser:
    """Remove a user and delete their API tokens (and the access tokens made from them), so
    whatever they had open stops working at once. A user whose name is on jobs or feedback is
    refused (Conflict): those records keep who made them; delete the jobs first, or keep the
    user and take their privileges and tokens away. The last user with manageServer, and the
    caller themselves, are refused too (nobody could manage the server any more)."""
    policy.require_manage_server(viewer)
    s = u.session
    user = find_user(u, email)
    if user is None or user.id is None:
        raise NotFound(f"no user {email!r}")
    if viewer is not None and viewer.user_id == user.id:
        raise Conflict("you cannot remove yourself")
    manager = Privilege.MANAGE_SERVER.value
    if manager in (user.privileges or []):
        managers = [p for p in s.scalars(select(User.privileges).where(User.id != user.id)) if manager in (p or [])]
        if not managers:
            raise Conflict(f"{email} is the last user with manageServer; give another user manageServer first")
    jobs = s.scalar(select(func.count()).select_from(Job).where(Job.user_id == user.id)) or 0
    given = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.user_id == user.id)) or 0
    if jobs or given:
        raise Conflict(
            f"{email} owns {jobs} jobs and gave {given} feedback, which keep who made them: delete those "
            "jobs first, or keep the user and remove their privileges and revoke their tokens"
        )
    tokens = s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)) or 0
    s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))  # with the access tokens made from them
    s.delete(user)
    s.flush()
    _forget_viewers(u)
    return RemovedUser(email=user.email, tokens_deleted=tokens)


def find_user(u: Unit, email: str) -> User | None:
    s = u.session
    return s.scalars(select(User).where(User.email == email)).first()


def create_api_token(
    u: Unit,
    viewer: Viewer | None,
    email: str | None = None,
    name: str = "",
    expires_in: timedelta | None = None,
    secret: str | None = None,
) -> NewToken:
    """A token for `email` (default: the viewer). Only manageServer makes tokens for others.
    A viewer who came with a derived (access) token cannot make tokens at all."""
    if viewer is not None and viewer.derived:
        raise Forbidden(DERIVED_CANNOT_MINT)
    if viewer is None and email is None:
        raise BadInput("give the email of the user the token is for")
    if viewer is not None and email not in (None, viewer.email):
        policy.require_manage_server(viewer)
    target_email = email or (viewer.email if viewer else "")
    if len(name) > 200:
        raise BadInput("a token name is at most 200 characters")
    limits.check_text(name, "a token name", 200)
    s = u.session
    user = s.scalars(select(User).where(User.email == target_email)).first()
    if user is None:
        raise NotFound(f"no user {target_email!r}")
    if secret is not None and len(secret) < 16:
        raise BadInput("a chosen token must have at least 16 characters")
    assert user.id is not None
    expires_at = utcnow() + expires_in if expires_in else None
    return _insert_token(s, user.id, name, expires_at, secret=secret)


def _insert_token(
    s: Session,
    user_id: int,
    name: str,
    expires_at: datetime | None,
    *,
    secret: str | None = None,
    parent_id: str | None = None,
) -> NewToken:
    token_id = new_id()
    if secret is None:
        secret = f"{token_id}{TOKEN_SEPARATOR}{secrets.token_urlsafe(32)}"
    token = ApiToken(
        id=token_id,
        user_id=user_id,
        name=name,
        token_hash=hash_token(secret),
        expires_at=expires_at,
        parent_id=parent_id,
    )
    s.add(token)
    try:
        s.flush()
    except IntegrityError:
        raise Conflict("that token is in use already") from None
    return NewToken(token=token, secret=secret)


def revoke_api_token(u: Unit, viewer: Viewer | None, token_id: str) -> bool:
    s = u.session
    token = s.get(ApiToken, token_id)
    if token is None or (
        viewer is not None and token.user_id != viewer.user_id and not policy.can_manage_server(viewer)
    ):
        raise NotFound(f"no token {token_id!r}")
    now = utcnow()
    if token.revoked_at is None:
        token.revoked_at = now
        s.add(token)
    # Its derived tokens are dead already (authenticate checks the parent); say so in listings.
    s.execute(
        update(ApiToken)
        .where(ApiToken.parent_id == token.id, ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=now)
    )
    _forget_viewers(u)
    return True


def list_api_tokens(u: Unit, viewer: Viewer | None, email: str | None = None) -> list[ListedToken]:
    """Tokens of `email` (default: the viewer's own), oldest first, never their secrets. Another
    user's tokens need manageServer; `viewer=None` (the operator) without `email` lists all."""
    if viewer is not None:
        if email is None:
            email = viewer.email
        elif email != viewer.email:
            policy.require_manage_server(viewer)
    s = u.session
    stmt = (
        select(ApiToken, User.email)
        .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
        .order_by(ApiToken.created_at, ApiToken.id)  # type: ignore[arg-type]
    )
    if email is not None:
        user_id = s.scalars(select(User.id).where(User.email == email)).first()
        if user_id is None:
            raise NotFound(f"no user {email!r}")
        stmt = stmt.where(ApiToken.user_id == user_id)
    return [ListedToken(token=token, user_email=user_email) for token, user_email in s.execute(stmt)]


def exchange_client_credentials(u: Unit, client_id: str, client_secret: str, lifetime: timedelta) -> NewToken:
    """OAuth2 client credentials (Alteryx): the API token `<id>.<secret>` split in two buys a
    short-lived access token for the same user, derived from it: it lives `lifetime` at most,
    never past the API token's own expiry, and only while the API token is valid. An access
    token cannot buy another (Forbidden)."""
    viewer = authenticate(u, f"{client_id}{TOKEN_SEPARATOR}{client_secret}")
    if viewer.derived or viewer.token_id is None:
        raise Forbidden("an access token cannot buy another: give an API token as client credentials")
    return _derive(u, viewer, ACCESS_TOKEN_NAME, lifetime)


def _derive(u: Unit, viewer: Viewer, name: str, lifetime: timedelta) -> NewToken:
    """A token derived from the viewer's API token: it lives `lifetime` at most, never past its
    parent's expiry, and only while the parent is valid."""
    assert viewer.token_id is not None
    now = utcnow()
    expires_at = now + lifetime
    if viewer.token_expires_at is not None:
        expires_at = min(expires_at, viewer.token_expires_at)
    new = _insert_token(u.session, viewer.user_id, name, expires_at, parent_id=viewer.token_id)
    expires_in = max(0, int((expires_at - now).total_seconds()))
    return NewToken(token=new.token, secret=new.secret, expires_in=expires_in)


def open_session(u: Unit, secret: str, lifetime: timedelta) -> tuple[Viewer, NewToken]:
    """Sign in to the dashboard: an API token buys a browser session, a derived token (as an
    OAuth2 access token) that dies with it. A derived token cannot buy one (Unauthenticated)."""
    viewer = authenticate(u, secret)
    if viewer.derived or viewer.token_id is None:
        raise Unauthenticated("sign in with an API token, not an access or session token")
    return viewer, _derive(u, viewer, SESSION_TOKEN_NAME, lifetime)


def close_session(u: Unit, secret: str) -> bool:
    """Sign out: revoke the session's (derived) token. False if it was not a valid session."""
    try:
        viewer = authenticate(u, secret)
    except Unauthenticated:
        return False
    if not viewer.derived or viewer.token_id is None:
        return False
    return revoke_api_token(u, viewer, viewer.token_id)


def authenticate(u: Unit, secret: str | None, *, cached: bool = True) -> Viewer:
    """The viewer a token stands for, or Unauthenticated (401). One statement: the token, its
    user, and the parent of a derived token, which must be valid too; none when the runtime's
    viewer cache knows the token (`cached=False` asks the database)."""
    if not secret or len(secret) > 512:
        raise Unauthenticated()
    key = hash_token(secret)
    known = u.rt.viewers.get(key) if cached else None
    if known is not None and (known.token_expires_at is None or known.token_expires_at > utcnow()):
        return known
    generation = u.rt.viewers.generation
    viewer = _authenticate(u, key)
    expires = viewer.token_expires_at
    u.rt.viewers.put(key, viewer, None if expires is None else (expires - utcnow()).total_seconds(), generation)
    return viewer


def _authenticate(u: Unit, key: str) -> Viewer:
    now = utcnow()
    parent = aliased(ApiToken, name="parent_token")
    s = u.session
    row = s.execute(
        select(ApiToken, User, parent.id, parent.revoked_at, parent.expires_at)
        .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
        .outerjoin(parent, parent.id == ApiToken.parent_id)  # type: ignore[arg-type]
        .where(ApiToken.token_hash == key)
    ).first()
    if row is None:
        raise Unauthenticated("the API token is not valid")
    token, user, parent_id, parent_revoked_at, parent_expires_at = row
    if token.revoked_at is not None:
        raise Unauthenticated("the API token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated("the API token has expired")
    derived = token.parent_id is not None
    if derived:
        if parent_id is None:
            raise Unauthenticated("the API token this access token was made from no longer exists")
        if parent_revoked_at is not None:
            raise Unauthenticated("the API token this access token was made from was revoked")
        if parent_expires_at is not None and parent_expires_at <= now:
            raise Unauthenticated("the API token this access token was made from has expired")
    assert user.id is not None
    return Viewer(
        user_id=user.id,
        email=user.email,
        privileges=frozenset(user.privileges or []),
        token_id=token.id,
        derived=derived,
        token_expires_at=token.expires_at,
    )


def viewer_for_email(u: Unit, email: str) -> Viewer:
    """The operator acting as a user from the command line (it has the database already)."""
    user = find_user(u, email)
    if user is None or user.id is None:
        raise NotFound(f"no user {email!r}")
    return Viewer(user_id=user.id, email=user.email, privileges=frozenset(user.privileges or []))


def ensure_admin(u: Unit) -> str | None:
    """Create the first admin on a new database. Returns a new token to print once, or None.

    With JOBGRAPH_ADMIN_TOKEN set that token is registered (automation), and nothing is printed.
    """
    settings = u.settings
    s = u.session
    admin = s.scalars(select(User).where(User.email == settings.admin_email)).first()
    has_users = s.scalars(select(User.id).limit(1)).first() is not None
    if admin is None and has_users:
        return None
    if admin is None:
        admin = create_user(u, None, settings.admin_email, ALL_PRIVILEGES)
    if settings.admin_token:
        s = u.session
        known = s.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(settings.admin_token))).first()
        if known is None:
            create_api_token(u, None, admin.email, "JOBGRAPH_ADMIN_TOKEN", secret=settings.admin_token)
        return None
    s = u.session
    has_token = s.scalars(select(ApiToken.id).where(ApiToken.user_id == admin.id).limit(1)).first()
    if has_token is not None:
        return None
    return create_api_token(u, None, admin.email, "first admin token").secret
