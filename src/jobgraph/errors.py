"""Domain errors. Each has a GraphQL code and an HTTP status; views map them, never invent."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "BAD_USER_INPUT"
    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        """GraphQL copies this onto the error it reports (graphql-core reads `extensions`)."""
        return {"code": self.code, **self.details}


class BadInput(DomainError):
    code = "BAD_USER_INPUT"
    http_status = 400


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    http_status = 401

    def __init__(self, message: str = "authentication required: give a valid API token") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(DomainError):
    """The request is well formed but the object's state refuses it (a bad transition)."""

    code = "CONFLICT"
    http_status = 409


class TooManySubscriptions(DomainError):
    """A connection or a user holds as many subscriptions open as the settings allow."""

    code = "TOO_MANY_SUBSCRIPTIONS"
    http_status = 429


class SchemaOutOfDate(RuntimeError):
    """The database's schema is behind this jobgraph (run `jobgraph migrate`)."""
