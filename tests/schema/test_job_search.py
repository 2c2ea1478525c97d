"""Finding jobs by what their input and notes contain (JSON containment), on both databases."""

from __future__ import annotations

import json
from typing import Any

from tests.support import Api

SEARCH = "query($f: JobFilter) { jobs(filter: $f, first: 50) { totalCount edges { node { number input } } } }"


def _found(api: Api, job_filter: dict[str, Any]) -> list[Any]:
    data = api.gql(SEARCH, {"f": job_filter})["jobs"]
    inputs = [edge["node"]["input"] for edge in data["edges"]]
    assert data["totalCount"] == len(inputs)
    return inputs


def _same(found: list[Any], expected: list[Any]) -> bool:
    """The same JSON values in any order (PostgreSQL's jsonb keeps keys in its own order)."""
    return sorted(json.dumps(v, sort_keys=True) for v in found) == sorted(json.dumps(v, sort_keys=True) for v in expected)


def test_jobs_are_found_by_what_their_input_contains(any_api: Api) -> None:
    inputs = [
        {"case": 7, "tags": ["ct", "chest"], "site": {"name": "north", "beds": 3}},
        {"case": 7, "tags": ["mr"]},
        {"case": 8, "tags": ["ct"], "site": {"name": "south"}},
        {"case": 7.0, "flag": True},
    ]
    for job_input in inputs:
        any_api.create_job("jobgraph.echo", job_input, runAt="2999-01-01T00:00:00Z")  # kept queued
    assert _same(_found(any_api, {"inputContains": {"case": 7}}), [inputs[0], inputs[1], inputs[3]])
    assert _same(_found(any_api, {"inputContains": {"tags": ["chest", "ct"]}}), [inputs[0]])
    assert len(_found(any_api, {"inputContains": {"tags": ["ct"]}})) == 2
    assert _same(_found(any_api, {"inputContains": {"site": {"name": "south"}}}), [inputs[2]])
    assert _found(any_api, {"inputContains": {"flag": 1}}) == []  # true is not 1
    assert _found(any_api, {"inputContains": {"case": 7}, "status": ["failed"]}) == []


def test_jobs_are_found_by_their_notes(any_api: Api) -> None:
    job = any_api.create_job("jobgraph.echo", {"a": 1}, notes={"batch": "b-17", "reviewed": False})
    any_api.create_job("jobgraph.echo", {"a": 2}, notes={"batch": "b-18"})
    found = any_api.gql(
        "query($f: JobFilter) { jobs(filter: $f) { edges { node { jobId } } } }",
        {"f": {"notesContains": {"batch": "b-17"}}},
    )["jobs"]["edges"]
    assert [edge["node"]["jobId"] for edge in found] == [job["jobId"]]


def test_a_filter_value_that_is_not_storable_json_is_refused(any_api: Api) -> None:
    body = any_api.gql(SEARCH, {"f": {"inputContains": {"k": "a\u0000b"}}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
