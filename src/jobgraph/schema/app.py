"""Mounting the schema on Starlette: HTTP (GET and POST, GraphiQL) and WebSocket."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from jobgraph.schema.build import build_schema
from jobgraph.schema.context import Context
from jobgraph.settings import Settings


class JobgraphGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        return Context(request.app.state.rt, request)


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    view: Any = JobgraphGraphQL(
        build_schema(settings),
        graphql_ide="graphiql",
        allowed_origins=settings.graphql_allowed_origins,
    )
    return [Route("/graphql", view, methods=["GET", "POST"]), WebSocketRoute("/graphql", view)]
