"""The Starlette application: GraphQL at /graphql, the four REST systems, health and metrics."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from jobgraph.errors import DomainError
from jobgraph.rest.common import domain_error_response, error_response
from jobgraph.service import Service
from jobgraph.settings import Settings
from jobgraph.web.limits import BodySizeLimit

log = logging.getLogger(__name__)


def rest_routes() -> list[BaseRoute]:
    """Every REST system's routes (each module lists its own)."""
    from jobgraph.rest import registry

    return registry.routes()


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal server error"}, status_code=500)


def create_app(
    settings: Settings | None = None,
    *,
    start_workers: bool | None = None,
    announce: Callable[[str], None] | None = None,
) -> Starlette:
    """The app; its lifespan prepares the database and, on the embedded default, the workers."""
    settings = settings or Settings()
    service = Service(settings, start_workers=start_workers, announce=announce or _print)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from jobgraph.web import redaction

        redaction.install()  # after the server configured its logging
        await service.start()
        app.state.rt = service.rt
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    from jobgraph.schema.app import graphql_routes
    from jobgraph.web.assets import static_routes
    from jobgraph.web.dashboard import dashboard_routes
    from jobgraph.web.health import health_routes
    from jobgraph.web.metrics import HttpMetrics, metrics_routes

    routes: list[BaseRoute] = [*graphql_routes(settings), *health_routes(), *metrics_routes(), *rest_routes()]
    routes += dashboard_routes()  # /dashboard, its session, its files; / leads there
    routes += static_routes()  # /static: files shipped in the package (GraphiQL's, vendored)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(HttpMetrics), Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)],
        exception_handlers={DomainError: _domain_error, HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    return app


def _print(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = ["create_app"]
