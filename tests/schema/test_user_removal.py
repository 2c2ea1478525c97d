"""Removing a user over GraphQL (manageServer): their tokens stop working at once, even the ones
the API remembers; a user whose name is on jobs, the caller, and the last manager are refused."""

from __future__ import annotations

from typing import Any

from tests.support import ADMIN_EMAIL, Api

REMOVE = "mutation($e: String!) { removeUser(email: $e) { email tokensDeleted } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body["errors"]]


def emails(api: Api) -> list[str]:
    return [u["email"] for u in api.gql("{ users { email } }")["users"]]


def test_a_removed_user_s_tokens_stop_working_at_once(api: Api) -> None:
    ann = api.user("ann@example.com", ["executePlugin"])
    assert api.gql("{ me { email } }", token=ann) == {"me": {"email": "ann@example.com"}}  # now remembered
    assert emails(api) == [ADMIN_EMAIL, "ann@example.com"]
    removed = api.gql(REMOVE, {"e": "ann@example.com"})["removeUser"]
    assert removed == {"email": "ann@example.com", "tokensDeleted": 1}
    assert codes(api.gql("{ me { email } }", token=ann, expect_errors=True)) == ["UNAUTHENTICATED"]
    assert emails(api) == [ADMIN_EMAIL]
    assert codes(api.gql(REMOVE, {"e": "ann@example.com"}, expect_errors=True)) == ["NOT_FOUND"]


def test_a_user_with_jobs_is_kept(api: Api) -> None:
    bob = api.user("bob@example.com", ["executePlugin"])
    api.create_job("jobgraph.noop", token=bob)
    body = api.gql(REMOVE, {"e": "bob@example.com"}, expect_errors=True)
    assert codes(body) == ["CONFLICT"]
    assert body["errors"][0]["message"].startswith("bob@example.com owns 1 jobs and gave 0 feedback")
    assert api.gql("{ me { email } }", token=bob) == {"me": {"email": "bob@example.com"}}


def test_only_manage_server_removes_and_never_itself(api: Api) -> None:
    ann = api.user("ann@example.com", ["executePlugin", "manageJobs"])
    assert codes(api.gql(REMOVE, {"e": ADMIN_EMAIL}, token=ann, expect_errors=True)) == ["FORBIDDEN"]
    assert codes(api.gql("{ users { email } }", token=ann, expect_errors=True)) == ["FORBIDDEN"]
    body = api.gql(REMOVE, {"e": ADMIN_EMAIL}, expect_errors=True)
    assert codes(body) == ["CONFLICT"] and body["errors"][0]["message"] == "you cannot remove yourself"
