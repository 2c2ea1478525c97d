"""The dashboard's session: a cookie holding a derived token, used only with its CSRF header (HTTP)
or from the same origin (WebSocket); signing out or revoking the API token ends it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobgraph.web.session import COOKIE, csrf_token
from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, Api, make_settings

ME = {"query": "{ me { email } }"}
JOB_UPDATED = "subscription($id: ID!) { jobUpdated(jobId: $id) { status } }"
LATER = "2999-01-01T00:00:00Z"


@pytest.fixture
def session_api(tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'jobgraph.db'}",
        session_recheck_seconds=0.2,
        graphql_allowed_origins=["http://elsewhere.example"],  # a Bearer client's page, say
    )
    with Api.start(settings) as running:
        yield running


def sign_in(api: Api, token: str = ADMIN_TOKEN) -> tuple[str, str]:
    """(session cookie, CSRF token)."""
    response = api.client.post("/dashboard/session", json={"token": token})
    assert response.status_code == 200, response.text
    cookie = response.cookies[COOKIE]
    assert response.json()["csrfToken"] == csrf_token(cookie)
    api.client.cookies.clear()  # each request below says which cookie it sends
    return cookie, response.json()["csrfToken"]


def as_session(api: Api, cookie: str, csrf: str | None, **kwargs: Any) -> Any:
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return api.client.post("/graphql", json=ME, headers=headers, **kwargs)


def code_of(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def test_the_page_is_served_and_the_root_leads_to_it(session_api: Api) -> None:
    root = session_api.client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/dashboard"
    page = session_api.client.get("/dashboard")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for asset in ("app.js", "gql.js", "dom.js", "jobs.js", "job.js", "overview.js", "admin.js", "style.css"):
        assert session_api.client.get(f"/dashboard/assets/{asset}").status_code == 200, asset
    assert session_api.client.get("/dashboard/assets/__init__.py").status_code == 404


def test_sign_in_sets_a_strict_http_only_cookie_of_a_derived_token(session_api: Api) -> None:
    response = session_api.client.post("/dashboard/session", json={"token": ADMIN_TOKEN})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    flags = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
    assert flags[0].startswith(f"{COOKIE}=") and ADMIN_TOKEN not in flags[0]
    assert {"httponly", "path=/", "samesite=strict"} <= set(flags)
    assert "secure" not in flags  # plain http here; https gets Secure (below)
    assert response.json()["email"] == ADMIN_EMAIL
    tokens = session_api.gql("{ apiTokens { name derived parentId expiresAt } }")["apiTokens"]
    session = [t for t in tokens if t["name"] == "dashboard session"]
    assert len(session) == 1 and session[0]["derived"] and session[0]["expiresAt"]

    secure = session_api.client.post("https://testserver/dashboard/session", json={"token": ADMIN_TOKEN})
    assert "secure" in [part.strip().lower() for part in secure.headers["set-cookie"].split(";")]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"token": "nope-nope-nope-nope"}, 401), ({"token": ""}, 400), ({}, 400), ([1], 400)],
)
def test_sign_in_refuses_bad_tokens_with_json(session_api: Api, body: Any, status: int) -> None:
    response = session_api.client.post("/dashboard/session", json=body)
    assert response.status_code == status and response.json()["error"]
    assert COOKIE not in response.cookies


def test_sign_in_refuses_a_form_post_and_another_origin(session_api: Api) -> None:
    form = session_api.client.post("/dashboard/session", data={"token": ADMIN_TOKEN})
    assert form.status_code == 400  # a cross-site <form> cannot send JSON
    cross = session_api.client.post(
        "/dashboard/session", json={"token": ADMIN_TOKEN}, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403 and cross.json()["error"]


def test_a_session_token_cannot_open_another_session(session_api: Api) -> None:
    cookie, _ = sign_in(session_api)
    response = session_api.client.post("/dashboard/session", json={"token": cookie})
    assert response.status_code == 401


def test_the_cookie_counts_only_with_its_csrf_header(session_api: Api) -> None:
    cookie, csrf = sign_in(session_api)
    assert as_session(session_api, cookie, csrf).json() == {"data": {"me": {"email": ADMIN_EMAIL}}}
    assert code_of(as_session(session_api, cookie, None)) == "UNAUTHENTICATED"
    assert code_of(as_session(session_api, cookie, "0" * 64)) == "UNAUTHENTICATED"
    assert code_of(as_session(session_api, cookie, csrf_token("another session"))) == "UNAUTHENTICATED"
    # A GET with the cookie (a link or an <img> on another site) opens nothing.
    get = session_api.client.get("/graphql", params=ME, headers={"Cookie": f"{COOKIE}={cookie}"})
    assert code_of(get) == "UNAUTHENTICATED"
    # Nor does a mutation without the header.
    create = session_api.client.post(
        "/graphql",
        json={"query": 'mutation { createJob(input: {pluginId: "jobgraph.noop"}) { jobId } }'},
        headers={"Cookie": f"{COOKIE}={cookie}"},
    )
    assert code_of(create) == "UNAUTHENTICATED"
    # A Bearer token works as ever, cookie or not.
    bearer = session_api.client.post("/graphql", json=ME, headers=session_api.headers())
    assert bearer.json()["data"]["me"]["email"] == ADMIN_EMAIL


def test_current_session_gives_the_csrf_token_to_the_page(session_api: Api) -> None:
    cookie, csrf = sign_in(session_api)
    current = session_api.client.get("/dashboard/session", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert current.status_code == 200 and current.json()["csrfToken"] == csrf
    assert session_api.client.get("/dashboard/session").status_code == 401
    cross = session_api.client.get(
        "/dashboard/session", headers={"Cookie": f"{COOKIE}={cookie}", "Origin": "http://evil.example"}
    )
    assert cross.status_code == 403


def test_rest_routes_take_the_cookie_with_its_csrf_header(session_api: Api) -> None:
    job = session_api.create_job("jobgraph.noop", runAt=LATER)
    cookie, csrf = sign_in(session_api)
    url = f"/webapi/v3/jobs/{job['jobId']}"
    with_header = session_api.client.get(url, headers={"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf})
    assert with_header.status_code == 200
    without = session_api.client.get(url, headers={"Cookie": f"{COOKIE}={cookie}"})
    assert without.status_code == 401


def test_sign_out_revokes_the_session(session_api: Api) -> None:
    cookie, csrf = sign_in(session_api)
    refused = session_api.client.delete("/dashboard/session", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert refused.status_code == 403  # signing out needs the CSRF header too
    assert as_session(session_api, cookie, csrf).json()["data"]["me"]["email"] == ADMIN_EMAIL
    out = session_api.client.delete(
        "/dashboard/session", headers={"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf}
    )
    assert out.status_code == 200 and 'jobgraph_session=""' in out.headers["set-cookie"]
    assert code_of(as_session(session_api, cookie, csrf)) == "UNAUTHENTICATED"
    tokens = session_api.gql("{ apiTokens { name revokedAt } }")["apiTokens"]
    assert [t["revokedAt"] is not None for t in tokens if t["name"] == "dashboard session"] == [True]
    # The API token it came from is untouched.
    assert session_api.gql("{ me { email } }")["me"]["email"] == ADMIN_EMAIL


def test_revoking_the_api_token_ends_the_session(session_api: Api) -> None:
    secret = session_api.gql('mutation { createApiToken(name: "laptop") { secret token { tokenId } } }')
    token, token_id = secret["createApiToken"]["secret"], secret["createApiToken"]["token"]["tokenId"]
    cookie, csrf = sign_in(session_api, token)
    assert as_session(session_api, cookie, csrf).json()["data"]["me"]["email"] == ADMIN_EMAIL
    session_api.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id})
    assert code_of(as_session(session_api, cookie, csrf)) == "UNAUTHENTICATED"
    assert session_api.client.get("/dashboard/session", headers={"Cookie": f"{COOKIE}={cookie}"}).status_code == 401


def _socket(api: Api, cookie: str, origin: str | None) -> Any:
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    if origin:
        headers["Origin"] = origin
    return api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=headers)


def _first_answer(ws: Any, job_id: str) -> dict[str, Any]:
    ws.send_json({"type": "connection_init", "payload": {}})
    assert ws.receive_json()["type"] == "connection_ack"
    ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": JOB_UPDATED, "variables": {"id": job_id}}})
    message: dict[str, Any] = ws.receive_json()
    return message


def test_a_same_origin_websocket_uses_the_cookie(session_api: Api) -> None:
    job = session_api.create_job("jobgraph.noop", runAt=LATER)
    cookie, _ = sign_in(session_api)
    with _socket(session_api, cookie, "http://testserver") as ws:
        answer = _first_answer(ws, job["jobId"])
        assert answer["type"] == "next" and answer["payload"]["data"]["jobUpdated"]["status"] == "queued"


def test_a_websocket_from_another_origin_gets_nothing_from_the_cookie(session_api: Api) -> None:
    job = session_api.create_job("jobgraph.noop", runAt=LATER)
    cookie, _ = sign_in(session_api)
    # An origin the server allows for Bearer clients: the socket opens, the cookie is ignored.
    with _socket(session_api, cookie, "http://elsewhere.example") as ws:
        answer = _first_answer(ws, job["jobId"])
        errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Any other origin: the handshake itself is refused.
    with pytest.raises(Exception), _socket(session_api, cookie, "http://evil.example") as ws:  # noqa: B017
        ws.send_json({"type": "connection_init", "payload": {}})
        ws.receive_json()


def test_revoking_the_api_token_ends_the_sessions_subscriptions(session_api: Api) -> None:
    made = session_api.gql('mutation { createApiToken(name: "laptop") { secret token { tokenId } } }')
    token, token_id = made["createApiToken"]["secret"], made["createApiToken"]["token"]["tokenId"]
    job = session_api.create_job("jobgraph.noop", runAt=LATER)
    cookie, _ = sign_in(session_api, token)
    with _socket(session_api, cookie, "http://testserver") as ws:
        assert _first_answer(ws, job["jobId"])["type"] == "next"
        session_api.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id})
        revoked = time.monotonic()
        while True:
            message = ws.receive_json()
            if message["type"] in ("error", "complete") or (message.get("payload") or {}).get("errors"):
                break
        assert time.monotonic() - revoked < 10
        errors = message["payload"] if message["type"] == "error" else (message.get("payload") or {}).get("errors")
        assert "revoked" in str(errors)
