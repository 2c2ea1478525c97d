"""Ion Torrent's PluginResultJob (django-tastypie) through HTTP on the real app."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from jobgraph.db.models import JOB_STATUSES, Job
from jobgraph.rest import tastypie_model as model
from jobgraph.rest import tastypie_query as query
from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, Api

BASE = "/rundb/api/v1/PluginResultJob/"
ADMIN = {"Authorization": f"ApiKey {ADMIN_EMAIL}:{ADMIN_TOKEN}"}
ISO_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")

# The seed's example response, as documented.
SEED_EXAMPLE: dict[str, Any] = {
    "meta": {
        "previous": None,
        "total_count": 15,
        "offset": 0,
        "limit": 1,
        "next": "/rundb/api/v1/PluginResultJob/?offset=1&limit=1&format=json",
    },
    "objects": [
        {
            "grid_engine_jobid": -1,
            "id": 19,
            "state": "Completed",
            "starttime": "2017-08-09T20:26:03.000549+00:00",
            "endtime": "2017-08-09T20:30:11.000942+00:00",
            "config": {"compressedType": "zip", "select_dialog": ["run_name", ""]},
            "run_level": "last",
            "resource_uri": "/rundb/api/v1/PluginResultJob/19/",
        }
    ],
}
# The seed's field table: name -> (help text, default, nullable, readonly, blank, unique, type).
SEED_FIELDS = {
    "grid_engine_jobid": ("Integer data. Ex: 2673", "n/a", True, False, False, False, "integer"),
    "id": ("Integer data. Ex: 2673", "", False, False, True, True, "integer"),
    "state": ('Unicode string data. Ex: "Hello World"', "n/a", False, False, False, False, "string"),
    "starttime": ('A date & time as a string. Ex: "2010-11-10T03:07:43"', "n/a", True, False, False, False, "datetime"),
    "endtime": ('A date & time as a string. Ex: "2010-11-10T03:07:43"', "n/a", True, False, False, False, "datetime"),
    "config": ('Unicode string data. Ex: "Hello World"', "", False, False, True, False, "string"),
    "run_level": ('Unicode string data. Ex: "Hello World"', "n/a", False, False, False, False, "string"),
    "resource_uri": ('Unicode string data. Ex: "Hello World"', "n/a", False, True, False, False, "string"),
}


# ---------------------------------------------------------------- helpers


def apikey(email: str, token: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {email}:{token}"}


def later() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def queued(api: Api, plugin: str = "jobgraph.echo", input: Any = None, token: str | None = None) -> dict[str, Any]:
    """A job that stays queued (it may run only an hour from now)."""
    return api.create_job(plugin, input, token=token, runAt=later())


def done(api: Api, plugin: str = "jobgraph.echo", input: Any = None, **fields: Any) -> dict[str, Any]:
    job = api.create_job(plugin, input, **fields)
    api.wait_for(job["jobId"])
    return job


def running(api: Api) -> dict[str, Any]:
    job = api.create_job("jobgraph.slow", {"seconds": 60, "steps": 600})
    api.wait_for(job["jobId"], {"running"})
    return job


def stop(api: Api, job: dict[str, Any]) -> None:
    api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": job["jobId"]})
    api.wait_for(job["jobId"])


def gql(api: Api, job_id: str) -> dict[str, Any]:
    data = api.gql(
        "query($id: ID!) { job(jobId: $id) { number status input runLevel worker startedAt finishedAt } }",
        {"id": job_id},
    )
    return data["job"]  # type: ignore[no-any-return]


def job_id_of(api: Api, number: int) -> str:
    with api.rt.db.session() as s:
        job_id = s.scalars(select(Job.job_id).where(Job.number == number)).first()
    assert job_id is not None
    return job_id


def count(api: Api) -> int:
    with api.rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def get(api: Api, url: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    response = api.client.get(url, headers=ADMIN if headers is None else headers, params=params or None)
    assert response.status_code == 200, response.text
    return response.json()


def ids(api: Api, **params: Any) -> list[int]:
    return [o["id"] for o in get(api, BASE, **params)["objects"]]


def shape(value: Any) -> Any:
    """The JSON type structure of a value (lists by their first item)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def assert_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return str(body["error"])


def register_timeout_plugin(api: Api) -> None:
    api.gql(
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
        {
            "i": {
                "pluginId": "test.limited",
                "name": "limited",
                "kind": "python",
                "entrypoint": "jobgraph.plugins.builtin:slow",
                "timeout": 1,
            }
        },
    )


# ---------------------------------------------------------------- the seed's shapes


