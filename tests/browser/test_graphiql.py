"""GraphiQL in headless Chromium with no internet (every request off 127.0.0.1 is blocked): the page
loads from jobgraph's own files, runs a query with the token typed in its Headers pane, and runs a
subscription that authenticates with that same token and shows a change live."""

from __future__ import annotations

import json
from typing import Any

from tests.browser.conftest import LiveServer

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, saying why (and fails under CI=true)
    expect = None

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"


def open_graphiql(page: Any, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/graphql")
    expect(page.locator(QUERY_EDITOR)).to_be_visible()  # React and GraphiQL ran: not "Loading..."


def replace_text(page: Any, selector: str, text: str) -> None:
    """Type into a CodeMirror editor as a user pasting would: select all, insert the text."""
    page.locator(selector).click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def run(page: Any, query: str) -> Any:
    replace_text(page, QUERY_EDITOR, query)
    # GraphiQL parses the query a moment after an edit (whether it is a subscription, hence which
    # transport, comes from that), then the page puts it in the URL: wait for that, as a user would.
    page.wait_for_function("q => new URLSearchParams(location.search).get('q') === q", arg=query)
    page.locator(".graphiql-execute-button").click()
    return page.locator(".result-window")


def type_token(page: Any, token: str) -> None:
    page.locator("button[data-name='headers']").click()
    replace_text(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))


def test_graphiql_runs_a_query_with_the_headers_pane_token_without_internet(
    page: Any, live_server: LiveServer, outside_requests: list[str]
) -> None:
    errors: list[str] = []
    open_graphiql(page, errors)
    result = run(page, "{ me { email } }")
    expect(result).to_contain_text("UNAUTHENTICATED")  # no token yet

    type_token(page, live_server.token)
    result = run(page, "{ me { email } }")
    expect(result).to_contain_text(f'"email": "{live_server.email}"')
    assert "UNAUTHENTICATED" not in result.inner_text()
    assert outside_requests == [], "the page reached for another host"
    assert errors == []


def test_graphiql_subscriptions_authenticate_with_the_headers_pane_token(
    page: Any, live_server: LiveServer, outside_requests: list[str]
) -> None:
    job = live_server.gql(
        "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
        {"i": {"pluginId": "jobgraph.noop", "runAt": "2999-01-01T00:00:00Z"}},
    )["createJob"]
    errors: list[str] = []
    open_graphiql(page, errors)
    type_token(page, live_server.token)
    result = run(page, f'subscription {{ jobUpdated(jobId: "{job["jobId"]}") {{ jobId status }} }}')
    expect(result).to_contain_text('"status": "queued"')  # the socket authenticated: the job is seen

    live_server.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": job["jobId"]})
    expect(result).to_contain_text('"status": "cancelled"')  # and the change arrives live
    assert outside_requests == []
    assert errors == []
