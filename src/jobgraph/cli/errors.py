"""User mistakes end with a one-line message and exit code 1 or 2, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from jobgraph.errors import DomainError, SchemaOutOfDate

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def friendly(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            raise fail(exc.message) from None
        except SchemaOutOfDate as exc:
            raise fail(str(exc), 2) from None
        except OSError as exc:
            raise fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": ")) from None

    return wrapper  # type: ignore[return-value]