def test_answers_the_seed_example_key_by_key_and_type_by_type(any_api: Api) -> None:
    api = any_api
    job = api.create_job("jobgraph.echo", {"compressedType": "zip", "select_dialog": ["run_name", ""]}, runLevel="last")
    api.create_job("jobgraph.echo", None, runAt=later())  # a second job, so there is a next page
    api.wait_for(job["jobId"])
    body = get(api, BASE, limit=1, format="json", offset=0, order_by="id")
    assert list(body) == list(SEED_EXAMPLE)
    assert list(body["meta"]) == sorted(SEED_EXAMPLE["meta"])
    expected_meta = {k: shape(v) for k, v in SEED_EXAMPLE["meta"].items()}
    assert shape(body["meta"]) == {**expected_meta, "previous": "NoneType", "total_count": "int"}
    assert body["meta"]["next"] == f"{BASE}?offset=1&limit=1&format=json&order_by=id"
    (obj,) = body["objects"]
    (seed,) = SEED_EXAMPLE["objects"]
    assert list(obj) == list(seed)
    grid_engine_jobid = obj.pop("grid_engine_jobid")
    assert isinstance(grid_engine_jobid, int) and grid_engine_jobid >= 1  # the worker that ran it
    assert shape(obj) == shape({k: v for k, v in seed.items() if k != "grid_engine_jobid"})
    assert obj["state"] == "Completed" and obj["run_level"] == "last"
    assert obj["config"] == seed["config"]
    assert obj["resource_uri"] == f"{BASE}{obj['id']}/"
    assert ISO_MICRO.match(obj["starttime"]) and ISO_MICRO.match(obj["endtime"])
    assert ISO_MICRO.match(seed["starttime"]) and ISO_MICRO.match(seed["endtime"])


def test_the_schema_route_has_the_seed_tables_attributes(api: Api) -> None:
    schema = get(api, f"{BASE}schema/")
    assert schema["allowed_list_http_methods"] == ["get", "post"]
    assert schema["allowed_detail_http_methods"] == ["get", "put", "delete", "patch"]
    assert (schema["default_format"], schema["default_limit"]) == ("application/json", 20)
    assert list(schema["fields"]) == list(SEED_FIELDS)
    for name, (help_text, default, nullable, readonly, blank, unique, kind) in SEED_FIELDS.items():
        f = schema["fields"][name]
        assert (f["help_text"], f["nullable"], f["readonly"], f["blank"], f["unique"], f["type"]) == (
            help_text,
            nullable,
            readonly,
            blank,
            unique,
            kind,
        ), name
        # tastypie says "No default provided." where the seed's rendering says n/a
        assert f["default"] == ("No default provided." if default == "n/a" else default), name
    assert schema["filtering"]["id"] == ["exact", "in", "gt", "gte", "lt", "lte"]
    assert "isnull" in schema["filtering"]["starttime"] and "config" not in schema["filtering"]
    assert schema["ordering"] == ["grid_engine_jobid", "id", "state", "starttime", "endtime", "run_level"]
    assert_error(api.client.get(f"{BASE}schema/"), 401)


# ---------------------------------------------------------------- mappings


def test_the_state_table_covers_every_status() -> None:
    assert set(model.STATE) == set(JOB_STATUSES)
    assert model.STATE == {
        "queued": "Queued",
        "running": "Started",
        "finished": "Completed",
        "failed": "Error",
        "cancelled": "Cancelled",
        "invalidated": "Archived",
    }
    assert model.ion_state("failed", "timeout") == "Timed Out"
    assert model.ion_state("failed", "exception") == "Error"
    assert model.ion_state("queued", "timeout") == "Queued"  # a retried job keeps its failure_kind
    assert set(model.STATE_FILTER) == set(model.ION_STATES)


def test_every_status_shows_as_its_ion_state_and_filters_by_it(any_api: Api) -> None:
    api = any_api
    register_timeout_plugin(api)
    made = {
        "Queued": queued(api),
        "Completed": done(api),
        "Error": done(api, "jobgraph.fail", {"fail": True}),
        "Timed Out": done(api, "test.limited", {"seconds": 30, "steps": 300}),
        "Archived": done(api),
        "Cancelled": queued(api),
        "Started": running(api),
    }
    api.gql("mutation($id: ID!) { invalidateJob(jobId: $id) { status } }", {"id": made["Archived"]["jobId"]})
    api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": made["Cancelled"]["jobId"]})
    try:
        for state, job in made.items():
            assert get(api, f"{BASE}{job['number']}/")["state"] == state
            assert ids(api, state=state) == [job["number"]], state
        assert ids(api, state__in="Error,Completed") == sorted(
            [made["Error"]["number"], made["Completed"]["number"]], reverse=True
        )
        assert ids(api, state__in="Timed Out,Queued") == sorted(
            [made["Timed Out"]["number"], made["Queued"]["number"]], reverse=True
        )
        # The schema documents `state` as an enum: another name is refused, as the document says.
        assert_error(api.client.get(BASE, headers=ADMIN, params={"state": "Nonsense"}), 400)
        assert_error(api.client.get(BASE, headers=ADMIN, params={"state__in": "Error,Nonsense"}), 400)
    finally:
        stop(api, made["Started"])


