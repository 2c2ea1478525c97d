"""Credentials given in a query string (tastypie's `api_key`, OAuth2's `client_secret`...) never
reach the access log: uvicorn logs each request's path with its query."""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(
    r"(?P<name>(?:^|[?&;])(?:api_key|apikey|access_token|client_secret|token|secret|password)=)[^&;\s]*",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return SECRET_PARAMS.sub(lambda m: m.group("name") + REDACTED, text)


class RedactCredentials(logging.Filter):
    """For uvicorn's access log, whose record args are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())
