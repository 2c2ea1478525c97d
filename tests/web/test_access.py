"""Who may read what outside GraphQL: the Minion status route's setting, /metrics behind a
token, and credentials that never travel on in links nor land in the access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobgraph.web.redaction import RedactCredentials, redact
from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, Api, make_settings

TASTYPIE = "/rundb/api/v1/PluginResultJob/"


@pytest.fixture
def started(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    with Api.start(make_settings(tmp_path, f"sqlite:///{tmp_path / 'jobgraph.db'}", **overrides)) as api:
        yield api


def failed_job(api: Api, token: str | None = None) -> int:
    job = api.create_job("jobgraph.fail", {"message": "secret reason"}, token=token, notes={"progress": 0.5})
    return int(api.wait_for(job["jobId"])["number"])


def status(api: Api, number: int, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.client.get(f"/api/minion/{number}", headers=headers)


@pytest.mark.parametrize("started", [{"minion_status": "public"}], indirect=True)
def test_the_minion_status_route_is_public_by_default_as_lanraragi_has_it(started: Api) -> None:
    number = failed_job(started)
    body = status(started, number).json()
    assert body["state"] == "failed" and "secret reason" in body["error"] and body["notes"]["progress"] == 0.5


@pytest.mark.parametrize("started", [{"minion_status": "limited"}], indirect=True)
def test_limited_shows_error_and_notes_only_to_who_may_see_the_job(started: Api) -> None:
    other = started.user("other@example.com", ["executePlugin"])
    number = failed_job(started)
    anonymous = status(started, number).json()
    assert anonymous == {"state": "failed", "task": "fail", "error": None, "notes": {}}
    assert status(started, number, other).json()["error"] is None
    assert "secret reason" in status(started, number, ADMIN_TOKEN).json()["error"]


@pytest.mark.parametrize("started", [{"minion_status": "token"}], indirect=True)
def test_token_only_needs_a_token_and_hides_other_users_jobs(started: Api) -> None:
    other = started.user("other@example.com", ["executePlugin"])
    number = failed_job(started)
    response = status(started, number)
    assert response.status_code == 401 and response.json()["success"] == 0
    hidden, missing = status(started, number, other), status(started, 999_999, other)
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())  # as if it did not exist
    assert status(started, number, ADMIN_TOKEN).json()["state"] == "failed"


@pytest.mark.parametrize("started", [{"metrics_token": True}], indirect=True)
def test_metrics_can_require_a_token_with_manage_server(started: Api) -> None:
    other = started.user("other@example.com", ["executePlugin"])
    assert started.client.get("/metrics").status_code == 401
    assert started.client.get("/metrics", headers=started.headers(other)).status_code == 403
    response = started.client.get("/metrics", headers=started.headers())
    assert response.status_code == 200 and "jobgraph_jobs" in response.text


def test_metrics_are_open_by_default(started: Api) -> None:
    assert started.client.get("/metrics").status_code == 200


def test_tastypie_links_never_carry_the_callers_credentials(started: Api) -> None:
    for _ in range(3):
        started.create_job("jobgraph.noop")
    credentials = {"username": ADMIN_EMAIL, "api_key": ADMIN_TOKEN}
    meta = started.client.get(TASTYPIE, params={"limit": 1, "offset": 1, **credentials}).json()["meta"]
    assert meta["next"] and meta["previous"]
    for link in (meta["next"], meta["previous"]):
        assert ADMIN_TOKEN not in link and "api_key" not in link and "username" not in link


def test_credentials_in_a_query_string_are_redacted_from_the_access_log(started: Api) -> None:
    assert any(isinstance(f, RedactCredentials) for f in logging.getLogger("uvicorn.access").filters)
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"{TASTYPIE}?username=a%40b&api_key={ADMIN_TOKEN}&limit=2", "1.1", 200),
        None,
    )
    RedactCredentials().filter(record)
    line = record.getMessage()
    assert ADMIN_TOKEN not in line and "api_key=[redacted]&limit=2" in line
    assert redact("/webapi/oauth2/token?client_secret=s3&x=1") == "/webapi/oauth2/token?client_secret=[redacted]&x=1"
