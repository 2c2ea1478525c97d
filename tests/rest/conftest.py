"""Fixtures of the REST system tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.rest.helpers import cancel, every_status
from tests.support import Api


@pytest.fixture
def statuses(api: Api) -> Iterator[dict[str, dict[str, Any]]]:
    """One job in each of the six statuses (the running one is cancelled afterwards)."""
    made = every_status(api)
    yield made
    if api.job(made["running"]["jobId"])["status"] == "running":
        cancel(api, made["running"]["jobId"])
        api.wait_for(made["running"]["jobId"])
