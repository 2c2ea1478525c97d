"""API tokens over GraphQL: your own tokens, anyone's with manageServer, and the access tokens
(OAuth2, derived from an API token) that die with their API token and cannot make tokens."""

from __future__ import annotations

from typing import Any

from tests.support import ADMIN_EMAIL, Api

TOKENS = "query($e: String) { apiTokens(userEmail: $e) { tokenId name derived parentId revokedAt expiresAt } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body["errors"]]


def access_token(api: Api, api_token: str) -> str:
    client_id, client_secret = api_token.split(".", 1)
    response = api.client.post(
        "/webapi/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def token_id(secret: str) -> str:
    return secret.split(".", 1)[0]


def test_an_access_token_cannot_create_an_api_token(api: Api) -> None:
    ann = api.user("ann@example.com", ["executePlugin"])
    access = access_token(api, ann)
    assert api.gql("{ me { email } }", token=access) == {"me": {"email": "ann@example.com"}}
    body = api.gql('mutation { createApiToken(name: "forever") { secret } }', token=access, expect_errors=True)
    assert codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["message"] == "minting an API token needs an API token, not a derived access token"
    tokens = api.gql(TOKENS, token=ann)["apiTokens"]
    assert [(t["tokenId"], t["derived"], t["parentId"]) for t in tokens] == [
        (token_id(ann), False, None),
        (token_id(access), True, token_id(ann)),
    ]
    assert tokens[1]["expiresAt"] is not None


def test_revoking_an_api_token_ends_its_access_tokens(api: Api) -> None:
    ann = api.user("ann@example.com", ["executePlugin"])
    access = access_token(api, ann)
    assert api.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id(ann)}, token=ann)
    assert codes(api.gql("{ me { email } }", token=access, expect_errors=True)) == ["UNAUTHENTICATED"]


def test_manage_server_lists_and_revokes_another_user_s_tokens(api: Api) -> None:
    ann = api.user("ann@example.com", ["executePlugin"])
    access = access_token(api, ann)
    listed = api.gql(TOKENS, {"e": "ann@example.com"})["apiTokens"]
    assert [t["tokenId"] for t in listed] == [token_id(ann), token_id(access)]
    assert token_id(ann) not in [t["tokenId"] for t in api.gql(TOKENS)["apiTokens"]]  # the admin's own
    assert api.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id(ann)})
    for secret in (ann, access):
        assert codes(api.gql("{ me { email } }", token=secret, expect_errors=True)) == ["UNAUTHENTICATED"]
    revoked = api.gql(TOKENS, {"e": "ann@example.com"})["apiTokens"]
    assert all(t["revokedAt"] for t in revoked)
    assert codes(api.gql(TOKENS, {"e": "nobody@example.com"}, expect_errors=True)) == ["NOT_FOUND"]


def test_an_ordinary_user_sees_only_their_own_tokens(api: Api) -> None:
    ann = api.user("ann@example.com", ["executePlugin"])
    bob = api.user("bob@example.com", ["executePlugin", "manageJobs"])
    assert [t["tokenId"] for t in api.gql(TOKENS, token=ann)["apiTokens"]] == [token_id(ann)]
    for email in ("bob@example.com", ADMIN_EMAIL):
        body = api.gql(TOKENS, {"e": email}, token=ann, expect_errors=True)
        assert codes(body) == ["FORBIDDEN"] and body["data"] is None
    body = api.gql(
        "mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id(bob)}, token=ann, expect_errors=True
    )
    assert codes(body) == ["NOT_FOUND"]
    assert api.gql("{ me { email } }", token=bob) == {"me": {"email": "bob@example.com"}}
