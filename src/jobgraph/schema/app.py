"""Mounting the schema on Starlette: HTTP (GET and POST, GraphiQL) and WebSocket."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from jobgraph.schema.build import build_schema
from jobgraph.schema.context import Context
from jobgraph.settings import Settings

# GraphiQL's WebSocket client sends no headers: hand it the Headers pane (the token) as the
# connection_init payload, which Context reads, so subscriptions authenticate from a browser.
_FETCHER = """      const fetcher = GraphiQL.createFetcher({
        url: fetchURL,
        headers: defaultHeaders,
        subscriptionUrl,
      });
"""
_FETCHER_WITH_HEADERS = """      // jobgraph: the Headers pane also goes in the WebSocket's connection_init.
      let wsHeaders = {};
      const httpFetcher = GraphiQL.createFetcher({
        url: fetchURL,
        headers: defaultHeaders,
        subscriptionUrl,
        wsConnectionParams: () => wsHeaders,
      });
      const fetcher = (params, opts) => {
        wsHeaders = Object.assign({}, (opts && opts.headers) || {});
        return httpFetcher(params, opts);
      };
"""


def graphiql_html(html: str) -> str:
    if _FETCHER not in html:  # Strawberry changed its page: serve it as it is
        return html
    return html.replace(_FETCHER, _FETCHER_WITH_HEADERS)


class JobgraphGraphQL(GraphQL[Context, None]):
    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_html(self.graphql_ide_html))

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        return Context(request.app.state.rt, request)


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    view: Any = JobgraphGraphQL(
        build_schema(settings),
        graphql_ide="graphiql",
        allowed_origins=settings.graphql_allowed_origins,
    )
    return [Route("/graphql", view, methods=["GET", "POST"]), WebSocketRoute("/graphql", view)]
