"""The dashboard: a page at /dashboard (`/` leads there) that sees and steers the queue through
the public GraphQL API, signed in with a session cookie (web/session.py).

Its files are plain HTML, CSS and ES modules under `assets/`, written by hand and served from the
installed package: no build step, no CDN. A strict Content-Security-Policy lets the page load only
its own files and talk only to its own origin."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from jobgraph.web.session import session_routes

ASSETS = Path(__file__).parent / "assets"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


async def page(request: Request) -> Response:
    return FileResponse(ASSETS / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


async def to_dashboard(request: Request) -> Response:
    return RedirectResponse("/dashboard", status_code=307)


class _Assets(StaticFiles):
    """The page's files, with the page's security headers; revalidated on each load (no-cache)."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers.update(SECURITY_HEADERS)
        return response


def dashboard_routes() -> list[BaseRoute]:
    return [
        Route("/", to_dashboard, methods=["GET", "HEAD"]),
        Route("/dashboard", page, methods=["GET", "HEAD"]),
        *session_routes(),
        Mount("/dashboard/assets", app=_Assets(directory=ASSETS), name="dashboard-assets"),
    ]
