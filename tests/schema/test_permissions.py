"""Who may do what: 401 without a token, FORBIDDEN without the privilege, NOT_FOUND for other users' jobs."""

from __future__ import annotations

from tests.support import Api


def codes(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [e["extensions"]["code"] for e in body["errors"]]


def test_no_token_or_a_bad_token_is_unauthenticated(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        body = api.client.post("/graphql", json={"query": "{ me { email } }"}, headers=headers).json()
        assert codes(body) == ["UNAUTHENTICATED"]


def test_a_revoked_or_expired_token_stops_working(api: Api) -> None:
    token = api.user("u@example.com", ["executePlugin"])
    tokens = api.gql("{ apiTokens { tokenId } }", token=token)["apiTokens"]
    assert api.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": tokens[0]["tokenId"]}, token=token)
    assert codes(api.gql("{ me { email } }", token=token, expect_errors=True)) == ["UNAUTHENTICATED"]


def test_tokens_are_stored_hashed(api: Api) -> None:
    token = api.user("h@example.com", [])
    from sqlalchemy import text

    with api.rt.db.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM api_tokens"))]
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_users_see_only_their_own_jobs(api: Api) -> None:
    alice = api.user("alice@example.com", ["executePlugin"])
    bob = api.user("bob@example.com", ["executePlugin"])
    job = api.create_job("jobgraph.noop", token=alice)
    assert api.gql("query($id: ID!) { job(jobId: $id) { jobId } }", {"id": job["jobId"]}, token=bob) == {"job": None}
    assert api.gql("{ jobs { totalCount } }", token=bob)["jobs"]["totalCount"] == 0
    assert api.gql("{ jobs { totalCount } }", token=alice)["jobs"]["totalCount"] == 1
    for mutation in ("cancelJob", "retryJob", "deleteJob"):
        fields = "" if mutation == "deleteJob" else " { status }"
        body = api.gql(
            f"mutation($id: ID!) {{ {mutation}(jobId: $id){fields} }}",
            {"id": job["jobId"]},
            token=bob,
            expect_errors=True,
        )
        assert codes(body) == ["NOT_FOUND"], mutation
        assert "alice" not in body["errors"][0]["message"]
    # an id that never existed is answered the same way
    body = api.gql(
        'mutation { cancelJob(jobId: "00000000000000000000000000") { status } }', token=bob, expect_errors=True
    )
    assert codes(body) == ["NOT_FOUND"]


def test_manage_jobs_sees_and_acts_on_every_job(api: Api) -> None:
    alice = api.user("alice@example.com", ["executePlugin"])
    boss = api.user("boss@example.com", ["manageJobs"])
    job = api.create_job("jobgraph.echo", 1, token=alice)
    api.wait_for(job["jobId"])
    data = api.gql(
        "query($id: ID!) { job(jobId: $id) { user { email } messages { text } } }", {"id": job["jobId"]}, token=boss
    )
    assert data["job"]["user"]["email"] == "alice@example.com"
    assert (
        api.gql("mutation($id: ID!) { invalidateJob(jobId: $id) { status } }", {"id": job["jobId"]}, token=boss)[
            "invalidateJob"
        ]["status"]
        == "invalidated"
    )


def test_privileges_are_required(api: Api) -> None:
    nobody = api.user("nobody@example.com", [])
    creator = api.user("creator@example.com", ["executePlugin"])
    assert codes(
        api.gql(
            'mutation { createJob(input: {pluginId: "jobgraph.noop"}) { jobId } }', token=nobody, expect_errors=True
        )
    ) == ["FORBIDDEN"]
    job = api.create_job("jobgraph.echo", 1, token=creator)
    api.wait_for(job["jobId"])
    body = api.gql(
        "mutation($id: ID!) { invalidateJob(jobId: $id) { status } }",
        {"id": job["jobId"]},
        token=creator,
        expect_errors=True,
    )
    assert codes(body) == ["FORBIDDEN"]
    body = api.gql(
        'mutation { registerPlugin(input: {pluginId: "x", kind: python, entrypoint: "a:b"}) { pluginId } }',
        token=creator,
        expect_errors=True,
    )
    assert codes(body) == ["FORBIDDEN"]
    body = api.gql(
        'mutation { createUser(email: "z@example.com", privileges: []) { email } }', token=creator, expect_errors=True
    )
    assert codes(body) == ["FORBIDDEN"]
    body = api.gql("{ users { email } }", token=creator, expect_errors=True)
    assert codes(body) == ["FORBIDDEN"]
    body = api.gql(
        'mutation { createApiToken(email: "admin@example.com") { secret } }', token=creator, expect_errors=True
    )
    assert codes(body) == ["FORBIDDEN"]


def test_internal_errors_are_masked(api: Api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from jobgraph.resolvers import plugins

    def broken(*args: object) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(plugins, "list_plugins", broken)
    body = api.gql("{ plugins { pluginId } }", expect_errors=True)
    assert body["errors"][0]["message"] == "internal server error"
    assert "hunter2" not in str(body)
