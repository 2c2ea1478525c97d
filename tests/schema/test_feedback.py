"""Feedback by CIRCUS's rules."""

from __future__ import annotations

from tests.support import Api

ADD = "mutation($id: ID!, $i: FeedbackInput!) { addFeedback(jobId: $id, input: $i) { feedbackId isConsensual data user { email } } }"


def finished_job(api: Api, token: str | None = None) -> str:
    job = api.create_job("jobgraph.echo", {"x": 1}, token=token)
    api.wait_for(job["jobId"])
    return str(job["jobId"])


def test_personal_then_consensual_then_no_more(api: Api) -> None:
    reader = api.user("reader@example.com", ["executePlugin", "inputPersonalFeedback"])
    job_id = finished_job(api, reader)
    first = api.gql(ADD, {"id": job_id, "i": {"data": {"lesionCandidates": []}}}, token=reader)["addFeedback"]
    assert first["isConsensual"] is False and first["user"]["email"] == "reader@example.com"
    again = api.gql(ADD, {"id": job_id, "i": {"data": {}}}, token=reader, expect_errors=True)
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    api.gql(ADD, {"id": job_id, "i": {"isConsensual": True, "data": {"final": True}}})
    other = api.user("other@example.com", ["manageJobs", "inputPersonalFeedback"])
    late = api.gql(ADD, {"id": job_id, "i": {"data": {}}}, token=other, expect_errors=True)
    assert "consensual feedback already" in late["errors"][0]["message"]
    listed = api.gql("query($id: ID!) { job(jobId: $id) { feedbacks { isConsensual data } } }", {"id": job_id})
    assert listed["job"]["feedbacks"] == [
        {"isConsensual": False, "data": {"lesionCandidates": []}},
        {"isConsensual": True, "data": {"final": True}},
    ]


def test_feedback_needs_a_finished_job_the_privilege_and_valid_data(api: Api) -> None:
    job = api.create_job("jobgraph.fail", {"fail": True})
    api.wait_for(job["jobId"])
    body = api.gql(ADD, {"id": job["jobId"], "i": {"data": {}}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    job_id = finished_job(api)
    nobody = api.user("nobody@example.com", [])
    body = api.gql(ADD, {"id": job_id, "i": {"data": {}}}, token=nobody, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND")
    # jobgraph.echo's feedbackSchema is {"type": "object"}
    body = api.gql(ADD, {"id": job_id, "i": {"data": [1, 2]}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "does not match the schema" in body["errors"][0]["message"]


def test_deleting_feedback_needs_manage_feedback(api: Api) -> None:
    reader = api.user("reader@example.com", ["executePlugin", "inputPersonalFeedback"])
    job_id = finished_job(api, reader)
    feedback_id = api.gql(ADD, {"id": job_id, "i": {"data": {}}}, token=reader)["addFeedback"]["feedbackId"]
    body = api.gql(
        "mutation($f: ID!) { deleteFeedback(feedbackId: $f) }", {"f": feedback_id}, token=reader, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert api.gql("mutation($f: ID!) { deleteFeedback(feedbackId: $f) }", {"f": feedback_id}) == {
        "deleteFeedback": True
    }