def test_fields_map_the_job_record(api: Api) -> None:
    job = done(api, "jobgraph.echo", [1, {"a": None}], runLevel="post")
    record = gql(api, job["jobId"])
    ion = get(api, f"{BASE}{job['number']}/")
    assert ion["id"] == record["number"] == job["number"]
    assert ion["config"] == record["input"] == [1, {"a": None}]
    assert ion["run_level"] == record["runLevel"] == "post"
    assert ion["grid_engine_jobid"] == record["worker"]
    assert datetime.fromisoformat(ion["starttime"]) == datetime.fromisoformat(record["startedAt"])
    assert datetime.fromisoformat(ion["endtime"]) == datetime.fromisoformat(record["finishedAt"])
    assert ion["resource_uri"] == f"/rundb/api/v1/PluginResultJob/{job['number']}/"
    waiting = get(api, f"{BASE}{queued(api)['number']}/")
    assert (waiting["grid_engine_jobid"], waiting["starttime"], waiting["endtime"]) == (-1, None, None)


def test_date_format() -> None:
    when = datetime(2017, 8, 9, 20, 26, 3, 549, tzinfo=UTC)
    assert model.ion_datetime(when) == "2017-08-09T20:26:03.000549+00:00"
    assert model.ion_datetime(when.replace(microsecond=0)) == "2017-08-09T20:26:03.000000+00:00"
    assert model.ion_datetime(when.replace(tzinfo=None)) == "2017-08-09T20:26:03.000549+00:00"
    assert model.ion_datetime(when.astimezone(timezone(timedelta(hours=-5)))) == "2017-08-09T20:26:03.000549+00:00"
    assert model.ion_datetime(None) is None
    assert model.parse_ion_datetime("2017-08-09T20:26:03.000549+00:00") == when
    assert model.parse_ion_datetime("2017-08-09T22:26:03.000549 02:00") == when  # `+` sent unencoded
    assert model.parse_ion_datetime("2017-08-09") == datetime(2017, 8, 9, tzinfo=UTC)
    with pytest.raises(ValueError):
        model.parse_ion_datetime("0001-01-01T00:00:00+01:00")


# ---------------------------------------------------------------- paging


def test_pages_follow_next_and_previous(api: Api) -> None:
    numbers = [queued(api)["number"] for _ in range(5)]
    seen: list[int] = []
    url: str | None = f"{BASE}?limit=2&format=json&run_level=default"
    pages = []
    while url:
        body = get(api, url)
        pages.append(body)
        seen.extend(o["id"] for o in body["objects"])
        url = body["meta"]["next"]
    assert seen == sorted(numbers, reverse=True)  # newest first
    assert [p["meta"]["offset"] for p in pages] == [0, 2, 4]
    assert all(p["meta"]["total_count"] == 5 and p["meta"]["limit"] == 2 for p in pages)
    last = pages[-1]["meta"]
    assert dict(parse_qsl(urlsplit(last["previous"]).query)) == {
        "offset": "2",
        "limit": "2",
        "format": "json",
        "run_level": "default",
    }
    assert [o["id"] for o in get(api, last["previous"])["objects"]] == seen[2:4]
    assert pages[0]["meta"]["previous"] is None
    # tastypie would give no previous page here (offset < limit); this one goes back to 0
    assert get(api, BASE, limit=3, offset=1)["meta"]["previous"] == f"{BASE}?offset=0&limit=3"


def test_limits(api: Api) -> None:
    for _ in range(3):
        queued(api)
    assert get(api, BASE)["meta"]["limit"] == 20
    assert get(api, BASE, limit=0)["meta"]["limit"] == 1000  # 0 means the most
    assert get(api, BASE, limit=5000)["meta"]["limit"] == 1000  # tastypie caps at max_limit
    assert get(api, BASE, offset=10) == {
        "meta": {"limit": 20, "next": None, "offset": 10, "previous": f"{BASE}?offset=0&limit=20", "total_count": 3},
        "objects": [],
    }
    for params in ({"limit": -1}, {"limit": "x"}, {"offset": -1}, {"offset": "1.5"}, {"offset": 10**13}):
        assert_error(api.client.get(BASE, headers=ADMIN, params=params), 400)


# ---------------------------------------------------------------- filters and ordering


