"""Mounting the schema on Starlette: HTTP (GET and POST, GraphiQL) and WebSocket."""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from jobgraph import fastjson
from jobgraph.errors import BadInput
from jobgraph.resolvers import limits
from jobgraph.schema.build import build_schema
from jobgraph.schema.context import Context
from jobgraph.settings import Settings
from jobgraph.web.assets import static_sri, static_url

_ASSET = re.compile(r"\{\{(url|sri):([^{}\s]+)\}\}")


@functools.cache
def graphiql_html() -> str:
    """jobgraph's GraphiQL page (schema/graphiql.html): Strawberry's, with React and GraphiQL served
    from the package (web/assets.py) instead of a CDN, so it works without internet, and the
    Headers pane (the token) also sent as the WebSocket's connection_init payload, which Context
    reads, since GraphiQL's WebSocket client sends no headers: subscriptions authenticate too."""
    template = resources.files("jobgraph.schema").joinpath("graphiql.html").read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        kind, path = match.groups()
        return static_url(path) if kind == "url" else static_sri(path)

    return _ASSET.sub(fill, template)


class JobgraphGraphQL(GraphQL[Context, None]):
    # Strawberry's own cap counts every operation in flight on a socket and refuses with no code;
    # jobgraph limits subscriptions itself, per connection and per user, with TOO_MANY_SUBSCRIPTIONS
    # (JOBGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION / _PER_USER, in schema/live.py).
    max_subscriptions_per_connection = None

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_html())

    def encode_json(self, data: object) -> str:
        # Text, not bytes: Strawberry sends bytes on a WebSocket as binary frames, which
        # graphql-transport-ws clients refuse. A page of 100 nested jobs is about 120 kB.
        return fastjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON text the view reads (POST bodies, GET's `variables` and `extensions`, WebSocket
        messages) is parsed with jobgraph's limits, checked while parsing: nesting depth and number
        size (NaN stays JSON here: the use cases refuse it where it would be stored)."""
        return limits.loads(data, allow_constants=True)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except limits.JSONLimitError as exc:
            raise HTTPException(400, f"The request's JSON {exc.msg}") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise HTTPException(400, f"Unable to parse the request's JSON: {exc}") from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As Strawberry's, except that a request it refuses (bad JSON, no query, a method it does
        not serve) is answered in JSON, as GraphQL clients read errors, not in plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = refusal(exc.status_code, exc.reason)
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        return Context(request.app.state.rt, request)


def refusal(status: int, reason: str) -> JSONResponse:
    """A request the GraphQL view refuses before any operation: `{"errors": [{message, extensions}]}`."""
    error: dict[str, Any] = {"message": limits.storable_text(reason)}  # it may quote the request
    if status == 400:
        error["extensions"] = {"code": BadInput.code}
    return JSONResponse({"errors": [error]}, status_code=status)


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    graphiql_html()  # its files are in the package: a missing one fails here, not on a visit
    view: Any = JobgraphGraphQL(
        build_schema(settings),
        graphql_ide="graphiql",
        allowed_origins=settings.graphql_allowed_origins,
    )
    return [Route("/graphql", view, methods=["GET", "POST"]), WebSocketRoute("/graphql", view)]
