"""Browser tests: Debian's Chromium (/usr/bin/chromium), driven by Playwright, against the app
under a real uvicorn on 127.0.0.1, with every request to any other host blocked, as on a machine
without internet.

Fixtures:
- `browser`: one headless Chromium per module. Skipped with the reason when Chromium or Playwright
  is missing, except under CI=true, where that fails (.ci/run installs Chromium).
- `live_server`: the app on SQLite with embedded workers, one per module: `.url`
  (`http://127.0.0.1:PORT`), `.token` (the admin's API token), `.email`, `.gql(...)`.
- `page`: a fresh browser context (no cookies, no storage) whose relative URLs go to the live
  server; requests to any host but 127.0.0.1 are aborted and listed in `outside_requests`.

Playwright never downloads a browser here: it only launches the system's Chromium.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from jobgraph.app import create_app
from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, make_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}
TIMEOUT_MS = 30_000  # a busy 2-core CI machine: generous


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, timeout=TIMEOUT_MS * 2
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class LiveServer:
    url: str
    token: str
    email: str
    app: Any

    def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """One operation over HTTP as `token` (the admin by default); its `data`, or AssertionError."""
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )
        body: dict[str, Any] = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("live")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(make_settings(tmp, f"sqlite:///{tmp / 'jobgraph.db'}"), announce=lambda text: None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", ADMIN_TOKEN, ADMIN_EMAIL, app)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def outside_requests() -> list[str]:
    """The URLs the page tried to reach on another host (each was aborted)."""
    return []


@pytest.fixture
def page(browser: Any, live_server: LiveServer, outside_requests: list[str]) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)

    def only_local(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", only_local)
    try:
        yield context.new_page()
    finally:
        context.close()