def test_filters(any_api: Api) -> None:
    api = any_api
    a = done(api, "jobgraph.echo", runLevel="last")
    b = queued(api)
    c = queued(api)
    na, nb, nc = a["number"], b["number"], c["number"]
    assert ids(api, id=nb) == [nb]
    assert ids(api, id__in=f"{na},{nc}") == [nc, na]
    assert ids(api, **{"id__in": [str(na), str(nb)]}) == [nb, na]  # repeated __in values add up
    assert ids(api, id__gt=na) == [nc, nb]
    assert ids(api, id__gte=nb, id__lte=nb) == [nb]
    assert ids(api, id__lt=nb) == [na]
    assert ids(api, run_level="last") == [na]
    assert ids(api, run_level__in="last,default") == [nc, nb, na]
    assert ids(api, starttime__isnull="true") == [nc, nb]
    assert ids(api, endtime__isnull="false") == [na]
    assert ids(api, grid_engine_jobid=-1) == [nc, nb]
    assert ids(api, grid_engine_jobid__isnull="false") == [na]
    worker = get(api, f"{BASE}{na}/")["grid_engine_jobid"]
    assert ids(api, grid_engine_jobid=worker) == [na]
    started = get(api, f"{BASE}{na}/")["starttime"]
    assert ids(api, starttime=started) == [na]
    assert ids(api, starttime__gte=started) == [na]
    assert ids(api, starttime__gt=started) == []
    assert ids(api, endtime__lt="2999-01-01T00:00:00Z") == [na]
    assert ids(api, endtime__lt="2999-01-01") == [na]
    assert ids(api, endtime="null") == [nc, nb]


def test_ordering(any_api: Api) -> None:
    api = any_api
    a = done(api, "jobgraph.echo", runLevel="b")
    b = queued(api)
    c = done(api, "jobgraph.echo", runLevel="a")
    na, nb, nc = a["number"], b["number"], c["number"]
    assert ids(api) == [nc, nb, na]
    assert ids(api, order_by="id") == [na, nb, nc]
    assert ids(api, order_by="-id") == [nc, nb, na]
    assert ids(api, order_by="run_level") == [nc, na, nb]
    assert ids(api, order_by=["state", "-id"]) == [nc, na, nb]  # finished < queued, then newest
    assert ids(api, order_by="-starttime", starttime__isnull="false") == [nc, na]


@pytest.mark.parametrize(
    "params",
    [
        {"foo": "1"},
        {"config": "x"},
        {"resource_uri": "x"},
        {"id__contains": "1"},
        {"id__in__gt": "1"},
        {"state__gt": "Queued"},
        {"id": "abc"},
        {"id": str(2**64)},
        {"id__in": "1,x"},
        {"starttime__gt": "yesterday"},
        {"starttime__gt": "9999-12-31T23:59:59-05:00"},
        {"starttime__isnull": "maybe"},
        {"grid_engine_jobid": "-"},
        {"order_by": "foo"},
        {"order_by": "config"},
        {"order_by": "-resource_uri"},
        {"order_by": ""},
        {"format": "xml"},
        {"format": "jsonp"},
        {"run_level": "a\x00b"},
    ],
)
def test_bad_list_queries_are_400_with_a_json_error(any_api: Api, params: dict[str, str]) -> None:
    api = any_api
    assert_error(api.client.get(BASE, headers=ADMIN, params=params), 400)


def test_format(api: Api) -> None:
    job = queued(api)
    assert get(api, BASE, format="json")["meta"]["total_count"] == 1
    assert get(api, f"{BASE}{job['number']}/", format="json")["id"] == job["number"]
    assert_error(api.client.get(f"{BASE}{job['number']}/", headers=ADMIN, params={"format": "xml"}), 400)
    assert_error(api.client.get(f"{BASE}schema/", headers=ADMIN, params={"format": "yaml"}), 400)


# ---------------------------------------------------------------- reading one or several


def test_detail_and_set(api: Api) -> None:
    a, b = queued(api), queued(api)
    assert get(api, f"{BASE}{a['number']}/")["id"] == a["number"]
    body = get(api, f"{BASE}set/{b['number']};999;{a['number']};{b['number']}/")
    assert [o["id"] for o in body["objects"]] == [b["number"], a["number"], b["number"]]
    assert body["not_found"] == ["999"]
    assert get(api, f"{BASE}set/{a['number']}/") == {"objects": [get(api, f"{BASE}{a['number']}/")], "not_found": []}
    for shape_ in ("abc", "0", "-1", "1.0", "99999999999999999999", "1e3"):
        assert_error(api.client.get(f"{BASE}{shape_}/", headers=ADMIN), 404)
        assert_error(api.client.get(f"{BASE}set/{a['number']};{shape_}/", headers=ADMIN), 404)
    assert_error(api.client.get(f"{BASE}12345/", headers=ADMIN), 404)
    too_many = ";".join(str(n) for n in range(1, 1002))
    assert_error(api.client.get(f"{BASE}set/{too_many}/", headers=ADMIN), 400)


