"""The dashboard in a real browser (Debian's headless Chromium, through Playwright; fixtures in
conftest.py): sign in, find a job by filter, watch one run to its end live, cancel one, pause a
queue, run a bulk retry with its preview; nothing leaves 127.0.0.1.

With JOBGRAPH_SCREENSHOTS=1 the tests save a screenshot of each view in docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from jobgraph.web.session import csrf_token
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LONG = 60_000  # ms: a job's whole run on a busy 2-core CI machine

CREATE = """mutation($input: CreateJobInput!) { createJob(input: $input) { jobId number status } }"""
JOB = """query($id: ID!) { job(jobId: $id) { jobId status retries errorMessage } }"""


def expect(target: Any, **kwargs: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target, **kwargs)


def shot(page: Any, name: str) -> None:
    if os.environ.get("JOBGRAPH_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(300)  # let charts and fonts settle for the picture only
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def create_job(live: LiveServer, plugin: str, job_input: Any, **more: Any) -> dict[str, Any]:
    job: dict[str, Any] = live.gql(CREATE, {"input": {"pluginId": plugin, "input": job_input, **more}})["createJob"]
    return job


def wait_job(live: LiveServer, job_id: str, until: Any, seconds: float = 60) -> dict[str, Any]:
    """The job once `until(job)` holds (the API, polled; the page is what the tests watch)."""
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, Any] = live.gql(JOB, {"id": job_id})["job"]
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job never reached the state: {job}"
        time.sleep(0.1)


def sign_in(page: Any, live: LiveServer) -> None:
    page.goto("/")
    page.wait_for_url("**/dashboard")
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#token", live.token)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#nav")).to_be_visible()
    expect(page.locator("#who")).to_have_text(live.email)


@pytest.fixture(autouse=True)
def _nothing_leaves_the_machine(outside_requests: list[str]) -> Any:
    yield
    assert outside_requests == [], f"the page reached for other hosts: {outside_requests}"


def test_sign_in_with_a_token_then_sign_out(page: Any, live_server: LiveServer) -> None:
    page.goto("/")
    expect(page.locator("#signin")).to_be_visible()
    shot(page, "sign-in")
    page.fill("#token", "not-a-token-at-all-0123456789")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("not valid")

    sign_in(page, live_server)
    cookie = next(c for c in page.context.cookies() if c["name"] == "jobgraph_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert cookie["value"] != live_server.token  # a session token derived from it, not the token
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    expect(page.locator(".view-overview")).to_be_visible()
    expect(page.locator(".view-overview [data-total]").first).to_be_visible()
    expect(page.locator(".view-overview svg.chart")).to_have_count(3)  # throughput, failures, wait

    # A reload keeps the session (the cookie); signing out revokes it on the server.
    page.reload()
    expect(page.locator("#who")).to_have_text(live_server.email)
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    tokens = live_server.gql("{ apiTokens { name revokedAt derived } }")["apiTokens"]
    sessions = [t for t in tokens if t["name"] == "dashboard session"]
    assert sessions and all(t["revokedAt"] for t in sessions) and all(t["derived"] for t in sessions)
    # The old cookie, replayed with its CSRF token, no longer opens anything.
    answer = page.request.post(
        "/graphql",
        data=json.dumps({"query": "{ me { email } }"}),
        headers={
            "Content-Type": "application/json",
            "Cookie": f"jobgraph_session={cookie['value']}",
            "X-CSRF-Token": csrf_token(cookie["value"]),
        },
    )
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_find_a_job_by_filter(page: Any, live_server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:10]
    jobs = [create_job(live_server, "jobgraph.echo", {"tag": tag, "case": n}) for n in range(3)]
    sign_in(page, live_server)
    page.goto("/dashboard#/jobs")
    form = page.locator("form.filters")
    form.locator("input[name=input]").fill(json.dumps({"tag": tag, "case": 1}))
    form.locator("select[name=plugin]").select_option("jobgraph.echo")
    form.locator("button[type=submit]").click()
    rows = page.locator("table.jobs tbody tr[data-job-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job-id", jobs[1]["jobId"])
    assert "input=" in page.url  # the filter is in the address: a link to share, a reload keeps it

    # Counting is asked for, not done on every refresh.
    page.click("text=Count matching jobs")
    expect(page.locator(".count [data-total]")).to_have_attribute("data-total", "1")
    # Clicking through opens the job with its input, its output file to download, and a place
    # for feedback once it finished.
    rows.first.locator("a").first.click()
    view = page.locator(".view-job")
    expect(view.locator("pre.json").first).to_contain_text(tag)
    expect(view).to_have_attribute("data-status", "finished", timeout=LONG)
    with page.expect_download() as download:
        view.locator("[data-output='echo.json']").click()
    assert json.loads(Path(download.value.path()).read_text()) == {"tag": tag, "case": 1}
    view.locator(".feedback-form textarea").fill('{"score": 5}')
    view.locator(".feedback-form button[type=submit]").click()
    expect(view.locator("ul.feedbacks")).to_contain_text('"score": 5')


def test_watch_a_job_run_to_its_end_live(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()  # queued while the page opens
    job = create_job(live_server, "jobgraph.slow", {"seconds": 5, "steps": 5}, runAt=soon)
    page.goto(f"/dashboard#/job/{job['jobId']}")
    view = page.locator(".view-job")
    expect(view).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    assert view.get_attribute("data-status") in ("queued", "running")
    expect(view).to_have_attribute("data-status", "running", timeout=LONG)
    shot(page, "job-running")
    expect(view).to_have_attribute("data-status", "finished", timeout=LONG)
    expect(view.locator("ol.messages li").first).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True  # live: no reload happened
    expect(view.locator("[data-action=delete]")).to_be_visible()  # ended: it may be deleted
    expect(view.locator("[data-action=cancel]")).to_have_count(0)  # and no longer cancelled
    shot(page, "job")


def test_cancel_a_job(page: Any, live_server: LiveServer) -> None:
    job = create_job(live_server, "jobgraph.slow", {"seconds": 300, "steps": 300})
    sign_in(page, live_server)
    page.goto(f"/dashboard#/job/{job['jobId']}")
    view = page.locator(".view-job")
    expect(view.locator("[data-action=retry]")).to_have_count(0)  # not failed: no retry offered
    view.locator("[data-action=cancel]").click()
    expect(view).to_have_attribute("data-status", "cancelled", timeout=LONG)
    assert wait_job(live_server, job["jobId"], lambda j: True)["status"] == "cancelled"


def test_pause_and_resume_a_queue(page: Any, live_server: LiveServer) -> None:
    schema = live_server.gql('{ __type(name: "Mutation") { fields { name } } }')
    if "pauseQueue" not in {f["name"] for f in schema["__type"]["fields"]}:
        pytest.skip("this server has no pauseQueue mutation yet")
    queue = f"q-{uuid.uuid4().hex[:8]}"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    create_job(live_server, "jobgraph.noop", None, queue=queue, runAt=later)  # the queue is listed
    sign_in(page, live_server)
    page.goto("/dashboard#/queues")
    row = page.locator(f"table.queues tr[data-queue='{queue}']")
    expect(row).to_have_attribute("data-paused", "false")
    row.locator("[data-action=pause]").click()
    page.locator("dialog [data-dialog=confirm]").click()
    expect(row).to_have_attribute("data-paused", "true")
    expect(row).to_contain_text(live_server.email)  # who paused it
    state = {q["name"]: q for q in live_server.gql("{ queues { name paused } }")["queues"]}
    assert state[queue]["paused"] is True
    shot(page, "queues")
    row.locator("[data-action=resume]").click()
    page.locator("dialog [data-dialog=confirm]").click()
    expect(row).to_have_attribute("data-paused", "false")
    state = {q["name"]: q for q in live_server.gql("{ queues { name paused } }")["queues"]}
    assert state[queue]["paused"] is False


def test_bulk_retry_with_its_preview(page: Any, live_server: LiveServer) -> None:
    schema = live_server.gql('{ __type(name: "Mutation") { fields { name } } }')
    if "bulkAction" not in {f["name"] for f in schema["__type"]["fields"]}:
        pytest.skip("this server has no bulkAction mutation yet")
    tag = uuid.uuid4().hex[:10]
    jobs = [create_job(live_server, "jobgraph.fail", {"tag": tag, "message": f"boom {n}"}) for n in range(3)]
    other = create_job(live_server, "jobgraph.echo", {"tag": tag})  # matches, but cannot be retried
    sign_in(page, live_server)
    page.goto(f"/dashboard#/jobs?input={quote(json.dumps({'tag': tag}))}")
    rows = page.locator("table.jobs tbody tr[data-job-id]")
    expect(rows).to_have_count(4)
    # Live: the rows turn failed, each with its error, without a reload.
    expect(page.locator("table.jobs tbody tr[data-status=failed]")).to_have_count(3, timeout=LONG)
    expect(page.locator("table.jobs tbody tr[data-status=finished]")).to_have_count(1, timeout=LONG)
    expect(page.locator("table.jobs .error-text").first).to_contain_text("boom")
    shot(page, "jobs")

    page.locator("[data-bulk-filter=RETRY]").click()
    dialog = page.locator("dialog")
    expect(dialog.locator("[data-matching]")).to_have_attribute("data-matching", "4")
    expect(dialog.locator("[data-applicable]")).to_have_attribute("data-applicable", "3")
    shot(page, "bulk-preview")
    dialog.locator("[data-dialog=confirm]").click()
    expect(page.locator(".toast").last).to_contain_text("3 jobs changed")
    for job in jobs:  # retried once each (jobgraph.fail fails again: back to failed)
        assert wait_job(live_server, job["jobId"], lambda j: j["retries"] == 1 and j["status"] == "failed")
    assert live_server.gql(JOB, {"id": other["jobId"]})["job"]["retries"] == 0

    # By selection: one job, through the same preview-then-confirm.
    expect(page.locator("table.jobs tbody tr[data-status=failed]")).to_have_count(3, timeout=LONG)
    target = jobs[0]["jobId"]
    page.locator(f"tr[data-job-id='{target}'] input[type=checkbox]").check()
    page.locator("[data-bulk-selection=RETRY]").click()
    expect(page.locator("dialog [data-preview=selection]")).to_contain_text("1 of the 1 selected")
    page.locator("dialog [data-dialog=confirm]").click()
    expect(page.locator(".toast").last).to_contain_text("Retry: 1 jobs done")
    assert wait_job(live_server, target, lambda j: j["retries"] == 2 and j["status"] == "failed")


def test_values_are_shown_as_text_never_as_html(page: Any, live_server: LiveServer) -> None:
    payload = '<img src=x onerror="window.__xss=1">'
    job = create_job(live_server, "jobgraph.fail", {"message": payload, "note": payload})
    wait_job(live_server, job["jobId"], lambda j: j["status"] == "failed")
    sign_in(page, live_server)
    page.goto(f"/dashboard#/job/{job['jobId']}")
    expect(page.locator(".view-job [data-error]")).to_contain_text(payload)
    page.goto(f"/dashboard#/jobs?status=failed&input={quote(json.dumps({'note': payload}))}")
    expect(page.locator("table.jobs .error-text")).to_contain_text(payload)
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0


def test_plugins_and_workers(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    page.goto("/dashboard#/plugins")
    slow = page.locator("[data-plugin='jobgraph.slow']")
    expect(slow).to_be_visible()
    expect(slow.locator("table")).to_contain_text("seconds")
    shot(page, "plugins")
    page.goto("/dashboard#/workers")
    expect(page.locator("table.workers tbody tr").first).to_contain_text("alive")
    shot(page, "workers")
    page.goto("/dashboard#/overview")  # last: the other tests' jobs fill its counts and charts
    expect(page.locator(".view-overview svg.chart")).to_have_count(3)
    shot(page, "overview")
