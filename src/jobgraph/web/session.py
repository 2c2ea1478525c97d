"""The dashboard's browser session: a cookie that holds a derived token, and its CSRF guard.

Signing in (`POST /dashboard/session` with an API token) mints a short-lived token derived from
that API token (`users.open_session`: it dies with its parent, on revocation, on expiry) and sets
it as the `jobgraph_session` cookie: HttpOnly (page scripts never see it), SameSite=Strict,
Secure over https, Path=/. A browser sends cookies on its own, so the cookie authenticates only
where a page on another site cannot make the browser use it:

- an HTTP request (GraphQL, REST) counts it only with an `X-CSRF-Token` header that matches it
  (an HMAC of the session token, given at sign-in and by `GET /dashboard/session` to same-origin
  scripts; a custom header is something a cross-site form or image cannot send, and a cross-site
  fetch with it needs a CORS permission nobody grants). A GraphQL GET with only the cookie is
  answered UNAUTHENTICATED;
- a WebSocket counts it only when its handshake's `Origin` is this server's own (against
  cross-site WebSocket hijacking), whatever `JOBGRAPH_GRAPHQL_ALLOWED_ORIGINS` lets in for
  Bearer-token clients.

A Bearer token, where given, is used as before and the cookie is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from jobgraph.errors import BadInput, Forbidden, Unauthenticated
from jobgraph.resolvers import users
from jobgraph.rest.common import domain_error_response, json_body
from jobgraph.unit import Unit
from jobgraph.web.views import answer_public, runtime

COOKIE = "jobgraph_session"
CSRF_HEADER = "x-csrf-token"
_CSRF_PURPOSE = b"jobgraph dashboard csrf v1"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: only who holds (or was given) it can compute it."""
    return hmac.new(session_secret.encode(), _CSRF_PURPOSE, hashlib.sha256).hexdigest()


def same_origin(conn: HTTPConnection) -> bool:
    """Whether the request's `Origin` names the host it was sent to (scheme-blind, as TLS may end
    at a proxy; default ports filled in)."""
    origin, host = conn.headers.get("origin"), conn.headers.get("host")
    if not origin or not host:
        return False
    try:
        o, h = urlsplit(origin.strip()), urlsplit(f"//{host.strip()}")
        default = _DEFAULT_PORTS.get(o.scheme.lower())
        return o.hostname is not None and o.hostname == h.hostname and (o.port or default) == (h.port or default)
    except ValueError:
        return False


def cookie_token(conn: HTTPConnection) -> str | None:
    """The session cookie's token where this request may use it (see the module), else None."""
    token = conn.cookies.get(COOKIE)
    if not token:
        return None
    if conn.scope.get("type") == "websocket":
        return token if same_origin(conn) else None
    given = conn.headers.get(CSRF_HEADER, "")
    return token if given and hmac.compare_digest(given, csrf_token(token)) else None


def _refuse_cross_site(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(request):
        raise Forbidden("the dashboard's session is opened only from the dashboard's own origin")


def _session_view(viewer: Any, secret: str, expires_in: int | None) -> dict[str, Any]:
    return {
        "email": viewer.email,
        "privileges": sorted(viewer.privileges),
        "csrfToken": csrf_token(secret),
        "expiresIn": expires_in,
    }


def _current(u: Unit, secret: str) -> dict[str, Any]:
    viewer = users.authenticate(u, secret)
    if not viewer.derived:
        raise Unauthenticated("the session cookie holds no session")
    expires_in = None
    if viewer.token_expires_at is not None:
        from jobgraph.clock import utcnow

        expires_in = max(0, int((viewer.token_expires_at - utcnow()).total_seconds()))
    return _session_view(viewer, secret, expires_in)


def _open(u: Unit, secret: str, seconds: int) -> tuple[dict[str, Any], str, int]:
    viewer, new = users.open_session(u, secret, timedelta(seconds=seconds))
    expires_in = new.expires_in or 0
    return _session_view(viewer, new.secret, expires_in), new.secret, expires_in


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_in(request: Request) -> Response:
    """`POST /dashboard/session` `{"token": "<API token>"}`: set the session cookie; answer the
    CSRF token the page sends back in `X-CSRF-Token`."""
    _refuse_cross_site(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BadInput('send the token as JSON: {"token": "..."}')
    body = await json_body(request)
    secret = body.get("token") if isinstance(body, dict) else None
    if not isinstance(secret, str) or not secret.strip():
        raise BadInput('give your API token: {"token": "..."}')
    seconds = runtime(request).settings.dashboard_session_seconds
    view, session_secret, expires_in = await answer_public(request, _open, secret.strip(), seconds, write=True)
    response = _no_store(JSONResponse(view))
    response.set_cookie(
        COOKIE,
        session_secret,
        max_age=expires_in,
        path="/",
        secure=request.url.scheme in ("https", "wss"),
        httponly=True,
        samesite="strict",
    )
    return response


async def current_session(request: Request) -> Response:
    """`GET /dashboard/session`: who the cookie signs in, and its CSRF token (a page of another
    origin cannot read this answer), or 401."""
    _refuse_cross_site(request)
    secret = request.cookies.get(COOKIE)
    if not secret:
        return _no_store(domain_error_response(Unauthenticated("not signed in")))
    return _no_store(JSONResponse(await answer_public(request, _current, secret)))


async def sign_out(request: Request) -> Response:
    """`DELETE /dashboard/session` (with `X-CSRF-Token`): revoke the session's token, drop the cookie."""
    secret = request.cookies.get(COOKIE)
    if secret:
        if cookie_token(request) is None:
            raise Forbidden("signing out needs the session's X-CSRF-Token header")
        await answer_public(request, users.close_session, secret, write=True)
    response = _no_store(JSONResponse({"signedOut": True}))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def session_routes() -> list[BaseRoute]:
    return [
        Route("/dashboard/session", sign_in, methods=["POST"]),
        Route("/dashboard/session", current_session, methods=["GET"]),
        Route("/dashboard/session", sign_out, methods=["DELETE"]),
    ]
