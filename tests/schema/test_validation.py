"""Bad input is refused with BAD_USER_INPUT (or NOT_FOUND) and a message that says why; nothing is written."""

from __future__ import annotations

import pytest

from tests.support import Api


@pytest.mark.parametrize(
    ("job_input", "code", "says"),
    [
        ({"pluginId": "no.such"}, "NOT_FOUND", "no plugin"),
        ({"pluginId": "jobgraph.slow", "input": {"seconds": -1}}, "BAD_USER_INPUT", "does not match the schema"),
        ({"pluginId": "jobgraph.noop", "queue": "bad queue!"}, "BAD_USER_INPUT", "queue"),
        ({"pluginId": "jobgraph.noop", "attempts": 0}, "BAD_USER_INPUT", "attempts"),
        ({"pluginId": "jobgraph.noop", "series": [{"seriesUid": "1.2.3"}]}, "BAD_USER_INPUT", "not registered"),
        ({"pluginId": "jobgraph.noop", "series": [{"seriesUid": "abc"}]}, "BAD_USER_INPUT", "digits and dots"),
        (
            {
                "pluginId": "jobgraph.noop",
                "series": [{"seriesUid": "1.2.840.1", "partialVolumeDescriptor": {"start": 1, "end": 200, "delta": 1}}],
            },
            "BAD_USER_INPUT",
            "within 1..100",
        ),
        (
            {
                "pluginId": "jobgraph.noop",
                "series": [{"seriesUid": "1.2.840.1", "partialVolumeDescriptor": {"start": 1, "end": 10, "delta": 0}}],
            },
            "BAD_USER_INPUT",
            "delta >= 1",
        ),
        ({"pluginId": "jobgraph.noop", "parents": ["00000000000000000000000000"]}, "NOT_FOUND", "no parent job"),
        ({"pluginId": "jobgraph.noop", "notes": [1]}, "BAD_USER_INPUT", "notes"),
        (
            {"pluginId": "jobgraph.noop", "runAt": "2030-01-02T00:00:00Z", "expires": "2030-01-01T00:00:00Z"},
            "BAD_USER_INPUT",
            "expires must be later",
        ),
    ],
)
def test_bad_jobs_are_refused(api: Api, job_input: dict, code: str, says: str) -> None:  # type: ignore[type-arg]
    api.gql(
        'mutation { registerSeries(input: {seriesUid: "1.2.840.1", modality: "CT", imageCount: 100}) { seriesUid } }'
    )
    body = api.gql(
        "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }", {"i": job_input}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == code
    assert says in body["errors"][0]["message"]
    assert api.gql("{ jobs { totalCount } }")["jobs"]["totalCount"] == 0


def test_a_job_with_series_and_partial_volumes(api: Api) -> None:
    api.gql(
        'mutation { registerSeries(input: {seriesUid: "1.2.840.1", modality: "CT", imageCount: 100}) { seriesUid } }'
    )
    job = api.create_job(
        "jobgraph.echo",
        None,
        series=[
            {"seriesUid": "1.2.840.1", "partialVolumeDescriptor": {"start": 1, "end": 50, "delta": 2}},
            {"seriesUid": "1.2.840.1"},
        ],
    )
    done = api.wait_for(job["jobId"])
    assert done["result"]["series"] == [
        {"seriesUid": "1.2.840.1", "partialVolumeDescriptor": {"start": 1, "end": 50, "delta": 2}},
        {"seriesUid": "1.2.840.1", "partialVolumeDescriptor": None},
    ]
    data = api.gql(
        '{ series(seriesUid: "1.2.840.1") { modality imageCount jobs { totalCount edges { node { jobId } } } } }'
    )
    assert data["series"]["jobs"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("plugin", "says"),
    [
        ({"pluginId": "bad id!", "kind": "python", "entrypoint": "a:b"}, "pluginId"),
        ({"pluginId": "p", "kind": "python", "entrypoint": "not an entrypoint"}, "module:function"),
        ({"pluginId": "p", "kind": "command", "entrypoint": "ls -l"}, "list of strings"),
        (
            {"pluginId": "p", "kind": "python", "entrypoint": "a:b", "inputSchema": {"type": 12}},
            "not a valid JSON Schema",
        ),
        ({"pluginId": "p", "kind": "python", "entrypoint": "a:b", "timeout": -1}, "timeout"),
        ({"pluginId": "p", "kind": "command", "entrypoint": ["x"], "isolation": "thread"}, "only python"),
    ],
)
def test_bad_plugins_are_refused(api: Api, plugin: dict, says: str) -> None:  # type: ignore[type-arg]
    body = api.gql(
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }", {"i": plugin}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert says in body["errors"][0]["message"]


def test_a_disabled_plugin_takes_no_jobs(api: Api) -> None:
    api.gql('mutation { setPluginEnabled(pluginId: "jobgraph.noop", enabled: false) { enabled } }')
    body = api.gql('mutation { createJob(input: {pluginId: "jobgraph.noop"}) { jobId } }', expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_query_limits(api: Api) -> None:
    deep = (
        "{ jobs { edges { node { children { children { children { children { children { children { children "
        "{ children { children { children { jobId } } } } } } } } } } } } } }"
    )
    body = api.gql(deep, expect_errors=True)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: me {{ email }}" for i in range(40)) + " }"
    body = api.gql(aliases, expect_errors=True)
    assert "aliases" in body["errors"][0]["message"].lower()
    many = "{ " + " ".join("me { email }" for _ in range(2000)) + " }"
    body = api.gql(many, expect_errors=True)
    assert "token" in body["errors"][0]["message"].lower()


def test_a_bad_cursor_is_refused(api: Api) -> None:
    body = api.gql('{ jobs(after: "garbage") { totalCount } }', expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_json_that_cannot_be_stored_is_refused_not_a_server_error(api: Api) -> None:
    raw = '{"query": "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }", "variables": {"i": {"pluginId": "jobgraph.echo", "input": {"x": NaN}}}}'
    body = api.client.post(
        "/graphql", content=raw, headers={**api.headers(), "Content-Type": "application/json"}
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "not a JSON number" in body["errors"][0]["message"]
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    for bad, says in (({"a": "nul\u0000"}, "NUL"), ({"deep": deep}, "levels deep")):
        body = api.gql(
            "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
            {"i": {"pluginId": "jobgraph.echo", "input": bad}},
            expect_errors=True,
        )
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and says in body["errors"][0]["message"]
    assert api.gql("{ jobs { totalCount } }")["jobs"]["totalCount"] == 0


def test_a_result_that_cannot_be_stored_fails_the_attempt(api: Api) -> None:
    api.gql(
        'mutation { registerPlugin(input: {pluginId: "t.nan", kind: python, entrypoint: "tests.plugins_for_tests.behaviours:nan_result"}) { pluginId } }'
    )
    done = api.wait_for(api.create_job("t.nan")["jobId"])
    assert done["status"] == "failed"
    assert done["errorMessage"] == "the plugin's result holds nan, which is not a JSON number"


def test_identical_queries_are_validated_once(api: Api) -> None:
    """The validation cache is keyed by the document and the rules: the limiters' rules are built
    once, so the same query is a cache hit from the second time on."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(1024)
    query = "query CacheProbe($id: ID!) { job(jobId: $id) { jobId } }"
    api.gql(query, {"id": "0"})
    before = cache.cache_info()
    for n in range(1, 21):
        api.gql(query, {"id": str(n)})
    after = cache.cache_info()
    assert after.hits - before.hits == 20
    assert after.misses == before.misses



def test_the_limits_still_apply_when_the_validation_is_cached(api: Api) -> None:
    aliases = "{ " + " ".join(f"b{i}: me {{ email }}" for i in range(40)) + " }"
    for _ in range(2):  # refused the first time (a miss) and the second (a hit)
        body = api.gql(aliases, expect_errors=True)
        assert "aliases" in body["errors"][0]["message"].lower()
