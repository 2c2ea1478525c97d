"""No N+1: a page of nested jobs costs the same few SQL statements whatever its size."""

from __future__ import annotations

from tests.support import Api, api_statements, wait_for_event

PAGE = """query($n: Int!) { jobs(first: $n) { totalCount edges { node {
  jobId status plugin { pluginId name } user { email }
  series { seriesUid partialVolumeDescriptor { start end delta } series { modality imageCount } }
  feedbacks { feedbackId data user { email } } messages { status text } outputs { fileName size }
} } } }"""


def test_a_page_of_100_nested_jobs_costs_a_fixed_number_of_statements(any_api: Api) -> None:
    api = any_api
    api.gql('mutation { registerSeries(input: {seriesUid: "1.2.3", modality: "CT", imageCount: 100}) { seriesUid } }')
    spec = {
        "pluginId": "jobgraph.echo",
        "input": {"k": 1},
        "series": [{"seriesUid": "1.2.3", "partialVolumeDescriptor": {"start": 1, "end": 10, "delta": 1}}],
    }
    made = api.gql("mutation($a: [CreateJobInput!]!) { createJobs(inputs: $a) { jobId } }", {"a": [spec] * 100})
    ids = {j["jobId"] for j in made["createJobs"]}
    finished = "{ jobs(filter: {status: [finished]}) { totalCount } }"
    wait_for_event(
        api.rt,
        lambda: api.gql(finished)["jobs"]["totalCount"] == 100,
        lambda e: e.job_id in ids,
        120,
        "100 finished jobs",
    )
    for job_id in ids:
        api.gql(
            "mutation($id: ID!) { addFeedback(jobId: $id, input: {data: {ok: true}}) { feedbackId } }", {"id": job_id}
        )

    with api_statements(api) as small:
        ten = api.gql(PAGE, {"n": 10})
    with api_statements(api) as large:
        hundred = api.gql(PAGE, {"n": 100})
    assert len(ten["jobs"]["edges"]) == 10 and len(hundred["jobs"]["edges"]) == 100
    node = hundred["jobs"]["edges"][0]["node"]
    assert node["feedbacks"][0]["user"]["email"] == "admin@example.com"
    assert node["series"][0]["series"] == {"modality": "CT", "imageCount": 100}
    assert len(node["messages"]) == 1 and len(node["outputs"]) == 1
    print(f"\nSQL statements for a page of 10: {len(small)}, of 100: {len(large)}")
    assert len(large) == len(small), "\n".join(s[:90] for s in large)
    assert len(large) <= 12, large


FAR_FUTURE = "2999-01-01T00:00:00+00:00"
PAGE_OF_2 = "{ jobs(first: 2) { edges { node { jobId } } pageInfo { hasNextPage } } }"
TOTAL = "{ jobs(first: 2) { totalCount totalCountIsEstimate } }"


def _counts(statements: list[str]) -> list[str]:
    return [s for s in statements if "count(" in s.lower()]


def test_a_list_counts_only_when_asked_and_says_when_the_total_is_an_estimate(any_api: Api) -> None:
    api = any_api
    for i in range(6):  # scheduled far ahead: they stay queued
        api.create_job("jobgraph.echo", {"n": i}, runAt=FAR_FUTURE)
    with api_statements(api) as statements:
        page = api.gql(PAGE_OF_2)["jobs"]
    assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"]
    assert statements and not _counts(statements), statements
    with api_statements(api) as statements:
        assert api.gql(TOTAL)["jobs"] == {"totalCount": 6, "totalCountIsEstimate": False}
    assert _counts(statements)
    with api_statements(api) as statements:  # asked through a fragment, or only whether it is an estimate
        api.gql("{ jobs(first: 2) { ...n } } fragment n on JobConnection { totalCountIsEstimate }")
    assert _counts(statements)

    # Above the exact count limit PostgreSQL gives its planner's estimate, and says so (never
    # fewer than the page shows); SQLite counts exactly.
    api.rt.settings.exact_count_limit = 3
    counted = api.gql(TOTAL)["jobs"]
    stats = api.gql("{ queueStats { total totalIsEstimate byStatus { status count isEstimate } } }")["queueStats"]
    if api.rt.db.is_sqlite:
        assert counted == {"totalCount": 6, "totalCountIsEstimate": False}
        assert stats == {
            "total": 6,
            "totalIsEstimate": False,
            "byStatus": [{"status": "queued", "count": 6, "isEstimate": False}],
        }
    else:
        assert counted["totalCountIsEstimate"] and counted["totalCount"] >= 4, counted
        assert stats["totalIsEstimate"] and stats["total"] >= 4, stats
        assert [(s["status"], s["isEstimate"]) for s in stats["byStatus"]] == [("queued", True)]
    # Below it, exact everywhere.
    only = api.gql("{ jobs(first: 2, filter: {status: [running]}) { totalCount totalCountIsEstimate } }")["jobs"]
    assert only == {"totalCount": 0, "totalCountIsEstimate": False}
