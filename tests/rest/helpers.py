"""Helpers shared by the REST system tests: setup through GraphQL, shapes, statement counts."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from starlette.routing import Route

from jobgraph.db.models import Job
from tests.support import Api

FAR_FUTURE = "2999-01-01T00:00:00+00:00"
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
EPOCH = re.compile(r"^\d+$")


def register_plugin(api: Api, **manifest: Any) -> dict[str, Any]:
    data = api.gql("mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId name queue } }", {"i": manifest})
    return data["registerPlugin"]  # type: ignore[no-any-return]


def command_plugin(api: Api, plugin_id: str, code: str, **manifest: Any) -> dict[str, Any]:
    """A command plugin that runs `python -c code` in its work folder (output/ is beside it)."""
    return register_plugin(api, pluginId=plugin_id, kind="command", entrypoint=[sys.executable, "-c", code], **manifest)


def result_plugin(api: Api, plugin_id: str, result_json: str, **manifest: Any) -> dict[str, Any]:
    """A command plugin whose result is `result_json` (written to output/results.json)."""
    code = f"import pathlib; pathlib.Path('output/results.json').write_text({result_json!r})"
    return command_plugin(api, plugin_id, code, **manifest)


def register_series(api: Api, uid: str, image_count: int = 100) -> None:
    api.gql(
        "mutation($i: SeriesInput!) { registerSeries(input: $i) { seriesUid } }",
        {"i": {"seriesUid": uid, "modality": "CT", "imageCount": image_count}},
    )


def add_feedback(api: Api, job_id: str, data: Any, token: str | None = None, consensual: bool = False) -> str:
    result = api.gql(
        "mutation($j: ID!, $i: FeedbackInput!) { addFeedback(jobId: $j, input: $i) { feedbackId } }",
        {"j": job_id, "i": {"isConsensual": consensual, "data": data, "actionLog": []}},
        token=token,
    )
    return str(result["addFeedback"]["feedbackId"])


def gql_job(api: Api, job_id: str, token: str | None = None) -> dict[str, Any] | None:
    data = api.gql(
        "query($id: ID!) { job(jobId: $id) { jobId number status priority queue input result errorMessage "
        "attempts retries lax notes worker createdAt updatedAt startedAt finishedAt plugin { pluginId name } "
        "user { email } series { seriesUid partialVolumeDescriptor { start end delta } } "
        "messages { status text toolId } outputs { id fileName availableFormats } } }",
        {"id": job_id},
        token=token,
    )
    return data["job"]  # type: ignore[no-any-return]


def gql_job_id(api: Api, number: int) -> str:
    """The jobId of the job with this number (as the admin sees every job)."""
    with api.rt.db.session() as s:
        job_id = s.scalars(select(Job.job_id).where(Job.number == number)).first()
    assert job_id is not None, f"no job number {number}"
    return job_id


def job_count(api: Api) -> int:
    with api.rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def cancel(api: Api, job_id: str, token: str | None = None) -> dict[str, Any]:
    data = api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { jobId status } }", {"id": job_id}, token=token)
    return data["cancelJob"]  # type: ignore[no-any-return]


def invalidate(api: Api, job_id: str) -> None:
    api.gql("mutation($id: ID!) { invalidateJob(jobId: $id) { jobId } }", {"id": job_id})


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def shape(value: Any) -> Any:
    """The JSON type structure of a value: what a key-by-key, type-by-type comparison looks at."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def assert_conforms(actual: Any, documented: Any, *, ignore_values: set[str], path: str = "$") -> None:
    """Same keys and JSON types as the documented example, recursively; same values too, except
    under the keys in `ignore_values` (ids and times) whose types alone must match."""
    assert shape(actual) == shape(documented), f"{path}: {shape(actual)} != {shape(documented)}"
    if isinstance(documented, dict):
        for key, value in documented.items():
            if key in ignore_values:
                continue
            assert_conforms(actual[key], value, ignore_values=ignore_values, path=f"{path}.{key}")
    elif isinstance(documented, list):
        assert len(actual) == len(documented), f"{path}: {len(actual)} items, documented {len(documented)}"
        for i, (a, d) in enumerate(zip(actual, documented, strict=True)):
            assert_conforms(a, d, ignore_values=ignore_values, path=f"{path}[{i}]")
    else:
        assert actual == documented, f"{path}: {actual!r} != documented {documented!r}"


@contextmanager
def statements_on_this_thread(api: Api) -> Iterator[list[str]]:
    """The SQL statements this thread sends while in the block (workers' own are not counted)."""
    seen: list[str] = []
    me = threading.get_ident()

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement)

    engine = api.rt.db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def every_status(api: Api) -> dict[str, dict[str, Any]]:
    """One job in each status, made through GraphQL; the running one must be cancelled after."""
    made: dict[str, dict[str, Any]] = {}
    made["queued"] = api.create_job("jobgraph.echo", {"q": 1}, runAt=FAR_FUTURE)
    made["cancelled"] = api.create_job("jobgraph.echo", {"c": 1}, runAt=FAR_FUTURE)
    cancel(api, made["cancelled"]["jobId"])
    made["finished"] = api.create_job("jobgraph.echo", {"f": 1})
    made["invalidated"] = api.create_job("jobgraph.echo", {"i": 1})
    made["failed"] = api.create_job("jobgraph.fail", {"fail": True, "message": "oh no"})
    made["running"] = api.create_job("jobgraph.slow", {"seconds": 120, "steps": 1200})
    for status in ("finished", "invalidated", "failed"):
        api.wait_for(made[status]["jobId"])
    invalidate(api, made["invalidated"]["jobId"])
    api.wait_for(made["running"]["jobId"], {"running"})
    for status, job in made.items():
        assert api.job(job["jobId"])["status"] == status, (status, api.job(job["jobId"]))
    return made


def route_methods(routes: list[Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for route in routes:
        assert isinstance(route, Route)
        path = re.sub(r":\w+}", "}", route.path)  # a convertor ({path:path}) is no part of the OpenAPI path
        found[path] = {m.lower() for m in (route.methods or set())} - {"head"}
    return found


def check_openapi(module: Any, prefix: str) -> None:
    """The module's OPENAPI describes exactly its routes, with resolvable refs, declared security
    schemes, prefixed schema names and a JSON error body for every error response."""
    from jobgraph.rest import openapi, registry

    spec = next(part for name, part in registry.openapi_parts() if name.startswith(module.__name__))
    documented = {
        path: {m for m in item if m in {"get", "post", "put", "patch", "delete"}}
        for path, item in spec["paths"].items()
    }
    assert documented == route_methods(module.routes())
    schemas = spec["components"]["schemas"]
    schemes = {**spec["components"].get("securitySchemes", {}), **openapi.OWN["components"]["securitySchemes"]}
    assert all(name.startswith(prefix) for name in schemas), sorted(schemas)

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    for ref in refs(spec):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert "security" in operation, (path, method)
            for requirement in operation["security"]:
                assert set(requirement) <= set(schemes), (path, method, requirement)
            assert operation.get("operationId"), (path, method)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    target = schemas[schema["$ref"].rsplit("/", 1)[1]]
                    assert target["properties"]["error"]["type"] == "string", (path, method, code)
                    assert "error" in target["required"]
    # Every 4xx a route can answer with a token or without one is documented.
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if operation["security"]:
                assert "401" in operation["responses"], (path, method)
