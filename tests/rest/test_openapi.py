"""/openapi.json: a valid OpenAPI 3.1 document of every REST route, and the real app (embedded
workers, on SQLite and on PostgreSQL) answering property-based requests from it without 5xx and
as documented."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from jobgraph.errors import Conflict
from jobgraph.resolvers import job_list, jobs, users
from jobgraph.rest import openapi
from tests.support import ADMIN_TOKEN, Api, unit_call

# Per operation, per generation mode, per token, per database. Both databases together send about
# as many requests as one did at 50.
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# GraphQL has its own schema; the dashboard page and its sign-in are docs/dashboard.md's.
NOT_REST = {"/graphql", "/", "/dashboard", "/dashboard/session"}


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    validator.validate(doc)


def test_every_rest_route_is_documented_and_every_documented_route_exists(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    routes = [r for r in api.client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    served = {re.sub(r":\w+}", "}", r.path) for r in routes} - NOT_REST  # {path:path} is {path} in OpenAPI
    assert set(doc["paths"]) == served
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_two_systems_describing_one_path_or_component_differently_is_refused() -> None:
    one = {"paths": {"/x": {"get": {"responses": {}}}}, "components": {"schemas": {"A": {"type": "string"}}}}
    with pytest.raises(openapi.OpenAPIConflict, match="GET /x"):
        openapi.merge([("one", one), ("two", {"paths": {"/x": {"get": {"responses": {}}}}})])
    with pytest.raises(openapi.OpenAPIConflict, match=r"schemas\.A"):
        openapi.merge([("one", one), ("two", {"components": {"schemas": {"A": {"type": "integer"}}}})])
    same = openapi.merge([("one", one), ("two", {"components": {"schemas": {"A": {"type": "string"}}}})])
    assert same["components"]["schemas"] == {"A": {"type": "string"}}


def test_a_security_scheme_described_in_other_words_is_one_scheme() -> None:
    bearer = {"type": "http", "scheme": "bearer"}
    parts = [
        ("one", {"components": {"securitySchemes": {"b": {**bearer, "description": "A token."}}}}),
        ("two", {"components": {"securitySchemes": {"b": {**bearer, "description": "Or an access token."}}}}),
    ]
    merged = openapi.merge(parts)
    assert merged["components"]["securitySchemes"]["b"] == {**bearer, "description": "A token. / Or an access token."}
    with pytest.raises(openapi.OpenAPIConflict):
        openapi.merge([parts[0], ("two", {"components": {"securitySchemes": {"b": {"type": "apiKey"}}}})])


# ---------------------------------------------------------------- property-based requests


def _send(api: Api, case: schemathesis.Case, headers: dict[str, str]) -> Any:
    """The case through the fixture's client, so the app under test is the one already running."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    request: dict[str, Any] = {"headers": kwargs.get("headers") or {}, "params": kwargs.get("params") or None}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        request["content"] = data
    elif data is not None:
        request["data"] = data
    return api.client.request(kwargs["method"], kwargs["url"], **request)


def _fuzz(api: Api, headers: dict[str, str], modes: list[schemathesis.GenerationMode]) -> int:
    """Every operation of the document, in each mode; returns how many requests were made."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(api.client.get("/openapi.json").json()))
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                nonlocal sent
                response = _send(api, case, headers)
                sent += 1
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:
                # Nothing can be invalid about an operation without parameters or body.
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return sent


def _seed_jobs(api: Api) -> None:
    """A few jobs, so that small ids name real ones in every state the routes show."""
    for plugin, job_input in [
        ("jobgraph.echo", {"a": 1}),
        ("jobgraph.fail", {"fail": True}),
        ("jobgraph.noop", None),
        ("jobgraph.slow", {"seconds": 30, "steps": 30}),
    ]:
        api.create_job(plugin, job_input)


def _stop_running_jobs(api: Api) -> None:
    """Cancel what is still queued or running (the slow seed job, anything generated), so that
    the app stops at once."""
    admin = unit_call(api.rt, users.authenticate, ADMIN_TOKEN)
    page = unit_call(api.rt, job_list.list_jobs, admin, job_list.JobFilter(statuses=["queued", "running"]), first=1000)
    for job in page.jobs:
        try:
            unit_call(api.rt, jobs.cancel_job, admin, job.job_id)
        except Conflict:
            continue  # it ended meanwhile
        api.wait_for(job.job_id)


# A bounded count of requests (MAX_EXAMPLES per operation), not a time: about 55 s per admin
# run on a busy machine, and over 120 s once in CI; the limit only catches a hang.
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("who", "headers", "modes"),
    [
        ("admin", lambda: {"Authorization": f"Bearer {ADMIN_TOKEN}"}, list(schemathesis.GenerationMode)),
        ("no token", dict, [schemathesis.GenerationMode.POSITIVE]),
    ],
)
def test_generated_requests_get_no_5xx_and_documented_answers(
    any_api: Api,
    who: str,
    headers: Callable[[], dict[str, str]],
    modes: list[schemathesis.GenerationMode],
    record_property: Callable[[str, object], None],
) -> None:
    database = any_api.rt.db.engine.dialect.name
    _seed_jobs(any_api)
    try:
        sent = _fuzz(any_api, headers(), modes)
    finally:
        _stop_running_jobs(any_api)
    record_property("schemathesis_requests", sent)
    record_property("database", database)
    print(f"schemathesis ({who}, {database}): {sent} generated requests, all answered without 5xx and as documented")
    assert sent > 0