# ---------------------------------------------------------------- creating


def test_post_creates_a_job_with_201_and_location(api: Api) -> None:
    response = api.client.post(BASE, headers=ADMIN, json={"plugin": "echo", "config": {"x": 1}, "run_level": "last"})
    assert response.status_code == 201 and response.content == b""
    location = response.headers["location"]
    assert location.startswith("http://testserver/rundb/api/v1/PluginResultJob/") and location.endswith("/")
    created = get(api, location)
    assert (created["config"], created["run_level"]) == ({"x": 1}, "last")
    assert location.endswith(created["resource_uri"])
    record = api.wait_for(job_id_of(api, created["id"]))
    assert record["result"] == {"input": {"x": 1}, "series": []}  # the plugin named "echo" ran it


def test_post_with_always_return_data_answers_the_job(api: Api) -> None:
    response = api.client.post(
        BASE, headers=ADMIN, params={"always_return_data": "true"}, json={"plugin": "jobgraph.noop"}
    )
    assert response.status_code == 201
    body = response.json()
    assert list(body) == list(model.FIELDS)
    assert (body["config"], body["run_level"], body["state"]) == ({}, "default", "Queued")  # the defaults
    assert response.headers["location"].endswith(body["resource_uri"])


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"", "application/json", 400),
        (b"[1]", "application/json", 400),
        (b'{"plugin": "echo", "config": NaN}', "application/json", 400),
        (b'{"plugin": "echo", "config": "\\ud800"}', "application/json", 400),
        (b'{"plugin": "echo", "config": "a\\u0000"}', "application/json", 400),
        (b'{"plugin": "echo", "config": ' + b"[" * 100 + b"]" * 100 + b"}", "application/json", 400),
        (b'{"plugin": "echo", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400),
        (b'{"plugin": "echo", "priority": 3}', "application/json", 400),
        (b'{"plugin": "echo", "state": "Queued"}', "application/json", 400),
        (b'{"plugin": "echo", "id": 7}', "application/json", 400),
        (b'{"plugin": 5}', "application/json", 400),
        (b'{"config": {}}', "application/json", 400),
        (b'{"plugin": "echo", "run_level": 3}', "application/json", 400),
        (b'{"plugin": "echo", "run_level": ""}', "application/json", 400),
        (b'{"plugin": "no.such.plugin"}', "application/json", 400),
        (b'{"plugin": "slow", "config": {"seconds": "ten"}}', "application/json", 400),
        (b"plugin=echo", "application/x-www-form-urlencoded", 415),
        (b'{"plugin": "echo"}', "text/plain", 415),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_created(
    any_api: Api, body: bytes, content_type: str, status: int
) -> None:
    api = any_api
    response = api.client.post(BASE, headers={**ADMIN, "Content-Type": content_type}, content=body)
    assert_error(response, status)
    assert count(api) == 0


def test_oversized_bodies_are_413(api: Api) -> None:
    big = json.dumps({"plugin": "echo", "config": "x" * (3 * 1024 * 1024)})
    assert_error(api.client.post(BASE, headers=ADMIN, content=big), 413)
    job = queued(api)
    assert_error(api.client.put(f"{BASE}{job['number']}/", headers=ADMIN, content=big), 413)
    assert count(api) == 1


def test_a_body_without_content_type_is_json_and_a_json_suffix_is_accepted(api: Api) -> None:
    assert api.client.post(BASE, headers=ADMIN, content=b'{"plugin": "noop"}').status_code == 201
    headers = {**ADMIN, "Content-Type": "application/vnd.api+json; charset=utf-8"}
    assert api.client.post(BASE, headers=headers, content=b'{"plugin": "noop"}').status_code == 201


# ---------------------------------------------------------------- changing and deleting


def test_put_replaces_config_and_run_level_of_a_queued_job(api: Api) -> None:
    job = queued(api, "jobgraph.slow", {"seconds": 1})
    url = f"{BASE}{job['number']}/"
    current = get(api, url)
    response = api.client.put(url, headers=ADMIN, json={**current, "config": {"seconds": 2}, "run_level": "last"})
    assert response.status_code == 204 and response.content == b""
    record = gql(api, job["jobId"])
    assert (record["input"], record["runLevel"]) == ({"seconds": 2}, "last")
    response = api.client.put(url, headers=ADMIN, params={"always_return_data": "true"}, json={"run_level": "pre"})
    assert response.status_code == 200 and response.json()["run_level"] == "pre"


def test_patch_is_202_and_a_round_trip_of_the_representation_changes_nothing(api: Api) -> None:
    job = done(api)
    url = f"{BASE}{job['number']}/"
    current = get(api, url)
    response = api.client.patch(url, headers=ADMIN, json=current)
    assert response.status_code == 202 and response.content == b""
    assert api.client.put(url, headers=ADMIN, json={**current, "plugin": "echo"}).status_code == 204
    assert api.client.put(url, headers=ADMIN, json={**current, "plugin": "jobgraph.echo"}).status_code == 204
    response = api.client.patch(url, headers=ADMIN, params={"always_return_data": "1"}, json={})
    assert response.status_code == 202 and response.json() == current
    assert get(api, url) == current


def test_setting_state_to_cancelled_cancels(api: Api) -> None:
    waiting = queued(api)
    response = api.client.patch(f"{BASE}{waiting['number']}/", headers=ADMIN, json={"state": "Cancelled"})
    assert response.status_code == 202
    assert gql(api, waiting["jobId"])["status"] == "cancelled"
    busy = running(api)
    response = api.client.put(f"{BASE}{busy['number']}/", headers=ADMIN, json={"state": "Cancelled"})
    assert response.status_code == 204
    assert api.wait_for(busy["jobId"])["status"] == "cancelled"
    assert get(api, f"{BASE}{busy['number']}/")["state"] == "Cancelled"
    # already cancelled: setting it again changes nothing
    assert api.client.patch(f"{BASE}{busy['number']}/", headers=ADMIN, json={"state": "Cancelled"}).status_code == 202


@pytest.mark.parametrize(
    "change",
    [
        {"state": "Completed"},
        {"state": "Started"},
        {"state": "Bogus"},
        {"state": 3},
        {"id": 99},
        {"id": "1"},
        {"grid_engine_jobid": 7},
        {"starttime": "2017-08-09T20:26:03.000549+00:00"},
        {"endtime": "not a date"},
        {"plugin": "jobgraph.fail"},
        {"priority": 5},
        {"run_level": 5},
        {"run_level": ""},
        {"config": {"seconds": "many"}},
    ],
)
def test_bad_changes_are_400_and_change_nothing(any_api: Api, change: dict[str, Any]) -> None:
    api = any_api
    job = queued(api, "jobgraph.slow", {"seconds": 1})
    url = f"{BASE}{job['number']}/"
    before = get(api, url)
    for method in ("PUT", "PATCH"):
        assert_error(api.client.request(method, url, headers=ADMIN, json=change), 400)
    assert get(api, url) == before


def test_config_and_run_level_change_only_while_queued(api: Api) -> None:
    job = done(api, "jobgraph.echo", {"a": 1})
    url = f"{BASE}{job['number']}/"
    before = get(api, url)
    assert "queued" in assert_error(api.client.put(url, headers=ADMIN, json={"config": {"a": 2}}), 400)
    assert_error(api.client.patch(url, headers=ADMIN, json={"run_level": "last"}), 400)
    assert_error(api.client.patch(url, headers=ADMIN, json={"state": "Cancelled"}), 400)  # it has ended
    assert get(api, url) == before


def test_delete(api: Api) -> None:
    ended = done(api)
    waiting = queued(api)
    busy = running(api)
    try:
        for job in (waiting, busy):
            assert_error(api.client.delete(f"{BASE}{job['number']}/", headers=ADMIN), 400)
            assert get(api, f"{BASE}{job['number']}/")["id"] == job["number"]
        response = api.client.delete(f"{BASE}{ended['number']}/", headers=ADMIN)
        assert response.status_code == 204 and response.content == b""
        assert_error(api.client.get(f"{BASE}{ended['number']}/", headers=ADMIN), 404)
        assert_error(api.client.delete(f"{BASE}{ended['number']}/", headers=ADMIN), 404)
    finally:
        stop(api, busy)


def test_unknown_ids_are_404_for_every_method(api: Api) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = {"run_level": "x"} if method in ("PUT", "PATCH") else None
        assert_error(api.client.request(method, f"{BASE}4242/", headers=ADMIN, json=body), 404)
        assert_error(api.client.request(method, f"{BASE}abc/", headers=ADMIN, json=body), 404)


def test_method_override_header_as_tastypie_reads_it(api: Api) -> None:
    job = done(api)
    headers = {**ADMIN, "X-HTTP-Method-Override": "DELETE"}
    assert api.client.post(f"{BASE}{job['number']}/", headers=headers).status_code == 204
    assert count(api) == 0


# ---------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        (BASE, "PUT", "GET,POST"),
        (BASE, "PATCH", "GET,POST"),
        (BASE, "DELETE", "GET,POST"),
        (BASE, "HEAD", "GET,POST"),
        (f"{BASE}1/", "POST", "GET,PUT,DELETE,PATCH"),
        (f"{BASE}schema/", "POST", "GET"),
        (f"{BASE}set/1;2/", "DELETE", "GET"),
        (f"{BASE}1/", "TRACE", "GET,PUT,DELETE,PATCH"),
    ],
)
def test_other_methods_are_405_with_allow(api: Api, path: str, method: str, allow: str) -> None:
    queued(api)
    for headers in (ADMIN, {}):  # as tastypie, the method is checked before the credentials
        response = api.client.request(method, path, headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        if method != "HEAD":
            assert set(response.json()) == {"error"}
    assert count(api) == 1


def test_options_answers_the_allowed_methods(api: Api) -> None:
    response = api.client.options(BASE)
    assert response.status_code == 200 and response.headers["allow"] == "GET,POST"
    assert response.json() == {"allowed_methods": ["get", "post"]}


# ---------------------------------------------------------------- who may do what


def test_the_three_ways_of_giving_a_token(api: Api) -> None:
    job = queued(api)
    expected = get(api, f"{BASE}{job['number']}/")
    ways: list[tuple[dict[str, str], dict[str, str]]] = [
        (apikey(ADMIN_EMAIL, ADMIN_TOKEN), {}),
        (apikey(ADMIN_EMAIL.upper(), ADMIN_TOKEN), {}),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}),
        ({}, {"username": ADMIN_EMAIL, "api_key": ADMIN_TOKEN}),
    ]
    for headers, params in ways:
        response = api.client.get(f"{BASE}{job['number']}/", headers=headers, params=params)
        assert response.status_code == 200 and response.json() == expected, (headers, params)
    response = api.client.post(BASE, params={"username": ADMIN_EMAIL, "api_key": ADMIN_TOKEN}, json={"plugin": "noop"})
    assert response.status_code == 201
    # another scheme in the header: tastypie falls back to the query's credentials
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert (
        api.client.get(BASE, headers=basic, params={"username": ADMIN_EMAIL, "api_key": ADMIN_TOKEN}).status_code == 200
    )


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({"Authorization": f"ApiKey {ADMIN_EMAIL}:wrong-token-000000000"}, {}),
        ({"Authorization": f"ApiKey someone@example.com:{ADMIN_TOKEN}"}, {}),
        ({"Authorization": f"ApiKey {ADMIN_TOKEN}"}, {}),
        ({"Authorization": f"ApiKey {ADMIN_EMAIL} {ADMIN_TOKEN}"}, {}),
        ({"Authorization": f"Basic {ADMIN_TOKEN}"}, {}),
        ({"Authorization": "Bearer nope"}, {}),
        ({}, {"api_key": ADMIN_TOKEN}),
        ({}, {"username": ADMIN_EMAIL}),
        ({}, {"username": "someone@example.com", "api_key": ADMIN_TOKEN}),
    ],
)
def test_missing_or_bad_credentials_are_401(api: Api, headers: dict[str, str], params: dict[str, str]) -> None:
    job = queued(api)
    for method, path in [("GET", BASE), ("GET", f"{BASE}{job['number']}/"), ("GET", f"{BASE}schema/")]:
        response = api.client.request(method, path, headers=headers, params=params)
        assert_error(response, 401)
        assert response.headers["www-authenticate"].startswith("ApiKey")
    assert_error(api.client.post(BASE, headers=headers, params=params, json={"plugin": "noop"}), 401)
    assert_error(api.client.delete(f"{BASE}{job['number']}/", headers=headers, params=params), 401)
    assert count(api) == 1


