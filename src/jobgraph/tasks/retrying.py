"""Telling a lost database from a bug, and repeating safe writes until it is back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from jobgraph.tasks import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_connection_error(exc: BaseException) -> bool:
    """The database went away (a restart, a network cut), as opposed to a bug in a statement."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def retry_while_disconnected(
    operation: str,
    what: str,
    fn: Callable[[], T],
    *,
    give_up: Callable[[], bool] = lambda: False,
    first_delay: float = 0.05,
) -> T:
    """Call `fn` until it does not fail for want of a database (it must be safe to repeat).
    `operation` labels the metric (a few fixed names); `what` goes to the log."""
    delay = first_delay
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_connection_error(exc) or give_up():
                raise
            metrics.DATABASE_ERRORS.labels(operation).inc()
            log.warning("%s: the database is unreachable (%s); retrying in %.2g s", what, type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