def test_creating_needs_execute_plugin(api: Api) -> None:
    token = api.user("viewer@example.com", [])
    response = api.client.post(BASE, headers=apikey("viewer@example.com", token), json={"plugin": "noop"})
    assert_error(response, 403)
    assert count(api) == 0
    assert get(api, BASE, apikey("viewer@example.com", token))["objects"] == []


def test_users_see_and_change_only_their_own_jobs(api: Api) -> None:
    alice = apikey("alice@example.com", api.user("alice@example.com", ["executePlugin"]))
    bob_token = api.user("bob@example.com", ["executePlugin"])
    bob = apikey("bob@example.com", bob_token)
    manager = apikey("boss@example.com", api.user("boss@example.com", ["manageJobs"]))
    mine = api.client.post(BASE, headers=alice, params={"always_return_data": "true"}, json={"plugin": "noop"}).json()
    theirs = queued(api, token=bob_token)
    url = f"{BASE}{theirs['number']}/"
    assert [o["id"] for o in get(api, BASE, alice)["objects"]] == [mine["id"]]
    assert_error(api.client.get(url, headers=alice), 404)
    assert_error(api.client.patch(url, headers=alice, json={"state": "Cancelled"}), 404)
    assert_error(api.client.put(url, headers=alice, json={"run_level": "x"}), 404)
    assert_error(api.client.delete(url, headers=alice), 404)
    assert get(api, f"{BASE}set/{mine['id']};{theirs['number']}/", alice)["not_found"] == [str(theirs["number"])]
    assert get(api, url, bob)["state"] == "Queued"
    assert {o["id"] for o in get(api, BASE, manager)["objects"]} == {mine["id"], theirs["number"]}
    assert api.client.patch(url, headers=manager, json={"state": "Cancelled"}).status_code == 202
    assert get(api, url, bob)["state"] == "Cancelled"


# ---------------------------------------------------------------- one model, many views


def test_a_job_made_here_is_the_same_job_in_graphql(any_api: Api) -> None:
    api = any_api
    response = api.client.post(
        BASE, headers=ADMIN, params={"always_return_data": "true"}, json={"plugin": "echo", "config": {"k": "v"}}
    )
    ion = response.json()
    job_id = job_id_of(api, ion["id"])
    record = gql(api, job_id)
    assert (record["number"], record["input"], record["runLevel"]) == (ion["id"], {"k": "v"}, "default")
    finished = api.wait_for(job_id)
    assert finished["status"] == "finished"
    assert get(api, f"{BASE}{ion['id']}/")["state"] == "Completed"


def test_a_job_made_in_graphql_is_the_same_job_here(api: Api) -> None:
    job = queued(api, "jobgraph.echo", {"from": "graphql"})
    ion = get(api, f"{BASE}{job['number']}/")
    assert (ion["state"], ion["config"], ion["run_level"]) == ("Queued", {"from": "graphql"}, "default")
    api.gql("mutation($id: ID!) { cancelJob(jobId: $id) { status } }", {"id": job["jobId"]})
    assert get(api, f"{BASE}{job['number']}/")["state"] == "Cancelled"
    other = queued(api)
    assert api.client.patch(f"{BASE}{other['number']}/", headers=ADMIN, json={"state": "Cancelled"}).status_code == 202
    assert gql(api, other["jobId"])["status"] == "cancelled"


# ---------------------------------------------------------------- parsing, without the app


def test_page_links_keep_the_other_parameters_in_the_seeds_order() -> None:
    params = [("format", "json"), ("limit", "1"), ("state__in", "Queued,Started"), ("state__in", "Error")]
    previous, following = query.page_links(params, 1, 0, 15)
    assert previous is None
    assert following == f"{BASE}?offset=1&limit=1&format=json&state__in=Queued%2CStarted&state__in=Error"
    assert query.page_links(params, 1, 14, 15) == (following.replace("offset=1&", "offset=13&"), None)


def test_filters_translate_to_use_case_conditions() -> None:
    conditions = query.parse_filters(
        [("state__in", "Error,Timed Out"), ("grid_engine_jobid", "-1"), ("id__gte", "3"), ("format", "json")]
    )
    assert [(c.column, c.op, c.value) for c in conditions] == [
        ("status_detail", "in", ["failed", "timed_out"]),
        ("worker_id", "isnull", True),
        ("number", "gte", 3),
    ]
    assert query.parse_order([("order_by", "-starttime"), ("order_by", "id")]) == [
        ("started_at", True),
        ("number", False),
    ]


def test_total_count_is_exact_up_to_the_limit_then_postgresqls_estimate(any_api: Api) -> None:
    api = any_api
    numbers = [queued(api)["number"] for _ in range(5)]
    api.rt.settings.exact_count_limit = 3
    first = get(api, BASE, limit=2)
    if api.rt.db.is_sqlite:
        assert first["meta"]["total_count"] == 5
    else:
        assert first["meta"]["total_count"] >= 4
    assert first["meta"]["next"] is not None
    last = get(api, BASE, limit=2, offset=4)
    assert ([o["id"] for o in last["objects"]], last["meta"]["total_count"], last["meta"]["next"]) == (
        [min(numbers)],
        5,
        None,
    )
    assert get(api, BASE, limit=2, state="Error")["meta"]["total_count"] == 0


# ---------------------------------------------------------------- the API root


def test_the_api_root_lists_each_resource_with_its_list_and_schema_urls(api: Api) -> None:
    """tastypie's `Api.top_level`: clients discover resources at /rundb/api/v1/ (no key needed)."""
    response = api.client.get("/rundb/api/v1/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    root = response.json()
    assert root == {"PluginResultJob": {"list_endpoint": BASE, "schema": f"{BASE}schema/"}}
    # Each URL it gives answers, as a discovering client follows them.
    assert api.client.get(root["PluginResultJob"]["list_endpoint"], headers=ADMIN).status_code == 200
    schema = api.client.get(root["PluginResultJob"]["schema"], headers=ADMIN).json()
    assert "fields" in schema
    assert api.client.get("/rundb/api/v1/", params={"format": "json"}).json() == root
    assert_error(api.client.get("/rundb/api/v1/", params={"format": "xml"}), 400)
    refused = api.client.post("/rundb/api/v1/", json={})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"
